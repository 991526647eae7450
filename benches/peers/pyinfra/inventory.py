"""pyinfra inventory of the test hosts, for deploy.py beside it.

benches/apply-vs-peers.sh sets the environment:
  BENCH_HOSTS      "etcd01=10.77.0.11 etcd02=10.77.0.12 ..."
  BENCH_RENDER     `k8s-bootstrap render --out` folder (RENDER/HOST/PATH)
  BENCH_PKI        `k8s-bootstrap certs generate --pki-dir` folder
  BENCH_FLANNEL    flannel's network config (JSON, from the render)
  BENCH_ETCD_BIN, BENCH_ETCDCTL_BIN, BENCH_FLANNELD_BIN   the binaries of the spec
  TB               the testbed folder (client key, known_hosts)
"""

import os

_tb = os.environ.get("TB", "/run/k8s-bootstrap-testbed")

_common = {
    "ssh_user": "root",
    "ssh_key": f"{_tb}/id_ed25519",
    "ssh_known_hosts_file": f"{_tb}/known_hosts",
    "ssh_strict_host_key_checking": "yes",
    "ssh_allow_agent": False,
    "ssh_look_for_keys": False,
    "render_dir": os.environ["BENCH_RENDER"],
    "pki_dir": os.environ["BENCH_PKI"],
    "flannel_config": os.environ["BENCH_FLANNEL"],
    "etcd_bin": os.environ.get("BENCH_ETCD_BIN", "/usr/bin/etcd"),
    "etcdctl_bin": os.environ.get("BENCH_ETCDCTL_BIN", "/usr/bin/etcdctl"),
    "flanneld_bin": os.environ.get("BENCH_FLANNELD_BIN", "/var/cache/k8s-bootstrap/bin/flanneld"),
}

etcd = [
    (name, {"ssh_hostname": ip, **_common})
    for name, ip in (h.split("=", 1) for h in os.environ["BENCH_HOSTS"].split())
]
