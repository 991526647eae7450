"""The stubs match the built module (mypy stubtest), type-check the
example, and the example runs; every public class and method has a docstring."""

import inspect
import subprocess
import sys
from pathlib import Path

import k8s_bootstrap as kb

PKG = Path(__file__).resolve().parents[1]
REPO = PKG.parent


def test_stubtest() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "k8s_bootstrap", "--allowlist", str(PKG / "stubtest-allowlist.txt")],
        capture_output=True, text=True, cwd=PKG,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_mypy_on_example_and_tests() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(REPO / "examples" / "tutorial.py")],
        capture_output=True, text=True, cwd=PKG,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    # The tests use the API as typed users would: the stubs must accept them.
    out = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", "--disallow-untyped-defs", str(PKG / "tests")],
        capture_output=True, text=True, cwd=PKG,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_docstrings() -> None:
    missing = []
    for name in kb.__all__:
        obj = getattr(kb, name)
        if not inspect.isclass(obj):
            continue
        if not obj.__doc__:
            missing.append(name)
        for attr, member in vars(obj).items():
            if attr.startswith("_"):
                continue
            if callable(member) or isinstance(member, (property, classmethod, staticmethod)) or type(member).__name__ in (
                "getset_descriptor", "method_descriptor", "classmethod_descriptor", "member_descriptor",
            ):
                if not getattr(member, "__doc__", None):
                    missing.append(f"{name}.{attr}")
    assert missing == []


def test_tutorial_example(tmp_path: Path) -> None:
    out = tmp_path / "out"
    script = REPO / "examples" / "tutorial.py"
    first = subprocess.run([sys.executable, str(script), str(REPO / "examples" / "tutorial-cluster.yaml"), str(out)],
                           capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert "pki: ca: issued (absent)" in first.stdout
    for host in ("etcd01", "etcd02", "etcd03"):
        assert (out / host / "opt/etcd/cfg/etcd").is_file()
        assert (out / host / "commands.sh").stat().st_mode & 0o777 == 0o755
        key = out / host / f"opt/etcd/ssl/{host}-server-key.pem"
        assert key.stat().st_mode & 0o777 == 0o600
        assert not (out / host / "opt/etcd/ssl/ca-key.pem").exists()  # the CA key stays on the workstation
    assert (out / "etcd01/opt/kubernetes/ssl/flanneld.pem").is_file()
    again = subprocess.run([sys.executable, str(script), str(REPO / "examples" / "tutorial-cluster.yaml"), str(out)],
                           capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert "issued" not in again.stdout and "pki: ca: kept" in again.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text((REPO / "examples" / "tutorial-cluster.yaml").read_text().replace("subnet_len: 24", "subnet_len: 31"))
    fail = subprocess.run([sys.executable, str(script), str(bad), str(tmp_path / "o2")], capture_output=True, text=True)
    assert fail.returncode == 1 and "network.subnet_len" in fail.stderr
