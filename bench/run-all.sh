#!/usr/bin/env bash
# Every benchmark, side by side with the seeds and the physical limits, in one run on this
# machine: the emulator, the token manager, the verifier, the PDP client, the server layer
# and how their costs grow. Prints one table (every figure with min / median / max over
# the rounds, and its ratio to the limit and to each peer) and writes it, with each
# benchmark's own tables below it, to target/bench-report.md.
#
#   bench/run-all.sh            # all, 5 rounds
#   ROUNDS=3 bench/run-all.sh   # fewer rounds
#
# The seeds are installed as a user would: the Rust crate ibmcloud-iam 0.2.0 from
# crates.io in its own crate (bench/seed-rs, which builds openssl-sys), the Python package
# ibmcloud_iam 0.1.7 from PyPI in a virtual environment (compat/python/run.sh --setup).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rounds="${ROUNDS:-5}"
report=target/bench-report.md
raw=target/bench-raw
mkdir -p target
rm -rf "$raw"
mkdir -p "$raw"

if ! pkg-config --exists openssl 2>/dev/null; then
  apt-get update -qq && apt-get install -y -qq libssl-dev pkg-config
fi
(cd bench/seed-rs && cargo build --release -q)
compat/python/run.sh --setup
# Build everything first, so that no benchmark shares the machine with the compiler.
cargo bench -q -p ibm-iam-emulator --no-run
cargo bench -q -p ibm-iam --all-features --no-run

n=0
run() {
  local title="$1"; shift
  n=$((n + 1))
  echo "== $title" >&2
  "$@" 2>/dev/null > "$raw/$n.txt"
  {
    echo "### $title"
    echo
    echo '```sh'
    echo "$*"
    echo '```'
    echo
    grep -v '^@' "$raw/$n.txt" | grep -E '^\||^[A-Za-z(]' || true
    echo
  } >> "$raw/details.md"
}

run "Emulator: tokens issued per second per core" cargo bench -q -p ibm-iam-emulator --bench token_issuance -- --rounds "$rounds"
run "Emulator: decisions per second" cargo bench -q -p ibm-iam-emulator --bench decisions -- --rounds "$rounds"
run "TokenManager: cached get_token" cargo bench -q -p ibm-iam --bench token_cache -- --rounds "$rounds"
run "TokenValidator: verification" cargo bench -q -p ibm-iam --bench verify -- --rounds "$rounds"
run "PdpClient: decisions" cargo bench -q -p ibm-iam --features internals --bench decisions -- --rounds "$rounds"
run "IamAuthLayer: requests per second" cargo bench -q -p ibm-iam --features axum --bench layer -- --rounds "$rounds"
run "How cost grows" cargo bench -q -p ibm-iam --bench growth -- --rounds "$rounds"

{
  echo "# Benchmark run $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "Machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -sr), $(rustc --version). $rounds rounds."
  echo
  echo "Compared: medians; 'x' is how many times better, '%' how good as a share of the other (a rate: higher is better; a cost: lower is better)."
  echo
  python3 bench/report.py "$raw"/[0-9]*.txt
  echo
  echo "## Each benchmark's own tables"
  echo
  cat "$raw/details.md"
} > "$report"

cat "$report"
