#!/usr/bin/env bash
# Zero-to-healthy 3-member TLS etcd on fresh test hosts, side by side in one
# run: a full `k8s-bootstrap apply` vs benches/peers/tutorial-replay.sh,
# which replays the tutorial's manual steps with ssh/scp, one host after
# another (host preparation, mkdir, scp binaries, certs, every rendered
# file; daemon-reload, enable, start etcd; then wait for health and write
# flannel's config). Both install the same files (the script copies what
# `tutorial_render` renders); the apply also starts flanneld and docker.
# Also times a no-op re-apply. Fresh hosts for every run.
# benches/apply-vs-peers.sh compares the same work (stopped at flannel's
# config) against the replay, Ansible and pyinfra.
#
# Usage (root, after scripts/setup): benches/apply-vs-script.sh [RUNS]
set -euo pipefail
runs=${1:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cargo build -q --release -p k8s-bootstrap-cli -p k8s-bootstrap-testbed
cargo build -q --release -p k8s-bootstrap-examples --examples
bin=target/release
spec=examples/testbed-cluster.yaml
tb=/run/k8s-bootstrap-testbed
work=$(mktemp -d)
trap '$bin/k8s-bootstrap-testbed down >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
$bin/examples/tutorial_render "$spec" "$work/render" >/dev/null

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
replay() { # PKI_DIR: the tutorial's steps, host after host
  benches/peers/tutorial-replay.sh "$work/render" "$1" etcd01=10.77.0.11 etcd02=10.77.0.12 etcd03=10.77.0.13
}

printf '| run | k8s-bootstrap apply (zero to healthy) | no-op re-apply | tutorial replay with ssh/scp |\n|---|---:|---:|---:|\n'
for r in $(seq "$runs"); do
  $bin/k8s-bootstrap-testbed up 3 >/dev/null
  rm -rf "$work/pki"
  t=$(now); $bin/k8s-bootstrap apply --spec $spec --known-hosts $tb/known_hosts --pki-dir "$work/pki" >/dev/null 2>&1; a=$(since "$t")
  t=$(now); $bin/k8s-bootstrap apply --spec $spec --known-hosts $tb/known_hosts --pki-dir "$work/pki" >/dev/null 2>&1; n=$(since "$t")
  $bin/k8s-bootstrap-testbed down >/dev/null
  $bin/k8s-bootstrap-testbed up 3 >/dev/null
  t=$(now); replay "$work/pki"; s=$(since "$t")
  $bin/k8s-bootstrap status --spec $spec --known-hosts $tb/known_hosts --pki-dir "$work/pki" >/dev/null  # healthy, or exit 1
  $bin/k8s-bootstrap-testbed down >/dev/null
  printf '| %s | %.2f s | %.2f s | %.2f s |\n' "$r" "$a" "$n" "$s"
done
