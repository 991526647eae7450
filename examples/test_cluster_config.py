"""Unit tests for YOUR cluster config in Python, with no hosts: plain pytest.

Copy this file next to your cluster.yaml, point SPEC at it, keep the
assertions that matter to you:

    pip install ./k8s-bootstrap-py pytest
    pytest -q examples/test_cluster_config.py

Rendering does no I/O, so the whole file runs in well under a second.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import k8s_bootstrap as kb

SPEC = Path(__file__).resolve().parent / "tutorial-cluster.yaml"


@pytest.fixture(scope="module")
def spec() -> kb.ClusterSpec:
    s = kb.ClusterSpec.from_file(SPEC)
    assert s.validate() == [], "cluster.yaml has warnings"
    return s


@pytest.fixture(scope="module")
def rendered(spec: kb.ClusterSpec) -> kb.RenderedCluster:
    return spec.render()


def spec_dict() -> dict:
    """The spec as plain data, to change one field per test."""
    return kb.ClusterSpec.from_file(SPEC).to_dict()


# ---- the rendered files ------------------------------------------------------


def test_every_member_names_itself(rendered: kb.RenderedCluster) -> None:
    peers = "etcd01=https://192.168.1.30:2380,etcd02=https://192.168.1.31:2380,etcd03=https://192.168.1.32:2380"
    for host, files in rendered.items():
        env = files["/opt/etcd/cfg/etcd"].text
        assert f'ETCD_NAME="{host}"' in env
        assert f'ETCD_INITIAL_CLUSTER="{peers}"' in env


def test_etcd_is_tls_only_with_client_cert_auth(rendered: kb.RenderedCluster) -> None:
    for host, files in rendered.items():
        env = files["/opt/etcd/cfg/etcd"]
        assert "http://" not in env.text, host
        assert 'ETCD_CLIENT_CERT_AUTH="true"' in env.text
        assert 'ETCD_PEER_CLIENT_CERT_AUTH="true"' in env.text
        assert env.mode == 0o640 and env.owner == "root:root"


def test_flannel_config_goes_through_the_api_flannel_reads(rendered: kb.RenderedCluster) -> None:
    writes = [(h, c) for h, r in rendered.items() for c in r.commands if c.phase == "flannel-config"]
    assert len(writes) == 1
    host, cmd = writes[0]
    assert host == "etcd01"
    assert cmd.argv[:3] == ["/opt/etcd/bin/etcdctl-admin-v2", "set", "/coreos.com/network/config"]
    assert json.loads(cmd.argv[3]) == {
        "Network": "10.244.0.0/16",
        "SubnetLen": 24,
        "Backend": {"Type": "vxlan", "VNI": 1, "Port": 8472},
    }


def test_docker_takes_its_bridge_from_flanneld_lease(rendered: kb.RenderedCluster) -> None:
    for host, files in rendered.items():
        unit = files["/usr/lib/systemd/system/docker.service"].text
        assert "EnvironmentFile=/run/flannel/subnet.env\n" in unit, host
        assert "--bip=${FLANNEL_SUBNET} --mtu=${FLANNEL_MTU}" in unit, host
        assert not any(path.startswith("/run/flannel") for path in files), "flanneld alone writes its subnet file"
        daemon = json.loads(files["/etc/docker/daemon.json"].text)
        assert daemon["registry-mirrors"] == ["http://f1361db2.m.daocloud.io"]
        assert "bip" not in daemon


def test_each_member_gets_only_its_own_keys(rendered: kb.RenderedCluster) -> None:
    for host, r in rendered.items():
        keys = [c.key_path for c in r.certs if c.key_path]
        assert f"/opt/etcd/ssl/{host}-server-key.pem" in keys
        assert not [k for k in keys if "-server-" in k and host not in k]


# ---- the rules: a bad change fails before any host is touched ----------------


def test_duplicate_address_is_named_by_field_path() -> None:
    d = spec_dict()
    d["hosts"][2]["address"] = d["hosts"][0]["address"]
    with pytest.raises(kb.ValidationError) as e:
        kb.ClusterSpec.from_dict(d).validate()
    assert e.value.path == "hosts[2].address"
    assert e.value.problems is not None
    assert e.value.problems[0].rule == "host addresses must be unique (also used by hosts[0])"


def test_etcd_36_cannot_serve_flannel_011() -> None:
    d = spec_dict()
    d["versions"]["etcd"] = "3.6.0"
    with pytest.raises(kb.ValidationError) as e:
        kb.ClusterSpec.from_dict(d).validate()
    assert e.value.path == "versions"
    assert "no v2 API" in (e.value.rule or "")
    assert e.value.fix == "use flannel >= 0.18 (etcd v3 API) or etcd <= 3.5"


def test_yaml_typo_carries_line_and_column() -> None:
    text = SPEC.read_text().replace("subnet_len: 24", "subnet_lenght: 24")
    with pytest.raises(kb.ValidationError) as e:
        kb.ClusterSpec.from_yaml(text)
    assert e.value.path == "network.subnet_lenght"
    assert e.value.line == 1 + next(i for i, l in enumerate(text.splitlines()) if "subnet_lenght" in l)
    assert "unknown field" in str(e.value)


def test_the_tutorials_pod_network_is_a_warning() -> None:
    d = spec_dict()
    d["network"]["pod_cidr"] = "172.17.0.0/16"
    warnings = kb.ClusterSpec.from_dict(d).validate()
    assert [w.path for w in warnings] == ["network.pod_cidr"]
    assert "docker's default bridge" in warnings[0].rule
