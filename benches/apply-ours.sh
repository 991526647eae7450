#!/usr/bin/env bash
# Our apply alone on 3 fresh test hosts (examples/testbed-cluster.yaml), as
# benches/apply-vs-peers.sh runs it (`--phase flannel-config`, the same
# PKI made before timing), without the peers: the first apply (zero to
# healthy), then NOOPS no-op re-applies, each timed, with its change count.
#
# Usage (root, after scripts/setup): benches/apply-ours.sh [NOOPS]   (default 5)
set -euo pipefail
noops=${1:-5}
. "$(dirname "$0")/testbed-bench.sh"
"$bin/k8s-bootstrap-testbed" up 3 >/dev/null
up=1
run() {
  local t0 t1
  t0=$(date +%s.%N)
  "$bin/k8s-bootstrap" apply --spec "$spec" --known-hosts "$tb/known_hosts" --pki-dir "$work/pki" --phase flannel-config --output json >"$work/out.json"
  t1=$(date +%s.%N)
  local n
  n=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(sum(len(h["changes"]) for h in r["hosts"].values()))' "$work/out.json")
  printf '%s\t%.2f s\t%s changes\n' "$1" "$(echo "$t1 - $t0" | bc)" "$n"
}
run first
for i in $(seq 1 "$noops"); do run "no-op $i"; done
