//! Cloud Resource Names: `crn:v1:<cname>:<ctype>:<service-name>:<location>:<scope>:<service-instance>:<resource-type>:<resource>`.

use std::collections::BTreeMap;
use std::fmt;

use crate::error::Error;

/// A parsed CRN. Empty segments are allowed where IBM allows them (all but the first four
/// and the service name).
///
/// ```
/// use ibm_iam::authz::Crn;
///
/// let crn: Crn = "crn:v1:bluemix:public:books:us-south:a/1111222233334444:9e386139::".parse().unwrap();
/// assert_eq!(crn.service_name(), "books");
/// assert_eq!(crn.account_id(), Some("1111222233334444"));
/// assert_eq!(crn.attributes()["serviceInstance"], "9e386139");
/// assert!("crn:v1:too:few".parse::<Crn>().is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Crn {
    raw: String,
    segments: [String; 10],
}

impl fmt::Debug for Crn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Crn({})", self.raw)
    }
}

impl fmt::Display for Crn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl std::str::FromStr for Crn {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = |why: &str| Error::Config(format!("'{s}' is not a valid CRN: {why}"));
        if s.len() > 1024 {
            return Err(bad("longer than 1024 characters"));
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("it contains whitespace or control characters"));
        }
        let parts: Vec<&str> = s.split(':').collect();
        if parts.len() != 10 {
            return Err(bad(&format!(
                "it has {} segments, a CRN has 10",
                parts.len()
            )));
        }
        if parts[0] != "crn" {
            return Err(bad("it must start with 'crn:'"));
        }
        if parts[1] != "v1" {
            return Err(bad("only version v1 exists"));
        }
        if parts[2].is_empty() || parts[3].is_empty() || parts[4].is_empty() {
            return Err(bad("cname, ctype and service-name must not be empty"));
        }
        if !parts[6].is_empty()
            && !["a/", "o/", "s/", "p/"]
                .iter()
                .any(|p| parts[6].starts_with(p))
        {
            return Err(bad(
                "the scope segment must be empty or a/<account>, o/<org>, s/<space> or p/<project>",
            ));
        }
        let segments = std::array::from_fn(|i| parts[i].to_owned());
        Ok(Self {
            raw: s.to_owned(),
            segments,
        })
    }
}

impl Crn {
    /// The CRN as text.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// `bluemix`, `staging`, …
    pub fn cname(&self) -> &str {
        &self.segments[2]
    }

    /// `public`, `dedicated`, `local`.
    pub fn ctype(&self) -> &str {
        &self.segments[3]
    }

    /// The service name.
    pub fn service_name(&self) -> &str {
        &self.segments[4]
    }

    /// The location (region), possibly empty.
    pub fn location(&self) -> &str {
        &self.segments[5]
    }

    /// The scope segment as written: `a/<account>`, `o/<org>`, `s/<space>`, `p/<project>`,
    /// or empty.
    pub fn scope(&self) -> &str {
        &self.segments[6]
    }

    /// The account id, when the scope is `a/<account>`.
    pub fn account_id(&self) -> Option<&str> {
        self.segments[6]
            .strip_prefix("a/")
            .filter(|a| !a.is_empty())
    }

    /// The service instance, possibly empty.
    pub fn service_instance(&self) -> &str {
        &self.segments[7]
    }

    /// The resource type, possibly empty.
    pub fn resource_type(&self) -> &str {
        &self.segments[8]
    }

    /// The resource, possibly empty.
    pub fn resource(&self) -> &str {
        &self.segments[9]
    }

    /// The resource attributes IAM matches policies on, from the non-empty segments:
    /// `serviceName`, `accountId`, `serviceInstance`, `region`, `resourceType`, `resource`,
    /// `ctype`.
    ///
    /// The cname and a scope other than `a/<account>` have no attribute: two CRNs that
    /// differ only there have the same attributes. The decision cache therefore keys CRN
    /// resources by the CRN itself (exact keys) and by its cname and scope segment
    /// (generalised keys), never by these attributes alone.
    pub fn attributes(&self) -> BTreeMap<String, String> {
        let mut a = BTreeMap::new();
        let mut put = |k: &str, v: &str| {
            if !v.is_empty() {
                a.insert(k.to_owned(), v.to_owned());
            }
        };
        put("serviceName", self.service_name());
        put("accountId", self.account_id().unwrap_or(""));
        put("serviceInstance", self.service_instance());
        put("region", self.location());
        put("resourceType", self.resource_type());
        put("resource", self.resource());
        put("ctype", self.ctype());
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses() {
        let c: Crn = "crn:v1:bluemix:public:cloud-object-storage:global:a/59bcbfa6ea2f006b4ed7094c1a08dcdd:1a0ec336-f391-4091-a6fb-5e084a4c56f4:bucket:mybucket"
            .parse()
            .expect("valid");
        assert_eq!(c.resource_type(), "bucket");
        assert_eq!(c.attributes().len(), 7);
        for bad in [
            "",
            "crn:v2:bluemix:public:s:r:a/1:i::",
            "urn:v1:bluemix:public:s:r:a/1:i::",
            "crn:v1:bluemix:public::r:a/1:i::",
            "crn:v1:bluemix:public:s:r:x/1:i::",
            "crn:v1:bluemix:public:s:r:a/1:i:::",
            "crn:v1:bluemix:public:s:r:a/1:i :t:r",
        ] {
            assert!(bad.parse::<Crn>().is_err(), "{bad}");
        }
    }
}
