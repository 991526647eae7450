#!/usr/bin/env bash
# Apply time for 3, 10 and 30 hosts (etcd on the first 3, every host a
# flannel + docker node), on fresh test hosts: zero to healthy (etcd,
# flannel's config, flanneld and docker started on every host), then a
# no-op re-apply; with the CPU time and the peak RSS of the CLI process
# (GNU time) in each. The binaries sent are etcd and etcdctl (3.4.23, Debian's) and the
# flanneld scripts/setup builds: ~94 MB to each etcd member, ~55 MB to
# each other node.
# Usage (root, after scripts/setup): benches/apply-scale.sh [SIZES...]
set -euo pipefail
sizes=("${@:-3 10 30}")
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cargo build -q --release -p k8s-bootstrap-cli -p k8s-bootstrap-testbed
bin=target/release
tb=/run/k8s-bootstrap-testbed
work=$(mktemp -d)
trap '$bin/k8s-bootstrap-testbed down >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
flanneld=${K8S_BOOTSTRAP_CACHE:-/var/cache/k8s-bootstrap}/bin/flanneld
[ -x "$flanneld" ] || { echo "$0: $flanneld is missing: run scripts/setup first" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "$0: GNU time (/usr/bin/time, Debian package time) is needed for the peak RSS" >&2; exit 1; }
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
binaries: { etcd: /usr/bin/etcd, etcdctl: /usr/bin/etcdctl, flanneld: FLANNELD }
layout: { dockerd: /usr/sbin/dockerd }
docker: { storage_driver: vfs, data_root: /var/lib/docker-testbed }
hostprep: { time_sync: leave, swap_off: false }
YAML
  } | sed "s|FLANNELD|$flanneld|" > "$work/spec-$1.yaml"
}

printf '| hosts | zero to healthy | its CPU (user+sys) | peak RSS | no-op re-apply | its CPU | peak RSS |\n|---:|---:|---:|---:|---:|---:|---:|\n'
# GNU time's last line: peak RSS (KiB), user and sys seconds of the CLI process.
rss() { tail -n1 "$1" | awk '{ printf "%d MB", $1 / 1024 }'; }
cpu() { tail -n1 "$1" | awk '{ printf "%.2f s", $2 + $3 }'; }
for n in ${sizes[*]}; do
  spec "$n"
  $bin/k8s-bootstrap-testbed up "$n" >/dev/null
  rm -rf "$work/pki"
  t=$(now); /usr/bin/time -f "%M %U %S" -o "$work/rss-a" $bin/k8s-bootstrap apply --spec "$work/spec-$n.yaml" --known-hosts $tb/known_hosts --pki-dir "$work/pki" --concurrency 32 > "$work/apply-$n.log" 2>&1 || { cat "$work/apply-$n.log"; exit 1; }; a=$(since "$t")
  t=$(now); /usr/bin/time -f "%M %U %S" -o "$work/rss-b" $bin/k8s-bootstrap apply --spec "$work/spec-$n.yaml" --known-hosts $tb/known_hosts --pki-dir "$work/pki" --concurrency 32 > "$work/noop-$n.log" 2>&1 || { cat "$work/noop-$n.log"; exit 1; }; b=$(since "$t")
  grep -q "flanneld.*not started\|docker not started" "$work/apply-$n.log" && { echo "the apply left flanneld or docker stopped:"; cat "$work/apply-$n.log"; exit 1; }
  grep -q "^0 changed" "$work/noop-$n.log" || { echo "no-op apply changed something:"; cat "$work/noop-$n.log"; exit 1; }
  $bin/k8s-bootstrap-testbed down >/dev/null
  printf '| %s | %s s | %s | %s | %s s | %s | %s |\n' "$n" "$a" "$(cpu "$work/rss-a")" "$(rss "$work/rss-a")" "$b" "$(cpu "$work/rss-b")" "$(rss "$work/rss-b")"
done
