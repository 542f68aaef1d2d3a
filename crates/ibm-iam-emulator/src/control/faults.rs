//! Fault injection: rules that make chosen endpoints fail, slow down, or misbehave, for the
//! next N requests or a fraction of them.

use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::ids;

/// What an injected fault does to a matching request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultAction {
    /// Close the connection without answering.
    Drop,
    /// Answer 200 with a JSON content type and a body that is not valid JSON.
    Malformed,
    /// Send the real answer's headers and half of its body, then close the connection.
    Truncated,
    /// Send the real answer labelled `text/html`.
    WrongContentType,
    /// Answer 200 with an empty body.
    Empty,
}

/// A fault rule as the control API takes it.
///
/// `path` is a route as the emulator declares it (`/identity/token`, `/v1/apikeys/{id}`,
/// `/v2/authz`) or `*` for every IAM endpoint. Exactly one effect applies: `status` (an
/// IAM-shaped error with that status, and `Retry-After` when `retry_after` is set), or
/// `action`; `latency_ms` may come alone or with either.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// Which route; `*` for all.
    #[serde(default = "any_path")]
    pub path: String,
    /// Only this HTTP method, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Answer with this status (400-599).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// `Retry-After` seconds to send with `status`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// Delay before answering, milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    /// Misbehaviour other than a status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<FaultAction>,
    /// Apply to this many matching requests, then retire; forever when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// Apply to each matching request with this probability (0 < p <= 1); always when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
}

fn any_path() -> String {
    "*".into()
}

impl FaultSpec {
    /// Checks that the rule makes sense.
    pub fn validate(&self) -> Result<(), String> {
        if self.status.is_some() && self.action.is_some() {
            return Err("give either 'status' or 'action', not both".into());
        }
        if self.status.is_none() && self.action.is_none() && self.latency_ms.is_none() {
            return Err("a fault needs 'status', 'action' or 'latency_ms'".into());
        }
        if let Some(s) = self.status
            && !(400..=599).contains(&s)
        {
            return Err(format!("'status' must be 400-599, not {s}"));
        }
        if self.retry_after.is_some() && self.status.is_none() {
            return Err("'retry_after' goes with 'status'".into());
        }
        if let Some(p) = self.probability
            && !(p > 0.0 && p <= 1.0)
        {
            return Err(format!("'probability' must be in (0, 1], not {p}"));
        }
        if self.count == Some(0) {
            return Err("'count' must be at least 1".into());
        }
        if self.latency_ms.is_some_and(|ms| ms > 600_000) {
            return Err("'latency_ms' must be at most 600000".into());
        }
        if !(self.path == "*" || self.path.starts_with('/')) {
            return Err(format!(
                "'path' must be '*' or a route starting with '/', not '{}'",
                self.path
            ));
        }
        Ok(())
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        (self.path == "*" || self.path == path)
            && self
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method))
    }
}

/// An installed fault with its id and how often it fired.
#[derive(Debug, Clone, Serialize)]
pub struct InstalledFault {
    /// `fault-<n>`.
    pub id: String,
    /// The rule.
    #[serde(flatten)]
    pub spec: FaultSpec,
    /// How many requests it has affected.
    pub fired: u64,
}

/// The effect chosen for one request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Effect {
    /// Wait this long first.
    pub latency: Option<Duration>,
    /// Then answer with this status.
    pub status: Option<(u16, Option<u64>)>,
    /// Or misbehave like this.
    pub action: Option<FaultAction>,
}

/// The installed fault rules.
#[derive(Debug, Default)]
pub struct Faults {
    rules: Mutex<(u64, Vec<InstalledFault>)>,
}

impl Faults {
    /// Installs a rule; returns its id.
    pub fn add(&self, spec: FaultSpec) -> Result<InstalledFault, String> {
        spec.validate()?;
        let mut g = self
            .rules
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        g.0 += 1;
        let f = InstalledFault {
            id: format!("fault-{}", g.0),
            spec,
            fired: 0,
        };
        g.1.push(f.clone());
        Ok(f)
    }

    /// Removes one rule; false when there was none with that id.
    pub fn remove(&self, id: &str) -> bool {
        let mut g = self
            .rules
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let before = g.1.len();
        g.1.retain(|f| f.id != id);
        g.1.len() != before
    }

    /// Removes every rule.
    pub fn clear(&self) {
        self.rules
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .1
            .clear();
    }

    /// The installed rules.
    pub fn list(&self) -> Vec<InstalledFault> {
        self.rules
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .1
            .clone()
    }

    /// Picks the effect for a request: the first rule that matches and fires.
    pub fn effect_for(&self, method: &str, path: &str) -> Option<Effect> {
        let mut g = self
            .rules
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if g.1.is_empty() {
            return None;
        }
        let idx = g.1.iter().position(|f| {
            f.spec.matches(method, path)
                && f.spec.probability.is_none_or(|p| ids::random_unit() < p)
        })?;
        let rule = &mut g.1[idx];
        rule.fired += 1;
        let effect = Effect {
            latency: rule.spec.latency_ms.map(Duration::from_millis),
            status: rule.spec.status.map(|s| (s, rule.spec.retry_after)),
            action: rule.spec.action,
        };
        if rule.spec.count.is_some_and(|c| rule.fired >= c) {
            g.1.remove(idx);
        }
        Some(effect)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> FaultSpec {
        serde_json::from_str(json).expect("spec")
    }

    #[test]
    fn count_limits_and_path_matching() {
        let faults = Faults::default();
        faults
            .add(spec(r#"{"path":"/identity/token","status":503,"count":2}"#))
            .expect("add");
        assert_eq!(faults.effect_for("GET", "/identity/keys"), None);
        let e = faults.effect_for("POST", "/identity/token").expect("fires");
        assert_eq!(e.status, Some((503, None)));
        assert!(faults.effect_for("POST", "/identity/token").is_some());
        assert_eq!(
            faults.effect_for("POST", "/identity/token"),
            None,
            "retired after 2"
        );
        assert!(faults.list().is_empty());
    }

    #[test]
    fn validation() {
        let faults = Faults::default();
        assert!(faults.add(spec(r#"{"status":200}"#)).is_err());
        assert!(faults.add(spec(r#"{}"#)).is_err());
        assert!(
            faults
                .add(spec(r#"{"status":500,"action":"drop"}"#))
                .is_err()
        );
        assert!(
            faults
                .add(spec(r#"{"action":"drop","probability":1.5}"#))
                .is_err()
        );
        assert!(faults.add(spec(r#"{"action":"drop","count":0}"#)).is_err());
        assert!(
            faults
                .add(spec(r#"{"latency_ms":5,"path":"nope"}"#))
                .is_err()
        );
        assert!(serde_json::from_str::<FaultSpec>(r#"{"stauts":500}"#).is_err());
        let f = faults
            .add(spec(r#"{"action":"drop","method":"post"}"#))
            .expect("ok");
        assert!(faults.effect_for("GET", "/x").is_none());
        assert!(faults.effect_for("POST", "/x").is_some());
        assert!(faults.remove(&f.id));
        assert!(!faults.remove(&f.id));
    }

    #[test]
    fn probability_applies_to_a_fraction() {
        let faults = Faults::default();
        faults
            .add(spec(r#"{"status":500,"probability":0.5}"#))
            .expect("add");
        let hits = (0..2000)
            .filter(|_| faults.effect_for("GET", "/a").is_some())
            .count();
        assert!((800..1200).contains(&hits), "{hits}");
    }
}
