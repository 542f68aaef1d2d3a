//! Strict JSON for token headers and claims: an object at the top, and no member name twice
//! in any object at any depth (RFC 7515 §5.2 lets a verifier refuse duplicates; two parsers
//! that keep different copies of `alg` or `exp` are an attack, not an ambiguity).
//!
//! serde_json alone keeps the last copy of a duplicate member silently, so documents are
//! read here through visitors that refuse them. serde_json's recursion limit (128) bounds
//! depth.
//!
//! Two readers:
//! * [`parse_object`] builds a `serde_json` map (key sets, where speed does not matter);
//! * [`parse_borrowed`] builds a light tree of [`Any`] whose strings borrow from the input
//!   when they hold no escapes: no allocation per string, for the per-token hot path.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Why a segment is not acceptable JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JsonProblem {
    /// Not JSON at all (or not UTF-8, or trailing bytes, or too deep).
    Syntax,
    /// JSON, but not an object.
    NotObject,
    /// An object names a member twice.
    Duplicate,
}

const DUPLICATE: &str = "\u{0}duplicate member";

fn problem(e: &serde_json::Error) -> JsonProblem {
    if e.to_string().starts_with(DUPLICATE) {
        JsonProblem::Duplicate
    } else {
        JsonProblem::Syntax
    }
}

/// Parses `bytes` as one JSON object, refusing duplicate member names at every depth.
pub(crate) fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, JsonProblem> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = Strict.deserialize(&mut de).map_err(|e| problem(&e))?;
    if de.end().is_err() {
        return Err(JsonProblem::Syntax);
    }
    match value {
        Value::Object(m) => Ok(m),
        _ => Err(JsonProblem::NotObject),
    }
}

/// Builds a [`Value`], refusing duplicate member names.
struct Strict;

impl<'de> DeserializeSeed<'de> for Strict {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("not a finite number"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(item) = seq.next_element_seed(Strict)? {
            v.push(item);
        }
        Ok(Value::Array(v))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut m = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if m.contains_key(&key) {
                return Err(de::Error::custom(DUPLICATE));
            }
            let value = map.next_value_seed(Strict)?;
            m.insert(key, value);
        }
        Ok(Value::Object(m))
    }
}

/// A JSON number as read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Num {
    I(i64),
    U(u64),
    F(f64),
}

