#!/usr/bin/env bash
# The tutorial's manual steps, replayed with ssh/scp one host after another,
# as a person following the "binary deployment" tutorial would type them:
#   per host: host preparation (hostname, open 2379/2380 tcp and 8472 udp
#   in firewalld, load overlay and br_netfilter, the three sysctls), mkdir,
#   scp etcd, etcdctl and flanneld, the certificates and keys, every file
#   k8s-bootstrap renders (env files, units, etcdctl-admin, docker's
#   daemon.json, modules-load.d and sysctl.d files), chmod 600 the keys,
#   daemon-reload, enable etcd, flanneld and docker, start etcd (--no-block);
#   then, once: wait until `etcdctl endpoint health --cluster` passes and
#   write flannel's network config into etcd.
# Not idempotent and not meant to be re-run (scp onto a running etcd fails
# with "Text file busy"): a by-hand procedure has no no-op run.
#
# Usage: benches/peers/tutorial-replay.sh RENDER_DIR PKI_DIR NAME=IP...
#   RENDER_DIR: `k8s-bootstrap render --out RENDER_DIR` (RENDER_DIR/NAME/PATH)
#   PKI_DIR:    `k8s-bootstrap certs generate --pki-dir PKI_DIR`
# Environment: TB (test hosts' key and known_hosts, /run/k8s-bootstrap-testbed),
#   BENCH_ETCD_BIN, BENCH_ETCDCTL_BIN, BENCH_FLANNELD_BIN (the binaries of examples/testbed-cluster.yaml).
# Flannel's network config is the one in the render's commands.sh.
# Called by benches/apply-vs-peers.sh and benches/apply-vs-script.sh.
# shellcheck disable=SC2029  # host names, paths and the config are expanded here, on purpose
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: $0 RENDER_DIR PKI_DIR NAME=IP..." >&2; exit 2; }
render=$1 pki=$2
shift 2
tb=${TB:-/run/k8s-bootstrap-testbed}
etcd_bin=${BENCH_ETCD_BIN:-/usr/bin/etcd}
etcdctl_bin=${BENCH_ETCDCTL_BIN:-/usr/bin/etcdctl}
flanneld_bin=${BENCH_FLANNELD_BIN:-/var/cache/k8s-bootstrap/bin/flanneld}
ssh_opts=(-i "$tb/id_ed25519" -o "UserKnownHostsFile=$tb/known_hosts" -o BatchMode=yes -o LogLevel=ERROR)
first=${1%%=*}
flannel_config=$(sed -n "s|.*etcdctl-admin put /coreos.com/network/config '\\(.*\\)'; fi\$|\\1|p" "$render/$first/commands.sh")
[ -n "$flannel_config" ] || { echo "no flannel config in $render/$first/commands.sh" >&2; exit 1; }

first_ip=
for hostspec in "$@"; do
  h=${hostspec%%=*} ip=${hostspec#*=}
  first_ip=${first_ip:-$ip}
  # Host preparation, typed in one go.
  ssh "${ssh_opts[@]}" "root@$ip" "hostnamectl set-hostname $h
    for p in 2379/tcp 2380/tcp 8472/udp; do
      if systemctl is-active --quiet firewalld; then firewall-cmd --add-port=\$p && firewall-cmd --permanent --add-port=\$p
      elif command -v firewall-offline-cmd >/dev/null; then firewall-offline-cmd --add-port=\$p; fi
    done >/dev/null
    grep -qw overlay /proc/filesystems || modprobe overlay; [ -d /proc/sys/net/bridge ] || modprobe br_netfilter
    sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1 net.bridge.bridge-nf-call-ip6tables=1"
  ssh "${ssh_opts[@]}" "root@$ip" 'mkdir -p /opt/etcd/cfg /opt/etcd/bin /opt/etcd/ssl /opt/kubernetes/cfg /opt/kubernetes/bin /opt/kubernetes/ssl /etc/docker && install -d -m 0700 /var/lib/etcd/default.etcd'
  scp -q "${ssh_opts[@]}" "$etcd_bin" "$etcdctl_bin" "root@$ip:/opt/etcd/bin/"
  scp -q "${ssh_opts[@]}" "$flanneld_bin" "root@$ip:/opt/kubernetes/bin/"
  scp -q "${ssh_opts[@]}" "$pki/ca.pem" "$pki/$h-server.pem" "$pki/$h-server-key.pem" "$pki/$h-peer.pem" "$pki/$h-peer-key.pem" \
      "$pki/admin.pem" "$pki/admin-key.pem" "root@$ip:/opt/etcd/ssl/"
  scp -q "${ssh_opts[@]}" "$pki/ca.pem" "$pki/flanneld.pem" "$pki/flanneld-key.pem" "root@$ip:/opt/kubernetes/ssl/"
  # scp -p keeps the rendered modes (0640 env file, 0750 etcdctl-admin).
  (cd "$render/$h" && find . -type f ! -name commands.sh | while read -r f; do
     scp -q -p "${ssh_opts[@]}" "$f" "root@$ip:/${f#./}" </dev/null; done)
  ssh "${ssh_opts[@]}" "root@$ip" 'chmod 600 /opt/etcd/ssl/*-key.pem /opt/kubernetes/ssl/*-key.pem; chmod 755 /opt/etcd/bin/etcd /opt/etcd/bin/etcdctl /opt/kubernetes/bin/flanneld;
    systemctl daemon-reload && systemctl enable etcd flanneld docker 2>/dev/null && systemctl start --no-block etcd'
done
until ssh "${ssh_opts[@]}" "root@$first_ip" /opt/etcd/bin/etcdctl-admin endpoint health --cluster >/dev/null 2>&1; do sleep 0.5; done
ssh "${ssh_opts[@]}" "root@$first_ip" "/opt/etcd/bin/etcdctl-admin put /coreos.com/network/config '$flannel_config' >/dev/null"
