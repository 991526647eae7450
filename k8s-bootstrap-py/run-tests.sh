#!/usr/bin/env bash
# Builds and installs the k8s_bootstrap Python module into a venv, checks its
# stubs against the built module (mypy stubtest) and runs the pytest suite.
#
#   bash k8s-bootstrap-py/run-tests.sh [pytest args...]
#
# Environment:
#   K8S_PY_VENV     venv to use or create (default: k8s-bootstrap-py/.venv)
#   K8S_PY_PROFILE  cargo profile of the build: dev (default: shares the
#                   debug build of `cargo test`) or release
# Needs python3 (with venv), cargo, and PyPI for maturin, pytest, mypy and
# cryptography; the render test runs the Rust tutorial_render example.
# Exits non-zero on any failure, including a pytest run that collects no test.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
venv="${K8S_PY_VENV:-$here/.venv}"
profile="${K8S_PY_PROFILE:-dev}"
start=$SECONDS

if [ ! -x "$venv/bin/python" ]; then
    echo "== creating venv $venv"
    python3 -m venv "$venv"
fi
py="$venv/bin/python"
echo "== installing test tools"
"$py" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$py" -m pip install --quiet --disable-pip-version-check "maturin>=1.16,<2" pytest mypy cryptography

echo "== building and installing k8s-bootstrap-py (pip install, maturin backend, cargo profile $profile)"
# --no-build-isolation: use the venv's maturin instead of fetching another.
PATH="$venv/bin:$PATH" MATURIN_PEP517_ARGS="--profile $profile" \
    "$py" -m pip install --quiet --disable-pip-version-check --no-build-isolation --force-reinstall --no-deps "$here"

cd "$here"
echo "== stubtest"
"$py" -m mypy.stubtest k8s_bootstrap --allowlist "$here/stubtest-allowlist.txt"

echo "== pytest"
set +e
"$py" -m pytest -q "$here/tests" "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
    echo "run-tests.sh: pytest collected no test" >&2
    exit 1
fi
echo "== k8s-bootstrap-py tests: exit $rc after $((SECONDS - start)) s"
exit "$rc"
