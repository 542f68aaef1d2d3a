//! Any bytes as a key set (`/identity/keys`): parsing and key selection must never panic,
//! and whatever set comes out must answer lookups and signature checks without panicking.

#![no_main]

use ibm_iam::verify::KeySet;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(keys) = KeySet::from_jwks(data) {
        assert!(!keys.is_empty(), "a parsed set always holds a usable key");
        for kid in keys.kids() {
            assert!(keys.contains(kid));
            let _ = keys.verify_signature(kid, data, &[0u8; 256]);
        }
        let _ = keys.skipped();
    }
});
