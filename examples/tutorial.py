#!/usr/bin/env python3
"""The tutorial's steps from Python: load the cluster spec, validate it,
generate (or keep) the PKI, render every host's files, certificates and
commands into a folder and, with --apply, bring the hosts up over SSH.

    pip install ./k8s-bootstrap-py
    python examples/tutorial.py [SPEC.yaml] [OUT]
    python examples/tutorial.py SPEC.yaml OUT --apply [--known-hosts FILE] [--accept-new-host-keys]

OUT/pki/ holds the bundle (kept on the next run while still right);
OUT/<host>/<absolute path> holds each host's files and certificates, and
OUT/<host>/commands.sh the commands that bring the host up. --apply then
plans, applies (with the same OUT/pki) and reads the cluster's status, as
`k8s-bootstrap plan/apply/status --pki-dir OUT/pki` would.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import k8s_bootstrap as kb

HERE = Path(__file__).resolve().parent


def write(path: Path, content: bytes, mode: int) -> None:
    """Writes a file with its mode from the start (keys are never world-readable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)
        os.write(fd, content)
    finally:
        os.close(fd)


def apply(spec: kb.ClusterSpec, pki_dir: Path, known_hosts: Path | None, accept_new: bool) -> int:
    """plan, apply, status over SSH; 1 when a host failed or etcd is not healthy."""

    def show(event: dict[str, object]) -> None:
        if event["event"] in ("changed", "failed"):
            print(f"  {event['host']}: {event.get('what') or 'FAILED ' + str(event.get('error'))}")

    cluster = kb.Cluster(spec, pki_dir=pki_dir, known_hosts=known_hosts, accept_new_host_keys=accept_new)
    plan = cluster.plan()
    print(f"plan: {plan.change_count} changes")
    report = kb.Cluster(spec, pki_dir=pki_dir, known_hosts=known_hosts, accept_new_host_keys=accept_new,
                        progress=show).apply()
    for host, h in report.hosts.items():
        print(f"apply: {host}: {len(h.changes)} changed, {h.unchanged} unchanged{'' if h.ok else ', FAILED'}")
    print(f"apply: {report.change_count} changes in {report.elapsed_ms} ms")
    try:
        report.raise_for_failure()
    except kb.TransportError as e:
        print(f"apply failed: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    status = cluster.status()
    print(f"status: etcd {'healthy' if status.etcd_healthy else 'NOT healthy'}, members {', '.join(status.etcd_members)}")
    for host, hs in status.hosts.items():
        print(f"status: {host}: " + ", ".join(f"{u} {s}" for u, s in hs.units.items()))
    return 0 if status.etcd_healthy else 1


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description="The tutorial's steps from Python.")
    p.add_argument("spec", nargs="?", type=Path, default=HERE / "tutorial-cluster.yaml")
    p.add_argument("out", nargs="?", type=Path, default=Path("tutorial-out"))
    p.add_argument("--apply", action="store_true", help="then plan, apply and read the status over SSH")
    p.add_argument("--known-hosts", type=Path, help="known_hosts file (default ~/.ssh/known_hosts)")
    p.add_argument("--accept-new-host-keys", action="store_true", help="trust unknown host keys on first use")
    args = p.parse_args(argv[1:])
    spec_path: Path = args.spec
    out: Path = args.out

    # 1. The cluster spec (the tutorial's three machines).
    try:
        spec = kb.ClusterSpec.from_file(spec_path)
        warnings = spec.validate()
    except kb.ValidationError as e:
        print(f"{spec_path}: {e}", file=sys.stderr)
        return 1
    for w in warnings:
        print(f"warning: {w}")

    # 2. The PKI (the tutorial's cfssl.sh and etcd-cert.sh), kept when still right.
    # The folder holds private keys: only its owner may enter it (the
    # library refuses a PKI folder open to group or others).
    pki_dir = out / "pki"
    pki_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    existing = {p.name: p.read_bytes() for p in pki_dir.glob("*.pem")}
    issued = kb.CertBundle.for_cluster(spec).reconcile(existing)
    for bf in issued.files.values():
        write(pki_dir / bf.path, bf.content, bf.mode)
    for a in issued.actions:
        print(f"pki: {a.id}: {a.change}{f' ({a.reason})' if a.reason else ''}, valid until {a.not_after:%Y-%m-%d}")

    # 3. Every host's files, certificates and commands.
    rendered = spec.render()
    for host, r in rendered.items():
        root = out / host
        for path, f in r.items():
            write(root / path.lstrip("/"), f.content, f.mode)
        for c in r.certs:
            cert = issued.files[c.cert_file]
            write(root / c.cert_path.lstrip("/"), cert.content, cert.mode)
            if c.key_path is not None and c.key_file is not None:
                key = issued.files[c.key_file]
                write(root / c.key_path.lstrip("/"), key.content, key.mode)
        write(root / "commands.sh", spec.commands_sh(host).encode(), 0o755)
        print(f"{host}: {len(r)} files, {len(r.certs)} certs, {len(r.commands)} commands -> {root}")

    print(f"rendered into {out}/<host>/")

    # 4. Bring the hosts up over SSH, with the same PKI.
    if args.apply:
        return apply(spec, pki_dir, args.known_hosts, args.accept_new_host_keys)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
