#!/usr/bin/env bash
# CI for the Python package: builds the wheel in a fresh virtual environment, installs it,
# runs the package's pytest tests (including the byte-for-byte interop tests against
# Debian's /usr/bin/python3) and CPython's own dbm/shelve suites against pydbm's modules.
# Exits non-zero on any failure. Prints the per-suite counts.
#
# Environment: PYTHON (default python3: the interpreter to build for and test with; in CI
# the pyenv CPython without _gdbm/_dbm), CI=true makes missing references fail.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"

PYTHON="${PYTHON:-python3}"
# Debian's python3 cannot make a venv without python3-venv; prefer an interpreter that can
# (in CI the pyenv CPython, which is also the one without _gdbm: the acceptance scenario).
if ! "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then
  for cand in "$(command -v pyenv >/dev/null && pyenv which python3 2>/dev/null)" /root/.pyenv/shims/python3; do
    if [ -n "$cand" ] && [ -x "$cand" ] && "$cand" -c 'import ensurepip, venv' 2>/dev/null; then
      PYTHON="$cand"; break
    fi
  done
fi
venv="$(mktemp -d "${TMPDIR:-/tmp}/pydbm-ci-venv.XXXXXX")"
trap 'rm -rf "$venv"' EXIT

echo "== venv ($("$PYTHON" --version 2>&1)) in $venv"
"$PYTHON" -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q "maturin>=1.5,<2" pytest

echo "== build the wheel (maturin, dev profile: CI time is bounded; release is pip's default)"
export CARGO_TARGET_DIR="$here/target"
rm -rf "$here/target/wheels"
"$venv/bin/maturin" build --profile dev --interpreter "$venv/bin/python" -o "$here/target/wheels" -q
"$venv/bin/python" -m pip install -q --force-reinstall "$here"/target/wheels/pydbm-*.whl

echo "== pytest"
# Run from the tests directory so that `import pydbm` is the installed wheel.
(cd "$here/tests" && "$venv/bin/python" -m pytest -q -rs -p no:cacheprovider)

echo "== CPython's own suites against pydbm"
"$venv/bin/python" "$here/tests/run_cpython_suites.py"
