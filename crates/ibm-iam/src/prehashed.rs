//! Hash maps keyed by values that are already uniform, unpredictable hashes (a MAC, a keyed
//! hash): the map uses their first 64 bits as they are, since hashing them again would
//! only cost time.

use std::hash::{BuildHasherDefault, Hasher};

/// The `BuildHasher` of such a map.
pub(crate) type Prehashed = BuildHasherDefault<Passthrough>;

/// Takes a key's `write_u64` as the hash.
#[derive(Default)]
pub(crate) struct Passthrough(u64);

impl Hasher for Passthrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not reached for the keys it serves, which write one u64; a plain FNV-1a keeps
        // it a correct hasher for anything else.
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn a_u64_is_its_own_hash_and_bytes_still_hash() {
        let h = Prehashed::default();
        assert_eq!(h.hash_one(0xdead_beef_u64), 0xdead_beef);
        let mut a = Passthrough::default();
        a.write(b"ab");
        let mut b = Passthrough::default();
        b.write(b"ba");
        assert_ne!(a.finish(), b.finish());
    }
}
