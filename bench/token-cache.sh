#!/usr/bin/env bash
# Cached get_token side by side: the limit, ibm-iam, the seed crate ibmcloud-iam 0.2.0 and the
# Python seed ibmcloud_iam 0.1.7, in one run against one in-process emulator.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if ! pkg-config --exists openssl 2>/dev/null; then
  # The seed crate builds openssl-sys.
  apt-get update -qq && apt-get install -y -qq libssl-dev pkg-config
fi
(cd bench/seed-rs && cargo build --release -q)
compat/python/run.sh --setup
cargo bench -p ibm-iam --bench token_cache -- "$@"
