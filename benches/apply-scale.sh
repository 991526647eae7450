#!/usr/bin/env bash
# Apply time for 3, 10 and 30 hosts (etcd on the first 3, every host a
# flannel + docker node), on fresh test hosts: zero to healthy (etcd,
# flannel's config, flanneld and docker started on every host), then a
# no-op re-apply; with the CPU time and the peak RSS of the CLI process
# (GNU time) in each. The binaries sent are etcd and etcdctl (3.4.23, Debian's) and the
# flanneld scripts/setup builds: ~94 MB to each etcd member, ~55 MB to
# each other node.
#
# Then, per size, the floor on fresh hosts of that size: what the hosts
# themselves take for the steps no tool can skip, without k8s-bootstrap in
# the timed part (as benches/floor.sh does for 3 hosts), every step on all
# hosts at once, timed on the hosts (they share this machine's clock):
#   connect   one SSH connection per host running `true`, at most 32 at a
#             time: what a no-op re-apply cannot go below (its floor; not in
#             the sum)
#   copy      the binaries each host gets (as above) with OpenSSH's scp, one
#             connection per host, at most 32 at a time (as --concurrency 32)
#   ports     one firewall-offline-cmd per host, opening the spec's ports
#   reload    systemctl daemon-reload
#   etcd      start the 3 members in turn, each once the one before
#             answers a TLS handshake on its peer port (as the engine does),
#             until `etcdctl endpoint health --cluster` passes on every
#             member (polled every 20 ms)
#   flanneld  systemctl start flanneld (returns once subnet.env is written)
#   dockerd   systemctl start docker
# Everything else a step needs is put in place, untimed, by `k8s-bootstrap
# apply --phase install` and `--phase flannel-config`. The sum is the
# floor at that size: all the hosts share this machine's 2 cores, so it
# grows with the number of hosts whatever the tool does.
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
. "$(dirname "$0")/at-once.sh"
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
  t=$(now); /usr/bin/time -f "%M %U %S" -o "$work/rss-a" $bin/k8s-bootstrap apply --spec "$work/spec-$n.yaml" --known-hosts $tb/known_hosts --pki-dir "$work/pki-$n" --concurrency 32 > "$work/apply-$n.log" 2>&1 || { cat "$work/apply-$n.log"; exit 1; }; a=$(since "$t")
  t=$(now); /usr/bin/time -f "%M %U %S" -o "$work/rss-b" $bin/k8s-bootstrap apply --spec "$work/spec-$n.yaml" --known-hosts $tb/known_hosts --pki-dir "$work/pki-$n" --concurrency 32 > "$work/noop-$n.log" 2>&1 || { cat "$work/noop-$n.log"; exit 1; }; b=$(since "$t")
  grep -q "flanneld.*not started\|docker not started" "$work/apply-$n.log" && { echo "the apply left flanneld or docker stopped:"; cat "$work/apply-$n.log"; exit 1; }
  grep -q "^0 changed" "$work/noop-$n.log" || { echo "no-op apply changed something:"; cat "$work/noop-$n.log"; exit 1; }
  $bin/k8s-bootstrap-testbed down >/dev/null
  printf '| %s | %s s | %s | %s | %s s | %s | %s |\n' "$n" "$a" "$(cpu "$work/rss-a")" "$(rss "$work/rss-a")" "$b" "$(cpu "$work/rss-b")" "$(rss "$work/rss-b")"
done

# The floor, per size: see the top of this file.
echo
printf '| hosts | connect (no-op floor) | copy (scp) | ports (firewall-offline-cmd) | daemon-reload | etcd start to healthy | flanneld start | dockerd start | floor (sum) |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n'
for n in ${sizes[*]}; do
  $bin/k8s-bootstrap-testbed up "$n" >/dev/null
  t0=$(date +%s%N)
  for i in $(seq "$n"); do
    while [ "$(jobs -rp | wc -l)" -ge 32 ]; do wait -n; done
    ssh "${key[@]}" "root@10.77.0.$((10 + i))" true &
  done
  wait
  conn=$(ms "$t0" "$(date +%s%N)")
  t0=$(date +%s%N)
  for i in $(seq "$n"); do
    while [ "$(jobs -rp | wc -l)" -ge 32 ]; do wait -n; done
    files=("$flanneld"); [ "$i" -gt 3 ] || files+=(/usr/bin/etcd /usr/bin/etcdctl)
    scp "${key[@]}" "${files[@]}" "root@10.77.0.$((10 + i)):/tmp/" &
  done
  wait
  copy=$(ms "$t0" "$(date +%s%N)")
  ports=$(together "$n" 'firewall-offline-cmd --add-port=2379/tcp --add-port=2380/tcp --add-port=8472/udp >/dev/null')
  $bin/k8s-bootstrap apply --spec "$work/spec-$n.yaml" --known-hosts $tb/known_hosts --pki-dir "$work/pki-$n" --concurrency 32 --phase install -q > "$work/floor-$n.log" 2>&1 || { cat "$work/floor-$n.log"; exit 1; }
  reload=$(together "$n" 'systemctl daemon-reload')
  # in turn, as the engine starts them (PeerWait in the plan): a member
  # once the one before answers a TLS handshake on its peer port (started
  # at the same instant, they often wait out etcd's 1 s bootstrap check)
  etcd=$(together 3 'if [ "$i" -gt 1 ]; then until timeout 0.3 openssl s_client -connect 10.77.0.$((9 + i)):2380 -cert /opt/etcd/ssl/host0$i-peer.pem -key /opt/etcd/ssl/host0$i-peer-key.pem < /dev/null > /dev/null 2>&1; do sleep 0.02; done; fi; systemctl start --no-block etcd; until /opt/etcd/bin/etcdctl-admin endpoint health --cluster >/dev/null 2>&1; do sleep 0.02; done')
  $bin/k8s-bootstrap apply --spec "$work/spec-$n.yaml" --known-hosts $tb/known_hosts --pki-dir "$work/pki-$n" --concurrency 32 --phase flannel-config -q > "$work/floor-$n.log" 2>&1 || { cat "$work/floor-$n.log"; exit 1; }
  # flanneld can lose a race for a subnet lease to another host starting
  # at the same instant ("subnet already exists"): started again, as the
  # engine does
  fl=$(together "$n" 'for i in 1 2 3; do systemctl start flanneld 2> /dev/null && break; done')
  dk=$(together "$n" 'systemctl start docker')
  $bin/k8s-bootstrap-testbed down >/dev/null
  printf '| %s | %s ms | %s ms | %s ms | %s ms | %s ms | %s ms | %s ms | %s ms |\n' "$n" "$conn" "$copy" "$ports" "$reload" "$etcd" "$fl" "$dk" $((copy + ports + reload + etcd + fl + dk))
done
