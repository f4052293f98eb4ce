#!/usr/bin/env bash
# CI for the Python package: builds the wheel in a fresh virtual environment, installs it,
# runs the package's pytest tests (including the byte-for-byte interop tests against
# Debian's /usr/bin/python3) and CPython's own dbm/shelve suites against pydbm's modules.
# The suites run under the build interpreter and, when installed, under CPython 3.13
# (PYTHON313, default /root/.pyenv/versions/3.13.0/bin/python3) with the same abi3 wheel.
# Prints the per-file counts per interpreter and ends with one line `N passed, M failed`
# summing every suite (the package's pytest files and CPython's suites under each
# interpreter). Exits non-zero on any failure.
#
# Environment: PYTHON (default python3: the interpreter to build for and test with; in CI
# the pyenv CPython without _gdbm/_dbm), PYTHON313, CI=true makes missing references fail.
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
set +e
(cd "$here/tests" && "$venv/bin/python" -m pytest -q -rs -p no:cacheprovider) | tee "$venv/pytest.log"
pytest_status=${PIPESTATUS[0]}
set -e
# pytest's summary ("2 failed, 103 passed, 1 skipped in 31.10s") counts into the total
pytest_summary="$(grep -E '^[0-9]+ (passed|failed)|^=* ?[0-9]+ (passed|failed)' "$venv/pytest.log" | tail -n 1 || true)"
count_of() { echo "$pytest_summary" | grep -oE "[0-9]+ $1" | cut -d' ' -f1 | head -n 1; }
pytest_pass="$(count_of passed || true)"; pytest_pass="${pytest_pass:-0}"
pytest_fail=$(( $(count_of failed || true) + $(count_of error || true) + 0 ))
if [ "$pytest_status" -ne 0 ] && [ "$pytest_fail" -eq 0 ]; then
  pytest_fail=1  # pytest itself failed (collection, crash): count it
fi
echo "pytest subtotal: $pytest_pass passed, $pytest_fail failed"

# CPython's own suites, once per interpreter: the one the wheel was built with, and
# CPython 3.13 (dbm.sqlite3 and the 3.13 suites) when it is installed. The wheel is abi3
# (cp38-abi3), so the same file installs into both venvs: one build.
PYTHON313="${PYTHON313:-/root/.pyenv/versions/3.13.0/bin/python3}"
suite_pythons=("$venv/bin/python")
if [ -x "$PYTHON313" ] && [ "$("$PYTHON313" -c 'import sys; print(sys.version_info[:2] >= (3, 13))' 2>/dev/null)" = True ] \
    && [ "$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" != 3.13 ]; then
  venv313="$venv/py313"
  "$PYTHON313" -m venv "$venv313"
  "$venv313/bin/python" -m pip install -q --no-index --force-reinstall "$here"/target/wheels/pydbm-*.whl
  suite_pythons+=("$venv313/bin/python")
else
  echo "(CPython 3.13 not found at $PYTHON313: its suites are not run)"
fi

total_pass=$pytest_pass
total_fail=$pytest_fail
suite_status=0
for py in "${suite_pythons[@]}"; do
  ver="$("$py" -c 'import sys; print(sys.version.split()[0])')"
  echo "== CPython $ver's own suites against pydbm"
  log="$venv/suites-$ver.log"
  set +e
  "$py" "$here/tests/run_cpython_suites.py" > "$log"
  rc=$?
  set -e
  # the runner's closing "N passed, M failed" becomes a subtotal; the bare line is ours
  sed -E 's/^([0-9]+) passed, ([0-9]+) failed$/CPython '"$ver"' subtotal: \1 passed, \2 failed/' "$log"
  line="$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)"
  if [ -z "$line" ]; then
    echo "CPython $ver: the suite runner crashed (exit $rc)"
    total_fail=$((total_fail + 1))
    suite_status=1
    continue
  fi
  total_pass=$((total_pass + $(echo "$line" | cut -d' ' -f1)))
  total_fail=$((total_fail + $(echo "$line" | cut -d' ' -f3)))
  [ "$rc" -eq 0 ] || suite_status=1
done
echo "$total_pass passed, $total_fail failed"
[ "$pytest_status" -eq 0 ] && [ "$suite_status" -eq 0 ]
