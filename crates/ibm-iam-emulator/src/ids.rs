//! Random identifiers in the formats IAM uses, and digests of secrets.

use aws_lc_rs::digest;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};

/// `len` random bytes from the system's secure generator.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    // SystemRandom only fails when the OS has no entropy source at all; a zero-filled
    // buffer is then still returned rather than a panic, and ids may repeat.
    let _ = SystemRandom::new().fill(&mut out);
    out
}

thread_local! {
    /// A fast generator for identifiers that must be unique but need not be secret (token
    /// `jti`s, object ids, transaction ids), seeded from the OS's secure generator. Secrets
    /// (API-key values) never come from it.
    static FAST: std::cell::Cell<(u64, u64)> = std::cell::Cell::new({
        let seed = random_bytes::<16>();
        let (a, b) = seed.split_at(8);
        let s0 = u64::from_le_bytes(a.try_into().unwrap_or([1; 8]));
        let s1 = u64::from_le_bytes(b.try_into().unwrap_or([2; 8]));
        (s0 | 1, s1)
    });
}

/// xorshift128+ step over the thread-local state.
fn fast_u64() -> u64 {
    FAST.with(|cell| {
        let (mut s1, s0) = cell.get();
        let result = s0.wrapping_add(s1);
        s1 ^= s1 << 23;
        let next = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
        cell.set((s0, next));
        result
    })
}

/// 16 bytes from the fast generator.
fn fast_bytes16() -> [u8; 16] {
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&fast_u64().to_le_bytes());
    out[8..].copy_from_slice(&fast_u64().to_le_bytes());
    out
}

/// A random version-4 UUID, lower-case and hyphenated (unique, not secret).
pub fn uuid() -> String {
    let mut b = fast_bytes16();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// A random lower-case hex string of 32 characters (unique, not secret).
pub fn random_hex32() -> String {
    hex(&fast_bytes16())
}

/// A fresh API-key value: 44 characters of base64url, like IAM's.
pub fn apikey_value() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<33>())
}

/// Lower-case hex of a byte string.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

/// The hex SHA-256 digest of a secret: what the emulator stores instead of API keys and
/// passwords, so that a state file does not hold them in the clear.
pub fn secret_digest(secret: &str) -> String {
    hex(digest::digest(&digest::SHA256, secret.as_bytes()).as_ref())
}

/// A uniformly random number in `[0, 1)`.
pub fn random_unit() -> f64 {
    let v = fast_u64() >> 11;
    // 53 random bits, exactly representable.
    #[allow(clippy::cast_precision_loss)]
    let f = v as f64 / (1u64 << 53) as f64;
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_has_version_and_variant() {
        let u = uuid();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"));
        assert_ne!(uuid(), u);
    }

    #[test]
    fn apikey_values_are_long_and_distinct() {
        let a = apikey_value();
        assert_eq!(a.len(), 44);
        assert_ne!(a, apikey_value());
    }

    #[test]
    fn digest_is_stable_hex() {
        assert_eq!(
            secret_digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn unit_is_in_range() {
        for _ in 0..1000 {
            let f = random_unit();
            assert!((0.0..1.0).contains(&f));
        }
    }
}
