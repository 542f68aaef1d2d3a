#!/usr/bin/env bash
# Python compatibility tests: run the seed client (ibmcloud-iam 0.1.7) and IBM's
# official SDKs, unmodified, against the ibm-iam emulator.
#
#   compat/python/run.sh [extra pytest args...]
#   compat/python/run.sh --setup      only create/update the venvs
#
# IBM_IAM_BIN   emulator binary (default: target/debug/ibm-iam under the repo root)
# PYTHON        interpreter used to create the venvs (default: python3)
#
# Each client group has its own virtual environment under target/compat-venvs/,
# because the seed pins PyJWT < 2.5 while the SDKs need a current PyJWT. A venv is
# rebuilt only when it is missing or its requirements file changed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$here/../.." && pwd)"
python="${PYTHON:-python3}"

setup_only=0
if [[ "${1:-}" == "--setup" ]]; then
  setup_only=1
  shift
fi

bin="${IBM_IAM_BIN:-target/debug/ibm-iam}"
case "$bin" in
  /*) ;;
  *) bin="$repo_root/$bin" ;;
esac
if [[ "$setup_only" == 0 && ! -x "$bin" ]]; then
  echo "compat/python: emulator binary not found or not executable: $bin" >&2
  echo "compat/python: build it first (cargo build -p ibm-iam-cli) or set IBM_IAM_BIN" >&2
  exit 2
fi
export IBM_IAM_BIN="$bin"

venv_root="$repo_root/target/compat-venvs"

# ensure_venv NAME REQUIREMENTS_FILE
ensure_venv() {
  local name="$1" requirements="$2"
  local venv="$venv_root/$name"
  local stamp="$venv/requirements.sha256"
  local wanted
  wanted="$(sha256sum "$requirements" | cut -d' ' -f1)"
  if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$wanted" ]]; then
    return 0
  fi
  echo "compat/python: creating venv $venv" >&2
  rm -rf "$venv"
  mkdir -p "$venv_root"
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
  cp "$requirements" "$venv/requirements.txt"
  # Written last: an interrupted install leaves no stamp and is redone next time.
  echo "$wanted" > "$stamp"
}

ensure_venv seed "$here/requirements-seed.txt"
ensure_venv sdk "$here/requirements-sdk.txt"
if [[ "$setup_only" == 1 ]]; then
  exit 0
fi

status=0
cd "$here"
for group in seed sdk; do
  echo "== compat/python: $group clients ($venv_root/$group)"
  if ! "$venv_root/$group/bin/python" -m pytest -p no:cacheprovider --rootdir "$here" -c "$here/pytest.ini" "$group" "$@"; then
    status=1
  fi
done
exit "$status"
