"""The tutorial's 3-member TLS etcd and flannel's network config, as a pyinfra deploy.

The same work as `k8s-bootstrap apply --phase flannel-config` on
examples/testbed-cluster.yaml (host preparation, every file, enable, start
etcd, health gate, flannel's config), with the very files k8s-bootstrap
renders and its PKI. Idempotent: a second run reports no change.

    pyinfra -y inventory.py deploy.py     # environment: see inventory.py

Run with `-y`: pyinfra then skips its change-detection pass before
executing, and every operation reads its facts when it runs (so a check
that needs the etcd started by an earlier operation sees it). pyinfra's
server.modprobe reads /proc/modules, which a kernel without loadable
modules does not have: the module and firewall steps are guarded commands
(`shell_unless`) with the same checks k8s-bootstrap makes.
"""

import os
import shlex

from pyinfra import host
from pyinfra.api import operation
from pyinfra.facts.server import Command
from pyinfra.operations import files, server, systemd
from pyinfra.operations.util import any_changed


@operation()
def shell_unless(check: str, command: str):
    """Run COMMAND when the shell test CHECK fails; no change when it passes."""
    if host.get_fact(Command, command=f"if {check}; then echo yes; else echo no; fi") == "yes":
        host.noop("already done")
        return
    yield command


name = host.name
render = os.path.join(host.data.render_dir, name)
pki = host.data.pki_dir
admin = "/opt/etcd/bin/etcdctl-admin"

# --- host preparation (k8s-bootstrap's host-prep stage) ---
server.hostname(name="Set the hostname", hostname=name)

for port in ("2379/tcp", "2380/tcp", "8472/udp"):
    shell_unless(
        name=f"Open {port} in firewalld",
        check=(
            f"if systemctl is-active --quiet firewalld; then firewall-cmd --query-port={port} >/dev/null"
            f" && firewall-cmd --permanent --query-port={port} >/dev/null;"
            f" else ! command -v firewall-offline-cmd >/dev/null || firewall-offline-cmd --query-port={port} >/dev/null; fi"
        ),
        command=(
            f"if systemctl is-active --quiet firewalld; then firewall-cmd --add-port={port}"
            f" && firewall-cmd --permanent --add-port={port}; else firewall-offline-cmd --add-port={port}; fi"
        ),
    )
    shell_unless(
        name=f"Open {port} in ufw",
        check=f"! command -v ufw >/dev/null || ! ufw status | grep -q '^Status: active' || ufw status | grep -q '^{port} '",
        command=f"ufw allow {port}",
    )

builtin = '"/lib/modules/$(uname -r)/modules.builtin"'
shell_unless(
    name="Load the overlay kernel module",
    check=f"[ -d /sys/module/overlay ] || grep -qs /overlay.ko {builtin} || grep -qw overlay /proc/filesystems",
    command="modprobe overlay",
)
shell_unless(
    name="Load the br_netfilter kernel module",
    check=f"[ -d /sys/module/br_netfilter ] || grep -qs /br_netfilter.ko {builtin} || [ -d /proc/sys/net/bridge ]",
    command="modprobe br_netfilter",
)
for key in ("net.ipv4.ip_forward", "net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables"):
    server.sysctl(name=f"Set {key} = 1", key=key, value=1)

# --- files (k8s-bootstrap's files stage) ---
for d in ("/opt/etcd/bin", "/opt/etcd/cfg", "/opt/etcd/ssl", "/opt/kubernetes/bin", "/opt/kubernetes/cfg",
          "/opt/kubernetes/ssl", "/etc/docker"):
    files.directory(name=f"Directory {d}", path=d, mode="755")

for src, dest in ((host.data.etcd_bin, "/opt/etcd/bin/etcd"), (host.data.etcdctl_bin, "/opt/etcd/bin/etcdctl"),
                  (host.data.flanneld_bin, "/opt/kubernetes/bin/flanneld")):
    files.put(name=f"Binary {dest}", src=src, dest=dest, mode="755")

certs = [("/opt/etcd/ssl", c) for c in ("ca.pem", f"{name}-server.pem", f"{name}-server-key.pem", f"{name}-peer.pem",
                                        f"{name}-peer-key.pem", "admin.pem", "admin-key.pem")]
certs += [("/opt/kubernetes/ssl", c) for c in ("ca.pem", "flanneld.pem", "flanneld-key.pem")]
for d, c in certs:
    files.put(name=f"Certificate {d}/{c}", src=os.path.join(pki, c), dest=f"{d}/{c}",
              mode="600" if c.endswith("-key.pem") else "644")

# Env files, units, etcdctl-admin, docker's daemon.json, the modules-load.d
# and sysctl.d files: RENDER/HOST/PATH -> PATH, with the rendered mode.
rendered = []
for top, _dirs, names in sorted(os.walk(render)):
    for f in sorted(names):
        if top == render and f == "commands.sh":
            continue
        src = os.path.join(top, f)
        dest = "/" + os.path.relpath(src, render)
        rendered.append(files.put(name=f"Rendered {dest}", src=src, dest=dest, mode=True))

# --- install (k8s-bootstrap's install stage) ---
systemd.daemon_reload(name="Reload systemd if a unit changed", _if=any_changed(*rendered))
files.directory(name="Etcd's data dir, readable by root only", path="/var/lib/etcd/default.etcd", mode="700")
for unit in ("etcd", "flanneld", "docker"):
    systemd.service(name=f"Enable {unit} at boot", service=unit, running=None, enabled=True)

# --- etcd (k8s-bootstrap's etcd stage) ---
# All hosts at once (pyinfra runs each operation on every host in parallel):
# a member's start returns once a quorum is up.
systemd.service(name="Start etcd", service="etcd", running=True)
shell_unless(
    name="Wait until every member is healthy",
    check=f"{admin} endpoint health --cluster >/dev/null 2>&1",
    command=f"timeout 120 sh -c 'until {admin} endpoint health --cluster >/dev/null 2>&1; do sleep 0.5; done'",
    _run_once=True,
)

# --- flannel-config (k8s-bootstrap's flannel-config stage) ---
flannel = shlex.quote(host.data.flannel_config)
shell_unless(
    name="Write flannel's network config",
    check=f'[ "$({admin} get --print-value-only /coreos.com/network/config)" = {flannel} ]',
    command=f"{admin} put /coreos.com/network/config {flannel}",
    _run_once=True,
)
