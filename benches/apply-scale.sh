#!/usr/bin/env bash
# Apply time for 3, 10 and 30 hosts (etcd on the first 3, every host a
# flannel + docker node), on fresh test hosts: zero to healthy, then a
# no-op re-apply. Usage (root, after scripts/setup): benches/apply-scale.sh [SIZES...]
set -euo pipefail
sizes=("${@:-3 10 30}")
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cargo build -q --release -p k8s-bootstrap-cli -p k8s-bootstrap-testbed
bin=target/release
tb=/run/k8s-bootstrap-testbed
work=$(mktemp -d)
trap '$bin/k8s-bootstrap-testbed down >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

spec() { # N hosts
  {
    echo "hosts:"
    for i in $(seq "$1"); do
      role="[node]"; [ "$i" -le 3 ] && role="[etcd, node]"
      printf '  - { name: host%02d, address: 10.77.0.%d, roles: %s, ssh: { identity: %s/id_ed25519 } }\n' "$i" $((10 + i)) "$role" "$tb"
    done
    cat <<'YAML'
versions: { etcd: "3.4.23", flannel: "0.26.1" }
binaries: { etcd: /usr/bin/etcd, etcdctl: /usr/bin/etcdctl }
layout: { dockerd: /usr/sbin/dockerd }
docker: { storage_driver: vfs, data_root: /var/lib/docker-testbed }
hostprep: { time_sync: leave, swap_off: false }
YAML
  } > "$work/spec-$1.yaml"
}

printf '| hosts | zero to healthy | no-op re-apply |\n|---:|---:|---:|\n'
for n in ${sizes[*]}; do
  spec "$n"
  $bin/k8s-bootstrap-testbed up "$n" >/dev/null
  rm -rf "$work/pki"
  t=$(now); $bin/k8s-bootstrap apply --spec "$work/spec-$n.yaml" --known-hosts $tb/known_hosts --pki-dir "$work/pki" --concurrency 32 > "$work/apply-$n.log" 2>&1 || { cat "$work/apply-$n.log"; exit 1; }; a=$(since "$t")
  t=$(now); $bin/k8s-bootstrap apply --spec "$work/spec-$n.yaml" --known-hosts $tb/known_hosts --pki-dir "$work/pki" --concurrency 32 > "$work/noop-$n.log" 2>&1 || { cat "$work/noop-$n.log"; exit 1; }; b=$(since "$t")
  grep -q "^0 changed" "$work/noop-$n.log" || { echo "no-op apply changed something:"; cat "$work/noop-$n.log"; exit 1; }
  $bin/k8s-bootstrap-testbed down >/dev/null
  printf '| %s | %s s | %s s |\n' "$n" "$a" "$b"
done
