"""The stubs match the built module (mypy stubtest; the data classes'
fields and the builders' keywords, which stubtest cannot see, against the
core's), type-check the example, and the example runs; every public class
and method has a docstring."""

import ast
import inspect
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import check_fields, stub_class

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


def test_data_classes_have_the_stubs_fields(tutorial_spec: kb.ClusterSpec, tmp_path: Path) -> None:
    # Every field of the core type is an attribute; the stub must declare it
    # (a field added in the core fails here until the stub names it).
    spec = kb.ClusterSpec.from_dict({
        "hosts": [{"name": "etcd01", "address": "127.0.0.1", "roles": ["etcd", "node"], "ssh": {"user": "root", "port": 1}}],
        "versions": {"etcd": "3.4.23", "flannel": "0.26.1"},
        "pki": {"key_algorithm": "ecdsa-p256"},
        "network": {"pod_cidr": "172.17.0.0/16"},
    })
    (warning,) = spec.validate()
    h = tutorial_spec.render()["etcd01"]
    issued = kb.CertBundle.for_cluster(spec).generate()
    c = kb.Cluster(spec, pki_dir=tmp_path / "pki", connect_timeout=3)
    plan, status = c.plan(), c.status()
    member = c.add_member("etcd02=127.0.0.2")
    for obj in [warning, h["/opt/etcd/cfg/etcd"], h.commands[0], h.certs[0], issued, issued.files["ca.pem"],
                issued.actions[0], kb.CertBundle.inspect(issued.as_existing())[0], plan, plan.hosts["etcd01"],
                plan.failures[0], status, status.hosts["etcd01"], member]:
        check_fields(obj)


def test_builder_keywords_are_the_core_fields() -> None:
    for cls, kw in [(kb.EtcdCluster, {}), (kb.FlannelConfig, {}), (kb.DockerUnit, {}), (kb.HostPrep, {"hostname": "etcd01"})]:
        new = next(n for n in stub_class(cls.__name__).body if isinstance(n, ast.FunctionDef) and n.name == "__new__")
        assert {a.arg for a in new.args.kwonlyargs} == set(cls(**kw).to_dict()), cls.__name__  # type: ignore[operator]
    with pytest.raises(TypeError, match="unexpected keyword argument 'clinet_port'"):
        kb.EtcdCluster(clinet_port=2379)  # type: ignore[call-arg]
