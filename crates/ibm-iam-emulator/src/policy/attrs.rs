//! String attribute comparisons shared by policy resources and rule conditions:
//! `stringEquals`, `stringMatch` (wildcards), `stringExists`, and their `AnyOf` forms.

use std::collections::BTreeMap;

use serde_json::Value;

use super::model::{StringOp, StringValue};

/// Attributes of a request's subject, resource or environment: name → value.
pub type Attrs = BTreeMap<String, String>;

/// The longest attribute value a policy may hold (IAM's documented limit).
pub const MAX_VALUE_LEN: usize = 1000;
/// The most values an `AnyOf` operator takes (IAM's documented limit).
pub const MAX_ANY_OF: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Char(char),
    Star,
    One,
}

fn tokens(pattern: &str) -> Vec<Token> {
    let mut out = Vec::with_capacity(pattern.len());
    let mut rest = pattern;
    while let Some(c) = rest.chars().next() {
        if let Some(r) = rest.strip_prefix("{{*}}") {
            out.push(Token::Char('*'));
            rest = r;
        } else if let Some(r) = rest.strip_prefix("{{?}}") {
            out.push(Token::Char('?'));
            rest = r;
        } else {
            out.push(match c {
                '*' => Token::Star,
                '?' => Token::One,
                c => Token::Char(c),
            });
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

/// IAM's `stringMatch`: `*` matches any run of characters (also none), `?` exactly one;
/// `{{*}}` and `{{?}}` stand for a literal `*` and `?`. Case-sensitive; linear in practice
/// (greedy with single-star backtracking, no exponential blow-up), and allocation-free for
/// ASCII values without escapes, the common case.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    if !pattern.contains(['*', '?']) {
        return pattern == text;
    }
    if pattern.contains("{{") {
        let p = tokens(pattern);
        let t: Vec<Token> = text.chars().map(Token::Char).collect();
        return wildcard(&p, &t, |x| x == Token::Star, |x| x == Token::One);
    }
    if pattern.is_ascii() && text.is_ascii() {
        return wildcard(
            pattern.as_bytes(),
            text.as_bytes(),
            |b| b == b'*',
            |b| b == b'?',
        );
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    wildcard(&p, &t, |c| c == '*', |c| c == '?')
}

/// The matcher behind [`glob_match`], over any alphabet.
fn wildcard<T: Copy + PartialEq>(
    p: &[T],
    t: &[T],
    is_star: impl Fn(T) -> bool,
    is_one: impl Fn(T) -> bool,
) -> bool {
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi).copied() {
            Some(x) if is_star(x) => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(x) if is_one(x) || x == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|x| is_star(*x))
}

/// Whether `actual` (the request's value, `None` when absent) satisfies `op value`.
pub fn string_test(op: StringOp, value: &StringValue, actual: Option<&str>) -> bool {
    match (op, value) {
        (StringOp::StringExists, StringValue::Exists(want)) => actual.is_some() == *want,
        (StringOp::StringEquals, StringValue::One(v)) => actual == Some(v.as_str()),
        (StringOp::StringMatch, StringValue::One(p)) => actual.is_some_and(|a| glob_match(p, a)),
        (StringOp::StringEqualsAnyOf, StringValue::Many(vs)) => {
            actual.is_some_and(|a| vs.iter().any(|v| v == a))
        }
        (StringOp::StringMatchAnyOf, StringValue::Many(ps)) => {
            actual.is_some_and(|a| ps.iter().any(|p| glob_match(p, a)))
        }
        // Parsing never pairs an operator with the wrong kind of value; fail closed if it did.
        _ => false,
    }
}

fn checked(s: &str) -> Result<String, String> {
    if s.len() > MAX_VALUE_LEN {
        Err(format!(
            "attribute values must be at most {MAX_VALUE_LEN} characters"
        ))
    } else {
        Ok(s.to_owned())
    }
}

/// Validates the JSON operand of a string operator. Numbers and booleans are compared as
/// strings, as IAM documents for `stringEquals`.
pub fn parse_string_value(op: StringOp, value: &Value) -> Result<StringValue, String> {
    let scalar = |v: &Value| -> Result<String, String> {
        match v {
            Value::String(s) => checked(s),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            _ => Err(format!(
                "the value of '{}' must be a string, not {v}",
                op.as_str()
            )),
        }
    };
    match op {
        StringOp::StringExists => match value {
            Value::Bool(b) => Ok(StringValue::Exists(*b)),
            Value::String(s) if s == "true" || s == "false" => Ok(StringValue::Exists(s == "true")),
            _ => Err("the value of 'stringExists' must be true or false".into()),
        },
        StringOp::StringEquals | StringOp::StringMatch => scalar(value).map(StringValue::One),
        StringOp::StringEqualsAnyOf | StringOp::StringMatchAnyOf => {
            let Value::Array(items) = value else {
                return Err(format!(
                    "the value of '{}' must be an array of strings",
                    op.as_str()
                ));
            };
            if items.is_empty() || items.len() > MAX_ANY_OF {
                return Err(format!("'{}' takes 1 to {MAX_ANY_OF} values", op.as_str()));
            }
            items
                .iter()
                .map(scalar)
                .collect::<Result<Vec<_>, _>>()
                .map(StringValue::Many)
        }
    }
}

/// The JSON form of an operand.
pub fn string_value_json(value: &StringValue) -> Value {
    match value {
        StringValue::One(s) => Value::String(s.clone()),
        StringValue::Many(v) => Value::from(v.clone()),
        StringValue::Exists(b) => Value::Bool(*b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(glob_match("books-*", "books-prod"));
        assert!(glob_match("books-*", "books-"));
        assert!(!glob_match("books-*", "book"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("a?c", "ac"));
        assert!(glob_match("*.log", "x.y.log"));
        assert!(glob_match(
            "temporary/test*spatial.?.log",
            "temporary/test_spatial.1.log"
        ));
        assert!(glob_match("a*b*c", "aXXbYYc"));
        assert!(!glob_match("a*b*c", "aXXbYY"));
        assert!(glob_match("literal{{*}}", "literal*"));
        assert!(!glob_match("literal{{*}}", "literalX"));
        assert!(glob_match("q{{?}}", "q?"));
        assert!(!glob_match("q{{?}}", "qx"));
        assert!(glob_match("exact", "exact"));
        assert!(!glob_match("exact", "Exact"));
        assert!(glob_match("é*", "éa"));
        // Many stars over a long text stay fast.
        let text = "a".repeat(5000);
        assert!(!glob_match("*a*a*a*a*a*b", &text));
    }

    #[test]
    fn operators() {
        let one = |s: &str| StringValue::One(s.into());
        assert!(string_test(StringOp::StringEquals, &one("x"), Some("x")));
        assert!(!string_test(StringOp::StringEquals, &one("x"), None));
        assert!(string_test(StringOp::StringMatch, &one("x*"), Some("xy")));
        assert!(string_test(
            StringOp::StringExists,
            &StringValue::Exists(false),
            None
        ));
        assert!(!string_test(
            StringOp::StringExists,
            &StringValue::Exists(true),
            None
        ));
        let many = StringValue::Many(vec!["a".into(), "b*".into()]);
        assert!(string_test(StringOp::StringMatchAnyOf, &many, Some("bc")));
        assert!(!string_test(StringOp::StringEqualsAnyOf, &many, Some("bc")));
        // A mismatched operand fails closed.
        assert!(!string_test(StringOp::StringEquals, &many, Some("a")));
    }

    #[test]
    fn operands_are_validated() {
        assert_eq!(
            parse_string_value(StringOp::StringEquals, &Value::from(5)),
            Ok(StringValue::One("5".into()))
        );
        assert!(parse_string_value(StringOp::StringEquals, &serde_json::json!({})).is_err());
        assert!(parse_string_value(StringOp::StringEqualsAnyOf, &Value::from("x")).is_err());
        assert!(parse_string_value(StringOp::StringEqualsAnyOf, &serde_json::json!([])).is_err());
        assert!(parse_string_value(StringOp::StringExists, &Value::from("maybe")).is_err());
        assert!(
            parse_string_value(StringOp::StringEquals, &Value::from("x".repeat(1001))).is_err()
        );
    }
}
