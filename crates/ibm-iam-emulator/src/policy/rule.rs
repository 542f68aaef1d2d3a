//! The `rule` of v2 access policies: time-based conditions on the environment (time of day,
//! date and time, day of week) and string conditions on resource or environment attributes,
//! combined with `and` / `or` (wire reference §5.5; IBM's "IAM condition properties").
//!
//! Times carry their own UTC offset (`"09:00:00-05:00"`, `"2023-01-06T17:59:59+00:00"`,
//! `"3+06:00"`); the current time is the emulator's clock, so tests move it with the control
//! API instead of sleeping. Days of the week are ISO: 1 is Monday, 7 is Sunday.

use serde_json::{Map, Value, json};

use super::attrs::{self, Attrs};
use super::model::{StringOp, StringValue};

/// Most conditions in one rule, and deepest nesting of `and`/`or` groups.
pub const MAX_CONDITIONS: usize = 20;
/// Deepest nesting of condition groups.
pub const MAX_DEPTH: usize = 3;

/// A comparison of the current time with a threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    /// `…LessThan`.
    Lt,
    /// `…LessThanOrEquals`.
    Le,
    /// `…GreaterThan`.
    Gt,
    /// `…GreaterThanOrEquals`.
    Ge,
}

impl Cmp {
    fn holds(self, current: i64, threshold: i64) -> bool {
        match self {
            Cmp::Lt => current < threshold,
            Cmp::Le => current <= threshold,
            Cmp::Gt => current > threshold,
            Cmp::Ge => current >= threshold,
        }
    }

    /// The first value at or after which `holds` changes when counting up from below the
    /// threshold (Ge/Lt flip at the threshold, Le/Gt one unit later).
    fn flip(self, threshold: i64) -> i64 {
        match self {
            Cmp::Ge | Cmp::Lt => threshold,
            Cmp::Le | Cmp::Gt => threshold + 1,
        }
    }

    fn parse_suffix(op: &str, prefix: &str) -> Option<Self> {
        Some(match op.strip_prefix(prefix)? {
            "LessThan" => Cmp::Lt,
            "LessThanOrEquals" => Cmp::Le,
            "GreaterThan" => Cmp::Gt,
            "GreaterThanOrEquals" => Cmp::Ge,
            _ => return None,
        })
    }
}

/// What a condition tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Test {
    /// `current_time` against a time of day in the value's offset (seconds since midnight).
    Time {
        /// Comparison.
        cmp: Cmp,
        /// Threshold, seconds since local midnight.
        seconds: i64,
        /// UTC offset of the threshold, seconds.
        offset: i64,
    },
    /// `current_date` against a date in the value's offset (days since the epoch).
    Date {
        /// Comparison.
        cmp: Cmp,
        /// Threshold, days since 1970-01-01.
        day: i64,
        /// UTC offset, seconds.
        offset: i64,
    },
    /// `current_date_time` against an instant (Unix seconds).
    DateTime {
        /// Comparison.
        cmp: Cmp,
        /// Threshold, Unix seconds.
        at: i64,
    },
    /// `day_of_week` is one of these ISO days (1 = Monday), each in its own offset.
    DayOfWeek {
        /// (day, UTC offset in seconds).
        days: Vec<(i64, i64)>,
    },
    /// A string comparison of a resource or environment attribute.
    Str {
        /// `true` for `resource.attributes.*`, `false` for `environment.attributes.*`.
        resource: bool,
        /// Attribute name.
        name: String,
        /// Operator.
        op: StringOp,
        /// Operand.
        value: StringValue,
    },
}

/// A rule: one condition or a group of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// `{"key", "operator", "value"}`.
    Condition {
        /// The key as written (`{{environment.attributes.current_time}}`).
        key: String,
        /// The operator as written.
        operator: String,
        /// The value as written.
        value: Value,
        /// The parsed test.
        test: Test,
    },
    /// `{"operator": "and", "conditions": [...]}`.
    All(Vec<Rule>),
    /// `{"operator": "or", "conditions": [...]}`.
    Any(Vec<Rule>),
}

