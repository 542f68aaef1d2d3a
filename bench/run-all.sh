#!/usr/bin/env bash
# Every benchmark, side by side with the seeds and the physical limits, in one run on this
# machine. Writes target/bench-report.md (the tables docs/BENCHMARKS.md quotes) and prints it.
#
#   bench/run-all.sh            # all, default rounds
#   ROUNDS=3 bench/run-all.sh   # fewer rounds
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rounds="${ROUNDS:-5}"
report=target/bench-report.md
mkdir -p target

# The seeds: the Rust crate in its own workspace (it builds openssl-sys), the Python package
# in a venv.
if ! pkg-config --exists openssl 2>/dev/null; then
  apt-get update -qq && apt-get install -y -qq libssl-dev pkg-config
fi
(cd bench/seed-rs && cargo build --release -q)
compat/python/run.sh --setup

{
  echo "# Benchmark run $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "Machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -sr), $(rustc --version)."
  echo
} > "$report"

run() {
  local title="$1"; shift
  echo "== $title" >&2
  {
    echo "## $title"
    echo
    echo '```sh'
    echo "$*"
    echo '```'
    echo
    "$@" 2>/dev/null | grep -E '^\||^[A-Za-z]' || true
    echo
  } >> "$report"
}

run "Emulator: tokens issued per second per core" cargo bench -q -p ibm-iam-emulator --bench token_issuance -- --rounds "$rounds"
run "Emulator: decisions per second" cargo bench -q -p ibm-iam-emulator --bench decisions
run "TokenManager: cached get_token" cargo bench -q -p ibm-iam --bench token_cache -- --rounds "$rounds"
run "TokenValidator: verification" cargo bench -q -p ibm-iam --bench verify
run "PdpClient: decisions" cargo bench -q -p ibm-iam --features internals --bench decisions
run "IamAuthLayer: requests per second" cargo bench -q -p ibm-iam --features axum --bench layer -- --rounds "$rounds"
run "How cost grows" cargo bench -q -p ibm-iam --bench growth

cat "$report"
