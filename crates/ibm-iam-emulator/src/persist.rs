//! The state file: a JSON snapshot written atomically (temporary file, fsync, rename, fsync
//! of the directory), so that a crash at any moment leaves either the previous or the new
//! snapshot, never a torn one.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::identity::store::Store;
use crate::keys::{RotationPolicy, StoredKey};

/// The `format` marker of a state file.
pub const FORMAT: &str = "ibm-iam-emulator-state";
/// The current snapshot version.
pub const VERSION: u32 = 1;

/// Everything the emulator persists.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapshot {
    /// Always [`FORMAT`].
    pub format: String,
    /// Always [`VERSION`] for files this build writes.
    pub version: u32,
    /// Token lifetime in seconds.
    pub token_lifetime_seconds: i64,
    /// Key rotation policy.
    pub rotation: RotationPolicy,
    /// Signing keys, oldest first.
    pub keys: Vec<StoredKey>,
    /// Identities.
    pub store: Store,
}

/// A state file that could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    /// I/O failure.
    #[error("state file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
    /// The state could not be encoded; nothing was written.
    #[error("the state could not be encoded, so the state file was left as it was: {0}")]
    Encode(String),
    /// The file exists but is not a valid snapshot.
    #[error(
        "state file {path} is corrupt or not an emulator state file ({reason}); \
         move it aside to start fresh, or restore a backup"
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PersistError + '_ {
    move |source| PersistError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Reads a snapshot; `Ok(None)` when the file does not exist.
pub fn load(path: &Path) -> Result<Option<Snapshot>, PersistError> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(path)(e)),
    };
    let corrupt = |reason: String| PersistError::Corrupt {
        path: path.to_owned(),
        reason,
    };
    let snap: Snapshot = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
    if snap.format != FORMAT {
        return Err(corrupt(format!("format is '{}'", snap.format)));
    }
    if snap.version != VERSION {
        return Err(corrupt(format!(
            "version {} is not supported by this build (it reads version {VERSION})",
            snap.version
        )));
    }
    Ok(Some(snap))
}

#[cfg(test)]
thread_local! {
    /// Makes [`encode`] fail on this thread, for tests of what a failed encoding leaves.
    pub(crate) static FAIL_ENCODING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Encodes a snapshot for the state file. An error means nothing may be written: an empty
/// or partial file would replace the previous good one.
pub fn encode(snap: &Snapshot) -> Result<Vec<u8>, PersistError> {
    #[cfg(test)]
    if FAIL_ENCODING.with(std::cell::Cell::get) {
        return Err(PersistError::Encode("injected by a test".into()));
    }
    serde_json::to_vec_pretty(snap).map_err(|e| PersistError::Encode(e.to_string()))
}

/// Writes `bytes` to `path` atomically and durably.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), PersistError> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "state".into());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    {
        let mut f = fs::File::create(&tmp).map_err(io(&tmp))?;
        f.write_all(bytes).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
    }
    fs::rename(&tmp, path).map_err(io(path))?;
    // Make the rename itself durable.
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_corrupt_and_round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.json");
        assert!(load(&path).expect("missing is fine").is_none());

        fs::write(&path, b"{ not json").expect("write");
        let err = load(&path).expect_err("corrupt");
        assert!(err.to_string().contains("corrupt"), "{err}");

        fs::write(&path, br#"{"format":"other","version":1,"token_lifetime_seconds":1,"rotation":{"every_seconds":null,"overlap_seconds":1},"keys":[],"store":{"accounts":{},"users":{},"service_ids":{},"profiles":{},"apikeys":{}}}"#).expect("write");
        assert!(load(&path).is_err());

        let snap = Snapshot {
            format: FORMAT.into(),
            version: VERSION,
            token_lifetime_seconds: 3600,
            rotation: RotationPolicy::default(),
            keys: vec![],
            store: Store::default(),
        };
        write_atomic(&path, &serde_json::to_vec(&snap).expect("json")).expect("write");
        let back = load(&path).expect("load").expect("present");
        assert_eq!(back.token_lifetime_seconds, 3600);
        // No temporary file is left behind.
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .expect("dir")
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
    }
}