/// What a rule is evaluated against.
#[derive(Debug, Clone, Copy)]
pub struct Env<'a> {
    /// The current time, Unix seconds (the emulator clock).
    pub now: i64,
    /// The request's resource attributes.
    pub resource: &'a Attrs,
    /// The request's environment attributes.
    pub environment: &'a Attrs,
}

impl Rule {
    /// Whether the rule holds.
    pub fn holds(&self, env: &Env<'_>) -> bool {
        match self {
            Rule::All(rules) => rules.iter().all(|r| r.holds(env)),
            Rule::Any(rules) => rules.iter().any(|r| r.holds(env)),
            Rule::Condition { test, .. } => test.holds(env),
        }
    }

    /// Seconds from `now` until the earliest instant at which a time condition of the rule may
    /// change its verdict; `None` when the rule does not depend on time. Bounds how long a
    /// permit that relies on the rule may be cached.
    pub fn seconds_until_change(&self, now: i64) -> Option<i64> {
        match self {
            Rule::All(rules) | Rule::Any(rules) => rules
                .iter()
                .filter_map(|r| r.seconds_until_change(now))
                .min(),
            Rule::Condition { test, .. } => test.seconds_until_change(now),
        }
    }

    /// The JSON of the rule, as it was written.
    pub fn to_json(&self) -> Value {
        match self {
            Rule::Condition {
                key,
                operator,
                value,
                ..
            } => json!({ "key": key, "operator": operator, "value": value }),
            Rule::All(rules) => json!({
                "operator": "and",
                "conditions": rules.iter().map(Rule::to_json).collect::<Vec<_>>(),
            }),
            Rule::Any(rules) => json!({
                "operator": "or",
                "conditions": rules.iter().map(Rule::to_json).collect::<Vec<_>>(),
            }),
        }
    }

    /// Parses and validates a rule.
    pub fn parse(value: &Value) -> Result<Self, String> {
        let mut count = 0;
        parse_rule(value, 1, &mut count)
    }
}

impl serde::Serialize for Rule {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for Rule {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        Rule::parse(&v).map_err(serde::de::Error::custom)
    }
}

const DAY: i64 = 86_400;

/// Seconds until the next local midnight in `offset`.
fn until_midnight(now: i64, offset: i64) -> i64 {
    DAY - (now + offset).rem_euclid(DAY)
}

impl Test {
    fn holds(&self, env: &Env<'_>) -> bool {
        let now = env.now;
        match self {
            Test::Time {
                cmp,
                seconds,
                offset,
            } => cmp.holds((now + offset).rem_euclid(DAY), *seconds),
            Test::Date { cmp, day, offset } => cmp.holds((now + offset).div_euclid(DAY), *day),
            Test::DateTime { cmp, at } => cmp.holds(now, *at),
            Test::DayOfWeek { days } => days
                .iter()
                .any(|(d, off)| weekday((now + off).div_euclid(DAY)) == *d),
            Test::Str {
                resource,
                name,
                op,
                value,
            } => {
                let attrs = if *resource {
                    env.resource
                } else {
                    env.environment
                };
                attrs::string_test(*op, value, attrs.get(name).map(String::as_str))
            }
        }
    }

    fn seconds_until_change(&self, now: i64) -> Option<i64> {
        match self {
            Test::Time {
                cmp,
                seconds,
                offset,
            } => {
                let local = (now + offset).rem_euclid(DAY);
                let to_flip = (cmp.flip(*seconds) - local).rem_euclid(DAY);
                let to_flip = if to_flip == 0 { DAY } else { to_flip };
                Some(to_flip.min(until_midnight(now, *offset)))
            }
            Test::Date { offset, .. } => Some(until_midnight(now, *offset)),
            Test::DayOfWeek { days } => days.iter().map(|(_, off)| until_midnight(now, *off)).min(),
            Test::DateTime { cmp, at } => {
                let flip = cmp.flip(*at);
                (flip > now).then_some(flip - now)
            }
            Test::Str { .. } => None,
        }
    }
}

