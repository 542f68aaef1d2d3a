//! Any bytes as a CRN (`authz::Crn`, `Resource::crn`): parsing never panics, and a CRN
//! that parses prints back as itself, parses again to the same value, and yields
//! attributes that name its own segments.

#![no_main]

use ibm_iam::authz::{Crn, Resource};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = s.parse::<Crn>();
    let resource = Resource::crn(s);
    assert_eq!(
        parsed.is_ok(),
        resource.is_ok(),
        "Crn and Resource::crn agree"
    );
    match parsed {
        Ok(crn) => {
            assert_eq!(crn.to_string(), s);
            assert_eq!(crn.as_str().parse::<Crn>().ok().as_ref(), Some(&crn));
            assert!(!crn.service_name().is_empty());
            let attrs = crn.attributes();
            assert_eq!(
                attrs.get("serviceName").map(String::as_str),
                Some(crn.service_name())
            );
            if let Some(account) = crn.account_id() {
                assert_eq!(attrs.get("accountId").map(String::as_str), Some(account));
            }
            assert!(
                attrs
                    .values()
                    .all(|v| !v.is_empty() && s.contains(v.as_str()))
            );
            let _ = (
                crn.cname(),
                crn.ctype(),
                crn.location(),
                crn.service_instance(),
            );
            let _ = (crn.resource_type(), crn.resource(), format!("{crn:?}"));
            if let Ok(r) = resource {
                let _ = (r.account_id(), r.to_json());
            }
        }
        Err(e) => {
            let _ = (e.to_string(), format!("{e:?}"));
        }
    }
});
