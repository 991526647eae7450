"""Shared fixtures: the repository, the tutorial spec, and the Rust
renderer's output for it (from the tutorial_render example)."""

import ast
import os
import subprocess
from pathlib import Path

import pytest

import k8s_bootstrap as kb

REPO = Path(__file__).resolve().parents[2]
TUTORIAL_SPEC = REPO / "examples" / "tutorial-cluster.yaml"


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def tutorial_yaml() -> str:
    return TUTORIAL_SPEC.read_text()


@pytest.fixture(scope="session")
def tutorial_spec() -> kb.ClusterSpec:
    return kb.ClusterSpec.from_file(TUTORIAL_SPEC)


@pytest.fixture(scope="session")
def rust_render(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """OUT/<host>/<abs path> and OUT/<host>/commands.sh, as the Rust
    example `tutorial_render` writes them for the tutorial spec."""
    out = tmp_path_factory.mktemp("rust-render")
    cmd = [
        "cargo", "run", "-q", "-p", "k8s-bootstrap-examples", "--example", "tutorial_render",
        "--", str(TUTORIAL_SPEC), str(out),
    ]
    subprocess.run(cmd, cwd=REPO, check=True, env={**os.environ, "CARGO_TERM_COLOR": "never"})
    return out


@pytest.fixture
def minimal_yaml() -> str:
    return (
        "hosts:\n"
        "  - { name: etcd01, address: 192.168.1.30, roles: [etcd, node] }\n"
        "  - { name: etcd02, address: 192.168.1.31, roles: [etcd, node] }\n"
        "  - { name: etcd03, address: 192.168.1.32, roles: [etcd, node] }\n"
        'versions: { etcd: "3.5.17", flannel: "0.26.1" }\n'
    )


STUB = REPO / "k8s-bootstrap-py" / "k8s_bootstrap.pyi"


def stub_class(name: str) -> "ast.ClassDef":
    tree = ast.parse(STUB.read_text())
    return next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == name)


def stub_fields(name: str) -> set[str]:
    """The attributes the stub declares for data class `name`."""
    body = stub_class(name).body
    return {n.target.id for n in body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)} - {"__hash__"}


def check_fields(obj: object) -> None:
    """A data class's fields (made from its core type) are the stub's attributes."""
    fields = set(obj.__dir__()) - set(dir(type(obj)))
    assert fields == stub_fields(type(obj).__name__), type(obj).__name__
