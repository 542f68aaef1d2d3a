//! The seed packages' own benchmark programs, which `bench/run-all.sh` builds and installs
//! as a user would: where they are, and the one number each run prints.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The benchmark binary over `ibmcloud-iam` 0.2.0 (`bench/seed-rs`, or `SEED_RS_BIN`), when
/// it has been built.
pub fn rust_seed() -> Option<PathBuf> {
    let bin = std::env::var_os("SEED_RS_BIN").map_or_else(
        || repo_root().join("bench/seed-rs/target/release/seed-rs-bench"),
        PathBuf::from,
    );
    bin.exists().then_some(bin)
}

/// The Python interpreter of the virtual environment holding `ibmcloud_iam` 0.1.7, and the
/// script `bench/<script>`, when both are there.
pub fn python_seed(script: &str) -> Option<(PathBuf, PathBuf)> {
    let root = repo_root();
    let python = root.join("target/compat-venvs/seed/bin/python");
    let script = root.join("bench").join(script);
    (python.exists() && script.exists()).then_some((python, script))
}

/// Runs a seed's benchmark program and reads the rate it prints, or says why there is none.
pub fn rate(cmd: &mut Command) -> Result<f64, String> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let out = cmd
        .output()
        .map_err(|e| format!("{program} does not run: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{program} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim()
        .parse()
        .map_err(|_| format!("{program} printed no rate: {text:?}"))
}