/// A JSON value whose strings borrow from the input when they can.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Any<'de> {
    Null,
    Bool(bool),
    Num(Num),
    Str(Cow<'de, str>),
    Array(Vec<Any<'de>>),
    Object(Vec<(Cow<'de, str>, Any<'de>)>),
}

impl<'de> Any<'de> {
    pub(crate) fn as_str(&self) -> Option<&Cow<'de, str>> {
        match self {
            Any::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// Looks a member up in an object's members.
pub(crate) fn member<'a, 'de>(
    obj: &'a [(Cow<'de, str>, Any<'de>)],
    name: &str,
) -> Option<&'a Any<'de>> {
    obj.iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

/// Parses `text` as one JSON object into borrowed members, refusing duplicates at every
/// depth.
pub(crate) fn parse_borrowed(text: &str) -> Result<Vec<(Cow<'_, str>, Any<'_>)>, JsonProblem> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value = Borrowed.deserialize(&mut de).map_err(|e| problem(&e))?;
    if de.end().is_err() {
        return Err(JsonProblem::Syntax);
    }
    match value {
        Any::Object(m) => Ok(m),
        _ => Err(JsonProblem::NotObject),
    }
}

struct Borrowed;

impl<'de> DeserializeSeed<'de> for Borrowed {
    type Value = Any<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Any<'de>, D::Error> {
        d.deserialize_any(BorrowedVisitor)
    }
}

struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Cow<'de, str>, D::Error> {
        d.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

struct BorrowedVisitor;

impl<'de> Visitor<'de> for BorrowedVisitor {
    type Value = Any<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Any::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Any::Num(Num::I(v)))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Any::Num(Num::U(v)))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        if v.is_finite() {
            Ok(Any::Num(Num::F(v)))
        } else {
            Err(E::custom("not a finite number"))
        }
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Any::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Any::Str(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Any::Str(Cow::Owned(v)))
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Any::Null)
    }

    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Any::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut v = Vec::new();
        while let Some(item) = seq.next_element_seed(Borrowed)? {
            v.push(item);
        }
        Ok(Any::Array(v))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut members: Vec<(Cow<'de, str>, Any<'de>)> = Vec::with_capacity(8);
        // Small objects (all of IAM's) are checked against the members so far; a set
        // takes over for large ones, so a hostile object costs linear time.
        let mut set: Option<HashSet<Cow<'de, str>>> = None;
        while let Some(key) = map.next_key_seed(Key)? {
            let fresh = match &mut set {
                Some(set) => set.insert(key.clone()),
                None if members.len() < 32 => !members.iter().any(|(k, _)| *k == key),
                None => {
                    let mut all: HashSet<Cow<'de, str>> =
                        members.iter().map(|(k, _)| k.clone()).collect();
                    let fresh = all.insert(key.clone());
                    set = Some(all);
                    fresh
                }
            };
            if !fresh {
                return Err(de::Error::custom(DUPLICATE));
            }
            let value = map.next_value_seed(Borrowed)?;
            members.push((key, value));
        }
        Ok(Any::Object(members))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_duplicates_at_any_depth_and_non_objects() {
        for parse in [
            |b: &[u8]| parse_object(b).map(|_| ()),
            |b: &[u8]| {
                std::str::from_utf8(b)
                    .map_err(|_| JsonProblem::Syntax)
                    .and_then(|s| parse_borrowed(s).map(|_| ()))
            },
        ] {
            assert!(parse(br#"{"a":1,"b":{"c":[1,{"d":2}]}}"#).is_ok());
            assert_eq!(
                parse(br#"{"alg":"RS256","alg":"none"}"#),
                Err(JsonProblem::Duplicate)
            );
            assert_eq!(
                parse(br#"{"a":{"x":1,"x":1}}"#),
                Err(JsonProblem::Duplicate)
            );
            assert_eq!(
                parse(br#"{"a":[{"x":1,"\u0078":2}]}"#),
                Err(JsonProblem::Duplicate),
                "escaped names are compared decoded"
            );
            let many: String = (0..100).map(|i| format!("\"k{i}\":{i},")).collect();
            assert!(parse(format!("{{{}\"z\":0}}", many).as_bytes()).is_ok());
            assert_eq!(
                parse(format!("{{{}\"k7\":0}}", many).as_bytes()),
                Err(JsonProblem::Duplicate),
                "a duplicate among many members"
            );
            assert_eq!(parse(b"[1]"), Err(JsonProblem::NotObject));
            assert_eq!(parse(b"\"x\""), Err(JsonProblem::NotObject));
            assert_eq!(parse(b"{} {}"), Err(JsonProblem::Syntax));
            assert_eq!(parse(b"{\"a\":1"), Err(JsonProblem::Syntax));
            assert_eq!(parse(b"\xff"), Err(JsonProblem::Syntax));
            assert_eq!(parse(b""), Err(JsonProblem::Syntax));
            assert_eq!(parse(b"{\"a\":1e400}"), Err(JsonProblem::Syntax));
            let deep = format!("{{\"a\":{}1{}}}", "[".repeat(10_000), "]".repeat(10_000));
            assert_eq!(parse(deep.as_bytes()), Err(JsonProblem::Syntax));
            // The duplicate marker travels in serde's error text; a member name cannot
            // forge it because names never reach error messages.
            assert!(parse(b"{\"\\u0000duplicate member\":1}").is_ok());
        }
    }

    #[test]
    fn borrowed_strings_borrow_unless_escaped() {
        let text =
            r#"{"plain":"abc","esc\u0061ped":"a\nb","n":[1,-2,3.5],"o":{"t":true,"z":null}}"#;
        let m = parse_borrowed(text).expect("object");
        assert!(matches!(
            member(&m, "plain"),
            Some(Any::Str(Cow::Borrowed("abc")))
        ));
        assert!(matches!(member(&m, "escaped"), Some(Any::Str(Cow::Owned(s))) if s == "a\nb"));
        assert_eq!(
            member(&m, "n"),
            Some(&Any::Array(vec![
                Any::Num(Num::U(1)),
                Any::Num(Num::I(-2)),
                Any::Num(Num::F(3.5))
            ]))
        );
        let Some(Any::Object(o)) = member(&m, "o") else {
            panic!("object")
        };
        assert_eq!(member(o, "t"), Some(&Any::Bool(true)));
        assert_eq!(member(o, "z"), Some(&Any::Null));
        assert_eq!(member(&m, "absent"), None);
    }
}
