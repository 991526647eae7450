#!/usr/bin/env bash
# A no-op re-apply of examples/testbed-cluster.yaml on 3 test hosts: the CLI
# against Python's Cluster.apply (blocking) and apply_async, release builds,
# runs alternating. Needs root (it boots the test hosts; torn down on exit).
#
#   cargo build --release -p k8s-bootstrap-cli -p k8s-bootstrap-testbed
#   MATURIN_PEP517_ARGS="--profile release" pip install ./k8s-bootstrap-py   # into PYTHON's env
#   PYTHON=python3 bash k8s-bootstrap-py/bench_apply_noop.sh [RUNS]
#
# Prints per run, in seconds: the CLI process; a Python process doing
# import + Cluster(...).apply(); and, inside one Python process, apply()
# and apply_async() alone.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
runs="${1:-5}"
py="${PYTHON:-python3}"
tb="$repo/target/release/k8s-bootstrap-testbed"
cli="$repo/target/release/k8s-bootstrap"
spec="$repo/examples/testbed-cluster.yaml"
kh=/run/k8s-bootstrap-testbed/known_hosts
work="$(mktemp -d)"
up=0
cleanup() {
    if [ "$up" = 1 ]; then "$tb" down >/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

"$tb" up 3 >/dev/null
up=1
"$cli" apply --spec "$spec" --pki-dir "$work/pki" --known-hosts "$kh" >/dev/null 2>&1   # zero to healthy

now() { date +%s.%N; }
printf 'run\tcli\tpy-process\tpy-apply\tpy-apply_async\n'
for i in $(seq "$runs"); do
    t0=$(now)
    "$cli" apply --spec "$spec" --pki-dir "$work/pki" --known-hosts "$kh" >/dev/null 2>&1
    t1=$(now)
    "$py" -c "
import k8s_bootstrap as kb
r = kb.Cluster.from_file('$spec', pki_dir='$work/pki', known_hosts='$kh').apply()
assert r.ok and r.change_count == 0, r.to_dict()
"
    t2=$(now)
    inproc=$("$py" -c "
import asyncio, time
import k8s_bootstrap as kb
c = kb.Cluster.from_file('$spec', pki_dir='$work/pki', known_hosts='$kh')
t = time.monotonic(); r = c.apply(); a = time.monotonic() - t
assert r.ok and r.change_count == 0, r.to_dict()
async def main() -> kb.Report:
    return await c.apply_async()
t = time.monotonic(); r = asyncio.run(main()); b = time.monotonic() - t
assert r.ok and r.change_count == 0, r.to_dict()
print(f'{a:.2f}\t{b:.2f}')
")
    printf '%s\t%.2f\t%.2f\t%s\n' "$i" "$(echo "$t1 - $t0" | bc)" "$(echo "$t2 - $t1" | bc)" "$inproc"
done