/// ISO day of the week (1 = Monday … 7 = Sunday) of a day count since 1970-01-01 (a Thursday).
pub fn weekday(days: i64) -> i64 {
    (days + 3).rem_euclid(7) + 1
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's public-domain algorithm).
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn digits(s: &str, min: usize, max: usize) -> Option<i64> {
    if s.len() < min || s.len() > max || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Splits a trailing UTC offset (`+05:30`, `-5:00`, `Z`) off `s`; without one, UTC. `None`
/// for an offset out of range.
fn split_offset(s: &str) -> Option<(&str, i64)> {
    if let Some(body) = s.strip_suffix('Z').or_else(|| s.strip_suffix('z')) {
        return Some((body, 0));
    }
    let Some(pos) = s.rfind(['+', '-']) else {
        return Some((s, 0));
    };
    let (body, off) = s.split_at(pos);
    // Only `±H:MM` / `±HH:MM` is an offset; a '-' inside a date (2023-01-05) is not.
    let Some((h, m)) = off[1..].split_once(':') else {
        return Some((s, 0));
    };
    let (Some(h), Some(m)) = (digits(h, 1, 2), digits(m, 2, 2)) else {
        return Some((s, 0));
    };
    if h > 14 || m > 59 {
        return None;
    }
    let sign = if off.starts_with('-') { -1 } else { 1 };
    Some((body, sign * (h * 3600 + m * 60)))
}

/// `HH:MM[:SS]` → seconds since midnight.
fn time_of_day(s: &str) -> Option<i64> {
    let mut parts = s.split(':');
    let h = digits(parts.next()?, 1, 2)?;
    let m = digits(parts.next()?, 2, 2)?;
    let sec = match parts.next() {
        Some(p) => digits(p.split('.').next().unwrap_or(p), 2, 2)?,
        None => 0,
    };
    if parts.next().is_some() || h > 23 || m > 59 || sec > 59 {
        return None;
    }
    Some(h * 3600 + m * 60 + sec)
}

/// `YYYY-MM-DD` → days since the epoch.
fn date(s: &str) -> Option<i64> {
    let mut parts = s.split('-');
    let y = digits(parts.next()?, 4, 4)?;
    let m = digits(parts.next()?, 2, 2)?;
    let d = digits(parts.next()?, 2, 2)?;
    if parts.next().is_some() || !(1..=12).contains(&m) || d < 1 {
        return None;
    }
    let days_in_month =
        days_from_civil(if m == 12 { y + 1 } else { y }, m % 12 + 1, 1) - days_from_civil(y, m, 1);
    (d <= days_in_month).then(|| days_from_civil(y, m, d))
}

/// An RFC 3339 date-time (`2023-01-06T17:59:59+00:00`, `…Z`, fractional seconds ignored)
/// → Unix seconds.
pub fn parse_date_time(s: &str) -> Option<i64> {
    let (body, offset) = split_offset(s)?;
    let (d, t) = body.split_once(['T', 't', ' '])?;
    Some(date(d)? * DAY + time_of_day(t)? - offset)
}

fn value_str<'a>(value: &'a Value, op: &str) -> Result<&'a str, String> {
    value
        .as_str()
        .ok_or_else(|| format!("the value of '{op}' must be a string"))
}

fn day_of_week(v: &Value) -> Option<(i64, i64)> {
    let (day, offset) = match v {
        Value::Number(n) => (n.as_i64()?, 0),
        Value::String(s) => {
            let (d, off) = split_offset(s)?;
            (digits(d, 1, 1)?, off)
        }
        _ => return None,
    };
    (1..=7).contains(&day).then_some((day, offset))
}

