"""Shared fixtures: the repository, the tutorial spec, and the Rust
renderer's output for it (from the tutorial_render example)."""

import ast
import fcntl
import os
import subprocess
import time
from collections.abc import Iterator
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


# ---------------------------------------------------------------- real test hosts

TESTBED_DIR = Path("/run/k8s-bootstrap-testbed")
TESTBED_LOCK = "/run/k8s-bootstrap-testbed.lock"


def need_root() -> None:
    if os.geteuid() == 0:
        return
    pytest.fail("needs root: boots real test hosts with k8s-bootstrap-testbed (network namespaces, systemd, sshd); "
                "run scripts/setup and scripts/test as root", pytrace=False)


@pytest.fixture(scope="module")
def testbed() -> Iterator[Path]:
    """3 test hosts (etcd01-03 = 10.77.0.11-13) from the testbed CLI, torn
    down at the end whatever happens. While they run, this process holds the
    testbed lock, so that a `cargo test` started meanwhile waits for them."""
    need_root()
    subprocess.run(["cargo", "build", "-q", "-p", "k8s-bootstrap-testbed"], cwd=REPO, check=True)
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    cli = str(target / "debug" / "k8s-bootstrap-testbed")
    lock = os.open(TESTBED_LOCK, os.O_CREAT | os.O_WRONLY, 0o644)
    started = False
    try:
        deadline = time.monotonic() + 600
        while True:
            try:
                up = subprocess.run([cli, "up", "3"], capture_output=True, text=True, timeout=300)
            except subprocess.TimeoutExpired:
                started = True  # it may have left hosts behind
                raise
            # Someone's testbed started by hand (`up`) is running: wait for its `down`.
            if up.returncode == 0 or "down` first" not in up.stderr or time.monotonic() > deadline:
                break
            time.sleep(2)
        # A failed `up` has removed what it started (or refused to touch a
        # testbed someone started by hand): nothing of ours to tear down.
        assert up.returncode == 0, f"k8s-bootstrap-testbed up 3 failed:\n{up.stdout}{up.stderr}"
        started = True
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield TESTBED_DIR
    finally:
        try:
            if started:
                down = subprocess.run([cli, "down"], capture_output=True, text=True, timeout=300)
                assert down.returncode == 0, f"k8s-bootstrap-testbed down failed:\n{down.stdout}{down.stderr}"
        finally:
            os.close(lock)


def cli_of_testbed() -> str:
    """The testbed CLI the `testbed` fixture built."""
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    return str(target / "debug" / "k8s-bootstrap-testbed")


def on(testbed: Path, address: str, *argv: str) -> str:
    """A command on a test host, over the testbed's SSH."""
    ssh = ["ssh", "-i", str(testbed / "id_ed25519"), "-o", f"UserKnownHostsFile={testbed / 'known_hosts'}",
           "-o", "BatchMode=yes", f"root@{address}", *argv]
    return subprocess.run(ssh, check=True, capture_output=True, text=True, timeout=60).stdout
