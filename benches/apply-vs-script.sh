#!/usr/bin/env bash
# Zero-to-healthy 3-member TLS etcd on fresh test hosts, side by side in one
# run: `k8s-bootstrap apply` vs a script that replays the tutorial's manual
# steps with ssh/scp, one host after another (mkdir, scp binaries, certs,
# env file, unit and wrapper; daemon-reload, enable, start; then wait for
# health and write flannel's config). Both install the same files (the
# script copies what `tutorial_render` renders), so the difference is the
# orchestration. Also times a no-op re-apply. Fresh hosts for every run.
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
ssh_opts=(-i $tb/id_ed25519 -o UserKnownHostsFile=$tb/known_hosts -o BatchMode=yes -o LogLevel=ERROR)

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }

replay() { # the tutorial's steps, host after host
  local pki=$1 i=0
  for h in etcd01 etcd02 etcd03; do
    i=$((i + 1)); ip=10.77.0.1$i
    ssh "${ssh_opts[@]}" root@$ip 'mkdir -p /opt/etcd/cfg /opt/etcd/bin /opt/etcd/ssl /opt/kubernetes/cfg /opt/kubernetes/bin /opt/kubernetes/ssl /var/lib/etcd/default.etcd'
    scp -q "${ssh_opts[@]}" /usr/bin/etcd /usr/bin/etcdctl root@$ip:/opt/etcd/bin/
    scp -q "${ssh_opts[@]}" $pki/ca.pem $pki/$h-server.pem $pki/$h-server-key.pem $pki/$h-peer.pem $pki/$h-peer-key.pem \
        $pki/admin.pem $pki/admin-key.pem root@$ip:/opt/etcd/ssl/
    scp -q "${ssh_opts[@]}" $pki/ca.pem $pki/flanneld.pem $pki/flanneld-key.pem root@$ip:/opt/kubernetes/ssl/
    (cd "$work/render/$h" && find . -type f ! -name commands.sh | while read -r f; do
       scp -q "${ssh_opts[@]}" "$f" "root@$ip:/${f#./}"; done)
    ssh "${ssh_opts[@]}" root@$ip 'chmod 600 /opt/etcd/ssl/*-key.pem /opt/kubernetes/ssl/*-key.pem; chmod 755 /opt/etcd/bin/*;
      systemctl daemon-reload && systemctl enable etcd flanneld docker 2>/dev/null && systemctl start --no-block etcd'
  done
  until ssh "${ssh_opts[@]}" root@10.77.0.11 /opt/etcd/bin/etcdctl-admin endpoint health --cluster >/dev/null 2>&1; do sleep 0.5; done
  ssh "${ssh_opts[@]}" root@10.77.0.11 "/opt/etcd/bin/etcdctl-admin put /coreos.com/network/config '{\"Network\":\"10.244.0.0/16\",\"SubnetLen\":24,\"Backend\":{\"Type\":\"vxlan\",\"VNI\":1,\"Port\":8472}}' >/dev/null"
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
