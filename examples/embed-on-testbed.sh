#!/usr/bin/env bash
# Runs the `embed` example against 3 local test hosts (needs root): boots
# them, applies the tutorial's cluster built in Rust, applies it again and
# fails unless the second apply changes nothing, and removes the hosts on
# the way out, also on failure or Ctrl-C.
#
#   bash examples/embed-on-testbed.sh
#
# flanneld is the real one scripts/setup builds from flannel's Go module.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "embed-on-testbed: the test hosts need root (network namespaces, mounts, systemd)" >&2
  exit 1
fi

cargo build --locked -q -p k8s-bootstrap-testbed -p k8s-bootstrap-examples --example embed
testbed=target/debug/k8s-bootstrap-testbed
state=/run/k8s-bootstrap-testbed
pki=$(mktemp -d)

# Only hosts this script booted are removed (`down` removes whatever is up).
"$testbed" up 3
trap '"$testbed" down; rm -rf "$pki"' EXIT

flanneld=${K8S_BOOTSTRAP_CACHE:-/var/cache/k8s-bootstrap}/bin/flanneld
[ -x "$flanneld" ] || { echo "embed-on-testbed: $flanneld is missing: run scripts/setup (as root)" >&2; exit 1; }
embed=(target/debug/examples/embed --testbed
       --hosts 10.77.0.11,10.77.0.12,10.77.0.13
       --identity "$state/id_ed25519" --known-hosts "$state/known_hosts"
       --pki-dir "$pki"
       --flanneld "$flanneld")

start=$SECONDS
echo "== embed: first apply"
"${embed[@]}"
first=$((SECONDS - start))
echo "== embed: second apply (must change nothing)"
"${embed[@]}" --expect-unchanged
echo "== embed on the test hosts: ok (first apply ${first} s, total $((SECONDS - start)) s)"
