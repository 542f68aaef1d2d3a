//! Calendar formatting of Unix times, in the formats IAM puts on the wire.

/// Splits Unix seconds into (year, month, day, hour, minute, second), UTC.
fn civil(unix: i64) -> (i64, u32, u32, u32, u32, u32) {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Days to civil date (proleptic Gregorian), after H. Hinnant's public-domain algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let as_u32 = |v: i64| u32::try_from(v).unwrap_or(0);
    (
        year,
        as_u32(month),
        as_u32(day),
        as_u32(secs / 3600),
        as_u32(secs % 3600 / 60),
        as_u32(secs % 60),
    )
}

/// `2024-09-25T21:59:24.123Z`: the timestamp format of IAM's management APIs.
pub fn rfc3339_ms(unix_ms: i64) -> String {
    let (y, mo, d, h, mi, s) = civil(unix_ms.div_euclid(1000));
    let ms = unix_ms.rem_euclid(1000);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}Z")
}

/// `15.03.2017 22:50:39:925 UTC`: the timestamp format of the token endpoint's error context.
pub fn context_time(unix_ms: i64) -> String {
    let (y, mo, d, h, mi, s) = civil(unix_ms.div_euclid(1000));
    let ms = unix_ms.rem_euclid(1000);
    format!("{d:02}.{mo:02}.{y:04} {h:02}:{mi:02}:{s:02}:{ms:03} UTC")
}

/// `202409020842`: the `YYYYMMDDhhmm` key-id format of IAM's signing keys.
pub fn key_id(unix: i64) -> String {
    let (y, mo, d, h, mi, _) = civil(unix);
    format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        // 2024-09-25T21:59:24Z
        assert_eq!(rfc3339_ms(1_727_301_564_123), "2024-09-25T21:59:24.123Z");
        assert_eq!(
            context_time(1_489_618_239_925),
            "15.03.2017 22:50:39:925 UTC"
        );
        assert_eq!(key_id(1_725_266_520), "202409020842");
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        // Leap day and a pre-epoch instant.
        assert_eq!(rfc3339_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339_ms(-1000), "1969-12-31T23:59:59.000Z");
    }
}