fn parse_condition(obj: &Map<String, Value>) -> Result<Rule, String> {
    for k in obj.keys() {
        if !matches!(k.as_str(), "key" | "operator" | "value") {
            return Err(format!("a rule condition has no field '{k}'"));
        }
    }
    let key = obj
        .get("key")
        .and_then(Value::as_str)
        .ok_or("a rule condition needs a string 'key'")?;
    let operator = obj
        .get("operator")
        .and_then(Value::as_str)
        .ok_or("a rule condition needs a string 'operator'")?;
    let value = obj.get("value").ok_or("a rule condition needs a 'value'")?;
    let inner = key
        .strip_prefix("{{")
        .and_then(|k| k.strip_suffix("}}"))
        .unwrap_or(key);
    let bad_op = || format!("operator '{operator}' cannot be used with key '{key}'");
    let test = if let Some(name) = inner.strip_prefix("environment.attributes.") {
        match name {
            "current_time" => {
                let cmp = Cmp::parse_suffix(operator, "time").ok_or_else(bad_op)?;
                let s = value_str(value, operator)?;
                let (t, offset) =
                    split_offset(s).ok_or_else(|| format!("'{s}' has no valid UTC offset"))?;
                let seconds = time_of_day(t)
                    .ok_or_else(|| format!("'{s}' is not a time such as 09:00:00+00:00"))?;
                Test::Time {
                    cmp,
                    seconds,
                    offset,
                }
            }
            "current_date_time" => {
                let cmp = Cmp::parse_suffix(operator, "dateTime").ok_or_else(bad_op)?;
                let s = value_str(value, operator)?;
                let at = parse_date_time(s).ok_or_else(|| {
                    format!("'{s}' is not a date and time such as 2023-01-01T09:00:00+00:00")
                })?;
                Test::DateTime { cmp, at }
            }
            "current_date" => {
                let cmp = Cmp::parse_suffix(operator, "date").ok_or_else(bad_op)?;
                let s = value_str(value, operator)?;
                let (d, offset) =
                    split_offset(s).ok_or_else(|| format!("'{s}' has no valid UTC offset"))?;
                let day =
                    date(d).ok_or_else(|| format!("'{s}' is not a date such as 2023-01-01"))?;
                Test::Date { cmp, day, offset }
            }
            "day_of_week" => {
                let values: Vec<&Value> = match (operator, value) {
                    ("dayOfWeekEquals", v) if !v.is_array() => vec![v],
                    ("dayOfWeekAnyOf", Value::Array(items)) if !items.is_empty() => {
                        items.iter().collect()
                    }
                    ("dayOfWeekEquals" | "dayOfWeekAnyOf", _) => {
                        return Err(format!(
                            "'{operator}' takes {}",
                            if operator == "dayOfWeekEquals" {
                                "one day"
                            } else {
                                "a non-empty array of days"
                            }
                        ));
                    }
                    _ => return Err(bad_op()),
                };
                let days = values
                    .into_iter()
                    .map(|v| {
                        day_of_week(v).ok_or_else(|| {
                            format!("{v} is not a day of the week (1-7, optionally with an offset such as \"1+00:00\")")
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Test::DayOfWeek { days }
            }
            other => string_test(false, other, operator, value)?,
        }
    } else if let Some(name) = inner.strip_prefix("resource.attributes.") {
        string_test(true, name, operator, value)?
    } else {
        return Err(format!(
            "rule key '{key}' must be {{{{environment.attributes.<name>}}}} or {{{{resource.attributes.<name>}}}}"
        ));
    };
    Ok(Rule::Condition {
        key: key.to_owned(),
        operator: operator.to_owned(),
        value: value.clone(),
        test,
    })
}

fn string_test(resource: bool, name: &str, operator: &str, value: &Value) -> Result<Test, String> {
    if name.is_empty() {
        return Err("a rule key names no attribute".into());
    }
    let op = StringOp::parse(operator)
        .ok_or_else(|| format!("operator '{operator}' is not supported in rule conditions"))?;
    Ok(Test::Str {
        resource,
        name: name.to_owned(),
        op,
        value: attrs::parse_string_value(op, value)?,
    })
}

fn parse_rule(value: &Value, depth: usize, count: &mut usize) -> Result<Rule, String> {
    let obj = value
        .as_object()
        .ok_or("a rule must be an object with key/operator/value or operator/conditions")?;
    let Some(conditions) = obj.get("conditions") else {
        *count += 1;
        if *count > MAX_CONDITIONS {
            return Err(format!("a rule has at most {MAX_CONDITIONS} conditions"));
        }
        return parse_condition(obj);
    };
    if depth > MAX_DEPTH {
        return Err(format!(
            "rule conditions nest at most {MAX_DEPTH} levels deep"
        ));
    }
    for k in obj.keys() {
        if !matches!(k.as_str(), "operator" | "conditions") {
            return Err(format!("a rule has no field '{k}'"));
        }
    }
    let items = conditions
        .as_array()
        .filter(|a| !a.is_empty())
        .ok_or("a rule's 'conditions' must be a non-empty array")?;
    let rules = items
        .iter()
        .map(|c| parse_rule(c, depth + 1, count))
        .collect::<Result<Vec<_>, _>>()?;
    match obj.get("operator").and_then(Value::as_str) {
        Some("and") => Ok(Rule::All(rules)),
        Some("or") => Ok(Rule::Any(rules)),
        _ => Err("a rule's 'operator' must be \"and\" or \"or\"".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(now: i64) -> (Attrs, Attrs, i64) {
        (Attrs::new(), Attrs::new(), now)
    }

    fn holds(rule: &Rule, now: i64) -> bool {
        let (r, e, now) = env(now);
        rule.holds(&Env {
            now,
            resource: &r,
            environment: &e,
        })
    }

    // 2023-01-02T00:00:00Z, a Monday.
    const MONDAY: i64 = 1_672_617_600;

    #[test]
    fn calendar() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(weekday(0), 4, "1970-01-01 was a Thursday");
        assert_eq!(weekday(MONDAY / DAY), 1);
        assert_eq!(parse_date_time("2023-01-02T00:00:00+00:00"), Some(MONDAY));
        assert_eq!(parse_date_time("2023-01-01T19:00:00-05:00"), Some(MONDAY));
        assert_eq!(parse_date_time("2023-01-02T00:00:00.250Z"), Some(MONDAY));
        assert!(parse_date_time("2023-02-30T00:00:00Z").is_none());
        assert!(parse_date_time("2023-01-02").is_none());
        assert!(parse_date_time("2023-01-02T25:00:00Z").is_none());
        assert!(parse_date_time("2023-01-02T00:00:00+15:00").is_none());
    }

    #[test]
    fn business_hours_in_new_york() {
        let rule = Rule::parse(&json!({"operator": "and", "conditions": [
            {"key": "{{environment.attributes.day_of_week}}", "operator": "dayOfWeekAnyOf",
             "value": ["1-05:00", "2-05:00", "3-05:00", "4-05:00", "5-05:00"]},
            {"key": "{{environment.attributes.current_time}}", "operator": "timeGreaterThanOrEquals",
             "value": "09:00:00-05:00"},
            {"key": "{{environment.attributes.current_time}}", "operator": "timeLessThanOrEquals",
             "value": "17:00:00-05:00"}]}))
        .expect("rule");
        // Monday 00:00Z is Sunday 19:00 in New York.
        assert!(!holds(&rule, MONDAY));
        let nine_ny = MONDAY + 14 * 3600; // Monday 14:00Z = 09:00 -05:00
        assert!(holds(&rule, nine_ny));
        assert!(!holds(&rule, nine_ny - 1));
        assert!(holds(&rule, nine_ny + 8 * 3600), "17:00:00 inclusive");
        assert!(!holds(&rule, nine_ny + 8 * 3600 + 1));
        // Saturday.
        assert!(!holds(&rule, nine_ny + 5 * DAY));
        // At 16:59:00 the verdict changes 61 s later (at 17:00:01).
        assert_eq!(rule.seconds_until_change(nine_ny + 8 * 3600 - 60), Some(61));
        assert_eq!(rule.to_json()["conditions"][1]["value"], "09:00:00-05:00");
    }

    #[test]
    fn once_window_and_numeric_days() {
        let rule = Rule::parse(&json!({"operator": "and", "conditions": [
            {"key": "{{environment.attributes.current_date_time}}", "operator": "dateTimeGreaterThanOrEquals",
             "value": "2023-01-02T00:00:00+00:00"},
            {"key": "{{environment.attributes.current_date_time}}", "operator": "dateTimeLessThan",
             "value": "2023-01-03T00:00:00Z"}]}))
        .expect("rule");
        assert!(holds(&rule, MONDAY));
        assert!(!holds(&rule, MONDAY - 1));
        assert!(!holds(&rule, MONDAY + DAY));
        assert_eq!(rule.seconds_until_change(MONDAY), Some(DAY));
        assert_eq!(rule.seconds_until_change(MONDAY + 2 * DAY), None);

        let days = Rule::parse(&json!({"key": "{{environment.attributes.day_of_week}}",
            "operator": "dayOfWeekAnyOf", "value": [1, 2]}))
        .expect("rule");
        assert!(holds(&days, MONDAY));
        assert!(holds(&days, MONDAY + DAY));
        assert!(!holds(&days, MONDAY + 2 * DAY));
        let wed = Rule::parse(&json!({"key": "{{environment.attributes.day_of_week}}",
            "operator": "dayOfWeekEquals", "value": "3+06:00"}))
        .expect("rule");
        // Tuesday 18:00Z is Wednesday 00:00 at +06:00.
        assert!(holds(&wed, MONDAY + DAY + 18 * 3600));
        assert!(!holds(&wed, MONDAY + DAY + 18 * 3600 - 1));
    }

    #[test]
    fn resource_and_environment_string_conditions() {
        let rule = Rule::parse(&json!({"operator": "or", "conditions": [
            {"key": "{{resource.attributes.path}}", "operator": "stringMatchAnyOf",
             "value": ["home/David/*", "special/*"]},
            {"operator": "and", "conditions": [
                {"key": "{{resource.attributes.prefix}}", "operator": "stringExists", "value": true},
                {"key": "{{environment.attributes.networkZone}}", "operator": "stringEquals", "value": "office"}]}]}))
        .expect("rule");
        let mut resource = Attrs::new();
        let mut environment = Attrs::new();
        let check = |r: &Attrs, e: &Attrs| {
            rule.holds(&Env {
                now: 0,
                resource: r,
                environment: e,
            })
        };
        assert!(!check(&resource, &environment));
        resource.insert("path".into(), "home/David/x".into());
        assert!(check(&resource, &environment));
        resource.clear();
        resource.insert("prefix".into(), String::new());
        assert!(!check(&resource, &environment));
        environment.insert("networkZone".into(), "office".into());
        assert!(check(&resource, &environment));
        assert_eq!(rule.seconds_until_change(0), None);
    }

    #[test]
    fn invalid_rules_are_refused() {
        for bad in [
            json!("x"),
            json!({"key": "current_time", "operator": "timeLessThan", "value": "09:00:00"}),
            json!({"key": "{{environment.attributes.current_time}}", "operator": "dateTimeLessThan", "value": "09:00:00"}),
            json!({"key": "{{environment.attributes.current_time}}", "operator": "timeLessThan", "value": "25:00:00Z"}),
            json!({"key": "{{environment.attributes.current_time}}", "operator": "timeLessThan", "value": 9}),
            json!({"key": "{{environment.attributes.day_of_week}}", "operator": "dayOfWeekAnyOf", "value": [8]}),
            json!({"key": "{{environment.attributes.day_of_week}}", "operator": "dayOfWeekEquals", "value": [1]}),
            json!({"key": "{{resource.attributes.path}}", "operator": "regexMatch", "value": "x"}),
            json!({"key": "{{resource.attributes.path}}", "operator": "stringEquals", "value": "x", "extra": 1}),
            json!({"operator": "xor", "conditions": [{"key": "{{resource.attributes.a}}", "operator": "stringEquals", "value": "x"}]}),
            json!({"operator": "and", "conditions": []}),
            json!({"operator": "and", "conditions": [{"operator": "and", "conditions": [{"operator": "and", "conditions": [
                {"operator": "and", "conditions": [{"key": "{{resource.attributes.a}}", "operator": "stringEquals", "value": "x"}]}]}]}]}),
        ] {
            assert!(Rule::parse(&bad).is_err(), "{bad}");
        }
        let many: Vec<Value> = (0..=MAX_CONDITIONS)
            .map(|i| json!({"key": format!("{{{{resource.attributes.a{i}}}}}"), "operator": "stringEquals", "value": "x"}))
            .collect();
        assert!(Rule::parse(&json!({"operator": "and", "conditions": many})).is_err());
    }

    #[test]
    fn serde_round_trip() {
        let v = json!({"key": "{{environment.attributes.current_time}}", "operator": "timeLessThan", "value": "09:00:00+01:00"});
        let rule: Rule = serde_json::from_value(v.clone()).expect("deserialize");
        assert_eq!(serde_json::to_value(&rule).expect("serialize"), v);
    }
}
