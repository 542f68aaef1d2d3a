#!/usr/bin/env bash
# Builds every fuzz target once, then runs each for a while and prints what it did.
#
#   fuzz/run.sh                      every target, 20 s each (what .ci/run does)
#   fuzz/run.sh 300                  every target, 5 minutes each
#   fuzz/run.sh 60 pdp_answers crn_parser
#
# New inputs go to fuzz/corpus/<target>/ (not committed); the committed seeds are read
# from fuzz/seeds/<target>/. A crash stops its target, leaves the input under
# fuzz/artifacts/<target>/ and makes the script exit non-zero after the other targets ran.
# Builds without a sanitizer: our crates forbid unsafe code, the C in aws-lc is not
# instrumented either way, and AddressSanitizer would cost 3-10 times the executions. Pass
# SANITIZER=address to use it anyway.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
# The fuzz workspace has its own target directory (cargo-fuzz's flags differ from ours).
unset CARGO_TARGET_DIR
export RUSTC_BOOTSTRAP=1

seconds="${1:-20}"
shift || true
sanitizer="${SANITIZER:-none}"
if [[ $# -gt 0 ]]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list)
fi

# Per-target libFuzzer options.
args_for() {
  case "$1" in
    token_parser) echo "-dict=dicts/jwt.dict -max_len=20000" ;;
    jwks_parser) echo "-dict=dicts/jwt.dict" ;;
    *) echo "" ;;
  esac
}

cargo fuzz build --sanitizer "$sanitizer"
failed=()
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  log="$(mktemp)"
  # shellcheck disable=SC2046
  if cargo fuzz run --sanitizer "$sanitizer" "$t" "corpus/$t" "seeds/$t" -- \
      $(args_for "$t") -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
      >"$log" 2>&1; then
    status=ok
  else
    status=FAILED
    failed+=("$t")
    tail -n 40 "$log"
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  cov=$(grep -Eo 'cov: [0-9]+' "$log" | tail -n 1 | cut -d' ' -f2)
  corpus=$(grep -Eo 'corp: [0-9]+' "$log" | tail -n 1 | cut -d' ' -f2)
  printf '%-18s %-6s %12s executions in %ss, %6s edges, corpus %s\n' \
    "$t" "$status" "${runs:-?}" "$seconds" "${cov:-?}" "${corpus:-?}"
  rm -f "$log"
done
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzz targets that failed: ${failed[*]} (inputs under fuzz/artifacts/)"
  exit 1
fi
