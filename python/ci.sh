#!/usr/bin/env bash
# CI for the Python package: builds the wheel in a fresh virtual environment, installs it,
# runs the package's pytest tests (including the byte-for-byte interop tests against
# Debian's /usr/bin/python3) and CPython's own dbm/shelve suites against pydbm's modules.
# Also runs the crate's own Rust unit tests (`cargo test --lib`: python/ is outside the
# workspace, so `cargo test --workspace` never runs them), linked against the build interpreter.
# The suites run under the build interpreter and under CPython 3.13 (PYDBM_PYTHON313, else
# python3.13 on PATH, else ~/.pyenv/versions/3.13.*; the lookup of pydbm_engine::live_reference)
# with the same abi3 wheel. Prints the per-file counts per interpreter and ends with one line
# `N passed, M failed` summing every suite (the Rust tests, the package's pytest files and
# CPython's suites under each interpreter). Exits non-zero on any failure.
#
# Environment: PYTHON (default python3: the interpreter to build for and test with; in CI
# the pyenv CPython without _gdbm/_dbm), PYDBM_PYTHON313 (PYTHON313 still accepted),
# PYDBM_PYTHON_GDBM (Debian's python3, default /usr/bin/python3), CI=true makes missing
# references fail (a missing CPython 3.13 included).
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

echo "== the python crate's Rust tests (cargo test --lib, linked against $("$venv/bin/python" --version 2>&1))"
libdir="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_config_var("LIBDIR") or "")')"
set +e
(cd "$here" && PYO3_PYTHON="$venv/bin/python" LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
  cargo test --lib) 2>&1 | tee "$venv/cargo-test.log"
cargo_status=${PIPESTATUS[0]}
set -e
cargo_line="$(grep -E '^test result: ' "$venv/cargo-test.log" | tail -n 1 || true)"
cargo_pass="$(echo "$cargo_line" | grep -oE '[0-9]+ passed' | cut -d' ' -f1)"; cargo_pass="${cargo_pass:-0}"
cargo_fail="$(echo "$cargo_line" | grep -oE '[0-9]+ failed' | cut -d' ' -f1)"; cargo_fail="${cargo_fail:-0}"
if [ "$cargo_status" -ne 0 ] && [ "$cargo_fail" -eq 0 ]; then
  cargo_fail=1  # the build or the test binary itself failed: count it
fi
echo "Rust tests subtotal: $cargo_pass passed, $cargo_fail failed"

export PYDBM_PYTHON313="${PYDBM_PYTHON313:-${PYTHON313:-}}"
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
is_313() { [ -n "$1" ] && [ "$("$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" = 3.13 ]; }
PYTHON313="${PYDBM_PYTHON313:-${PYTHON313:-}}"
if [ -z "$PYTHON313" ]; then
  for cand in "$(command -v python3.13 || true)" $(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.13.*/bin/python3.13 2>/dev/null | sort -t. -k3 -n -r); do
    if is_313 "$cand"; then PYTHON313="$cand"; break; fi
  done
fi
echo "CPython 3.13 reference: ${PYTHON313:-none found}"
suite_pythons=("$venv/bin/python")
if [ "$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" = 3.13 ]; then
  :  # the build interpreter is 3.13: its suites are the 3.13 suites
elif is_313 "$PYTHON313"; then
  venv313="$venv/py313"
  "$PYTHON313" -m venv "$venv313"
  "$venv313/bin/python" -m pip install -q --no-index --force-reinstall "$here"/target/wheels/pydbm-*.whl
  suite_pythons+=("$venv313/bin/python")
else
  echo "SKIPPED: CPython 3.13 (PYDBM_PYTHON313=${PYTHON313:-unset}) not available: its suites are not run"
  if [ "${CI:-}" = true ]; then
    echo "CI=true requires CPython 3.13"
    exit 1
  fi
fi

total_pass=$((pytest_pass + cargo_pass))
total_fail=$((pytest_fail + cargo_fail))
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
[ "$pytest_status" -eq 0 ] && [ "$suite_status" -eq 0 ] && [ "$cargo_status" -eq 0 ]
