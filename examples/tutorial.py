#!/usr/bin/env python3
"""The tutorial's steps from Python, as far as they go today: load the
cluster spec, validate it, generate (or keep) the PKI, and render every
host's files, certificates and commands into a folder.

    pip install ./k8s-bootstrap-py
    python examples/tutorial.py [SPEC.yaml] [OUT]

OUT/pki/ holds the bundle (kept on the next run while still right);
OUT/<host>/<absolute path> holds each host's files and certificates, and
OUT/<host>/commands.sh the commands that bring the host up. Applying them
over SSH (plan/apply/status) comes with the core's runner (issue 6).
"""

from __future__ import annotations

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


def main(argv: list[str]) -> int:
    spec_path = Path(argv[1]) if len(argv) > 1 else HERE / "tutorial-cluster.yaml"
    out = Path(argv[2]) if len(argv) > 2 else Path("tutorial-out")

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
    pki_dir = out / "pki"
    existing = {p.name: p.read_bytes() for p in pki_dir.glob("*.pem")} if pki_dir.is_dir() else {}
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
        write(root / "commands.sh", r.commands_sh(host).encode(), 0o755)
        print(f"{host}: {len(r)} files, {len(r.certs)} certs, {len(r.commands)} commands -> {root}")

    # 4. Apply: not yet. The runner (plan/apply/status over SSH) is issue 6.
    print(f"rendered into {out}/<host>/; applying it to the hosts over SSH (plan/apply/status) is not bound in Python yet")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
