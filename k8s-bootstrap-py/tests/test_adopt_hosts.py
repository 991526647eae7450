"""``k8s_bootstrap.adopt`` on the tutorial's cluster built by hand on 3 real
test hosts (``k8s-bootstrap-testbed tutorial v3``: cfssl, one shared
server.pem, the CA key left in ~/k8s/etcd-cert on etcd01): the spec and the
CA it writes, the ids etcd itself reports, and its refusals as Python
exceptions. The migration itself is tested in Rust (adopt_testbed.rs).

Needs root: without it the tests fail (never skip).
"""

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import on, cli_of_testbed

import k8s_bootstrap as kb

HOSTS = ["etcd01=10.77.0.11", "etcd02=10.77.0.12", "etcd03=10.77.0.13"]
ETCDCTL = ("ETCDCTL_API=3 /opt/etcd/bin/etcdctl --cacert=/opt/etcd/ssl/ca.pem --cert=/opt/etcd/ssl/server.pem "
           "--key=/opt/etcd/ssl/server-key.pem --endpoints=https://10.77.0.11:2379")


@pytest.fixture(scope="module")
def tutorial(testbed: Path) -> Path:
    """The tutorial's etcd on the testbed; cfssl's folder."""
    out = subprocess.run([cli_of_testbed(), "tutorial", "v3"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, f"k8s-bootstrap-testbed tutorial v3 failed:\n{out.stdout}{out.stderr}"
    return testbed / "tutorial-certs"


def ssh_config(testbed: Path, tmp: Path) -> Path:
    p = tmp / "ssh_config"
    p.write_text(f"Host 10.77.0.*\n  User root\n  IdentityFile {testbed / 'id_ed25519'}\n")
    return p


def test_adopt_writes_the_spec_and_imports_the_ca(testbed: Path, tutorial: Path, tmp_path: Path) -> None:
    out = tmp_path / "cluster.yaml"
    kw: dict[str, Any] = {"known_hosts": testbed / "known_hosts", "ssh_config": ssh_config(testbed, tmp_path)}
    r = kb.adopt(HOSTS, out=out, **kw)
    listed = json.loads(on(testbed, "10.77.0.11", "sh", "-c", f"'{ETCDCTL} -w json member list'"))
    assert r["cluster_id"] == format(listed["header"]["cluster_id"], "x")
    assert r["member_ids"] == {m["name"]: format(m["ID"], "x") for m in listed["members"]}
    assert r["ca_key_from"] == "etcd01:/root/k8s/etcd-cert/ca-key.pem"
    assert any("no client-cert-auth" in line for line in r["insecure"]), r["insecure"]
    spec = r["spec"]
    assert isinstance(spec, kb.ClusterSpec)
    d = spec.to_dict()
    assert (d["etcd"]["token"], d["etcd"]["data_dir"]) == ("etcd-cluster", "/var/lib/etcd/default.etcd")
    assert kb.ClusterSpec.from_file(out).to_dict() == d
    assert r["pki_dir"] == str(tmp_path / "pki")
    for f in ("ca.pem", "ca-key.pem"):
        assert (tmp_path / "pki" / f).read_bytes() == (tutorial / f).read_bytes()
    assert (tmp_path / "pki" / "ca-key.pem").stat().st_mode & 0o777 == 0o600

    # never over an existing spec without force: a ValidationError naming it
    with pytest.raises(kb.ValidationError) as e:
        kb.adopt(HOSTS, out=out, **kw)
    assert e.value.path == "out" and "without --force" in str(e.value)
    assert kb.adopt(HOSTS, out=out, force=True, **kw)["cluster_id"] == r["cluster_id"]


def test_adopt_refusals_are_python_exceptions_and_write_nothing(testbed: Path, tutorial: Path, tmp_path: Path) -> None:
    kw: dict[str, Any] = {"known_hosts": testbed / "known_hosts", "ssh_config": ssh_config(testbed, tmp_path)}
    # a member of the cluster left out
    with pytest.raises(kb.ValidationError) as e:
        kb.adopt(HOSTS[:2], out=tmp_path / "a.yaml", **kw)
    assert "member etcd03" in str(e.value)
    # a host that cannot be reached (no test host at .19)
    with pytest.raises(kb.ConnectionError):
        kb.adopt([*HOSTS, "etcd09=10.77.0.19"], out=tmp_path / "b.yaml", connect_timeout=2.0, **kw)
    # a bad host argument
    with pytest.raises(kb.ValidationError) as e:
        kb.adopt(["etcd01"], out=tmp_path / "c.yaml", **kw)
    assert e.value.path == "hosts"
    # a CA key of another CA, given by hand, with none on the hosts
    on(testbed, "10.77.0.11", "mv", "/root/k8s/etcd-cert/ca-key.pem", "/root/ca-key.moved")
    try:
        with pytest.raises(kb.PkiError, match="the CA key was not found"):
            kb.adopt(HOSTS, out=tmp_path / "d.yaml", **kw)
        other = tmp_path / "other"
        other.mkdir()
        subprocess.run("cfssl gencert -initca " + str(tutorial / "ca-csr.json") + " | cfssljson -bare other -",
                       shell=True, cwd=other, check=True, capture_output=True)
        with pytest.raises(kb.PkiError, match="does not belong to the CA certificate"):
            kb.adopt(HOSTS, out=tmp_path / "e.yaml", ca_key=other / "other-key.pem", **kw)
        assert kb.adopt(HOSTS, out=tmp_path / "f.yaml", ca_key=tutorial / "ca-key.pem", **kw)["ca_key_from"] == str(tutorial / "ca-key.pem")
    finally:
        on(testbed, "10.77.0.11", "mv", "/root/ca-key.moved", "/root/k8s/etcd-cert/ca-key.pem")
    for name in "abcde":
        assert not (tmp_path / f"{name}.yaml").exists(), f"a refused adopt wrote {name}.yaml"
