#!/usr/bin/env python3
"""Parsing, validating and rendering the 1000-host cluster spec from Python,
to compare with the Rust benchmark of the same spec (benches/render.rs,
group spec_1000_hosts): the difference is the binding's overhead, mostly
turning the render into Python objects (one RenderedFile with its bytes per
file, one Command per command).

    pip install ./k8s-bootstrap-py          # a release build
    python benches/py_render_bench.py [--hosts 1000] [--runs 20]
    cargo bench -p k8s-bootstrap-benches --bench render    # the Rust side

Prints the minimum and median of each step, in milliseconds. "render, core
only" is the Rust render called through the binding without building Python
objects (ClusterSpec._render_core_only): "render" minus it is the overhead
of the binding in the same process and under the same load.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable

import k8s_bootstrap as kb


def spec_yaml(n: int) -> str:
    """The spec of benches/render.rs: the first three hosts are etcd members
    and nodes, the rest nodes, on 192.168.0.0/16; etcd 3.5, flannel 0.26."""
    lines = ["hosts:"]
    for i in range(n):
        roles = "[etcd, node]" if i < 3 else "[node]"
        lines.append(
            f"  - {{ name: node{i:04}, address: 192.168.{i // 250}.{i % 250 + 1}, roles: {roles}, ssh: {{ user: root }} }}"
        )
    return (
        "\n".join(lines)
        + "\n"
        + 'versions: { etcd: "3.5.17", flannel: "0.26.1" }\n'
        + "network: { pod_cidr: 10.0.0.0/12, subnet_len: 24, service_cidr: 172.30.0.0/16 }\n"
        + 'docker: { registry_mirrors: ["https://mirror.example.com"] }\n'
    )


def bench(name: str, f: Callable[[], object], runs: int) -> None:
    f()  # warm up
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        f()
        times.append((time.perf_counter() - t) * 1000)
    print(f"{name:<40} min {min(times):8.2f} ms   median {statistics.median(times):8.2f} ms   ({runs} runs)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hosts", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()

    yaml = spec_yaml(args.hosts)
    spec = kb.ClusterSpec.from_yaml(yaml)
    assert spec.validate() == []
    rendered = spec.render()
    assert len(rendered) == args.hosts
    files = sum(len(h) for h in rendered.values())
    commands = sum(len(h.commands) for h in rendered.values())
    print(f"k8s_bootstrap {kb.__version__}: {args.hosts} hosts, {files} files, {commands} commands")

    def touch_all() -> None:
        for h in spec.render().values():
            for f in h.values():
                f.content
            for c in h.commands:
                c.argv

    d = spec.to_dict()
    bench("parse (from_yaml)", lambda: kb.ClusterSpec.from_yaml(yaml), args.runs)
    bench("validate", spec.validate, args.runs)
    bench("render, core only (no Python objects)", spec._render_core_only, args.runs)
    bench("render", spec.render, args.runs)
    bench("parse_validate_render", lambda: kb.ClusterSpec.from_yaml(yaml).render(), args.runs)
    bench("render + read every file", touch_all, args.runs)
    bench("to_dict", spec.to_dict, args.runs)
    bench("from_dict", lambda: kb.ClusterSpec.from_dict(d), args.runs)


if __name__ == "__main__":
    main()
