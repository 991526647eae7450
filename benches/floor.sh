#!/usr/bin/env bash
# The floor under an apply: what the hosts themselves take for the steps
# no tool can skip, measured on the test hosts without k8s-bootstrap in
# the timed part (issue 17: "the floor, measured and written beside the
# results"). Per run, on 3 fresh test hosts of examples/testbed-cluster.yaml:
#   copy      the 3 binaries (etcd, etcdctl, flanneld, ~93 MB) to the 3 hosts at
#             once with OpenSSH's scp (one connection per host), to /tmp
#   reload    `systemctl daemon-reload` on one host (median of 5)
#   etcd      `systemctl start --no-block etcd` on the 3 members at the same
#             instant (each host waits for the same clock time), until
#             `etcdctl endpoint health --cluster` passes, polled every 20 ms on
#             etcd01 itself (the cluster's own start: bootstrap check, election)
#   flanneld  `systemctl start flanneld` on the 3 hosts at once (Type=notify:
#             it returns when flanneld has its lease and wrote subnet.env)
#   dockerd   `systemctl start docker` on the 3 hosts at once (Type=notify)
# Everything a step needs is put in place first by `k8s-bootstrap apply
# --phase install` (files, units, enabled, nothing started) and, for
# flanneld, `--phase flannel-config`. Times are taken on the hosts with
# `date +%s%N` (the test hosts share this machine's clock), so no SSH
# connection is inside a timed step except for `copy`. The round trips
# (one connect, one exchange on an open session) are criterion's:
#   cargo bench -p k8s-bootstrap-benches --bench transport -- 'round_trip/russh_new_connection|session_vs_channel/root_exchange_on_open_session'
#
# Usage (root, after scripts/setup): benches/floor.sh [RUNS]   (default 3)
set -euo pipefail
runs=${1:-3}
. "$(dirname "$0")/testbed-bench.sh"
ips=(10.77.0.11 10.77.0.12 10.77.0.13)
. "$(dirname "$0")/at-once.sh"
on() { ssh "${key[@]}" "root@$1" "$2"; }
apply() { "$bin/k8s-bootstrap" apply --spec "$spec" --known-hosts "$tb/known_hosts" --pki-dir "$work/pki" --phase "$1" -q >/dev/null; }
cache=${K8S_BOOTSTRAP_CACHE:-/var/cache/k8s-bootstrap}
bins=(/usr/bin/etcd /usr/bin/etcdctl "$cache/bin/flanneld")
mb=$(stat -Lc %s "${bins[@]}" | awk '{ n += $1 } END { printf "%.0f", n / 1e6 }')
printf '| run | copy %s MB to 3 hosts (scp) | daemon-reload | etcd start to healthy (3 members) | flanneld start | dockerd start |\n|---:|---:|---:|---:|---:|---:|\n' "$mb"
for r in $(seq "$runs"); do
  "$bin/k8s-bootstrap-testbed" up 3 >/dev/null
  up=1
  t0=$(date +%s%N)
  for ip in "${ips[@]}"; do scp "${key[@]}" "${bins[@]}" "root@$ip:/tmp/" & done
  wait
  copy=$(ms "$t0" "$(date +%s%N)")
  apply install
  reload=$(on "${ips[0]}" 'for i in 1 2 3 4 5; do s=$(date +%s%N); systemctl daemon-reload; echo $(( ($(date +%s%N) - s) / 1000000 )); done' | sort -n | sed -n 3p)
  etcd=$(together 3 'systemctl start --no-block etcd; until /opt/etcd/bin/etcdctl-admin endpoint health --cluster >/dev/null 2>&1; do sleep 0.02; done')
  apply flannel-config
  flanneld=$(together 3 'systemctl start flanneld')
  dockerd=$(together 3 'systemctl start docker')
  printf '| %s | %s ms | %s ms | %s ms | %s ms | %s ms |\n' "$r" "$copy" "$reload" "$etcd" "$flanneld" "$dockerd"
  "$bin/k8s-bootstrap-testbed" down >/dev/null
  up=
done
