"""The builders: keyword-only, the Rust defaults, validate and render."""

import json

import pytest

import k8s_bootstrap as kb

MEMBERS = [
    {"name": "etcd01", "address": "192.168.1.30"},
    {"name": "etcd02", "address": "192.168.1.31"},
    {"name": "etcd03", "address": "192.168.1.32"},
]


def test_keyword_only() -> None:
    for cls in (kb.EtcdCluster, kb.FlannelConfig, kb.DockerUnit, kb.CertBundle):
        with pytest.raises(TypeError):
            cls("positional")  # type: ignore
    with pytest.raises(TypeError):
        kb.HostPrep()  # type: ignore[call-arg]  # hostname is required


def test_rust_defaults() -> None:
    e = kb.EtcdCluster().to_dict()
    assert (e["version"], e["client_port"], e["peer_port"]) == ("3.5.17", 2379, 2380)
    assert (e["token"], e["initial_state"], e["tls_min_version"]) == ("etcd-cluster", "new", "auto")
    assert (e["data_dir"], e["etcd_dir"]) == ("/var/lib/etcd/default.etcd", "/opt/etcd")
    assert e["members"] == [] and e["enable_v2"] is False
    f = kb.FlannelConfig().to_dict()
    assert (f["version"], f["network"], f["subnet_len"]) == ("0.26.1", "10.244.0.0/16", 24)
    assert f["backend"] == {"type": "vxlan", "vni": 1, "port": 8472, "direct_routing": False}
    assert f["etcd_endpoints"] == "https://127.0.0.1:2379"
    d = kb.DockerUnit().to_dict()
    assert (d["mode"], d["dockerd"], d["opts_file"]) == ("flannel-env", "/usr/bin/dockerd", "/run/flannel/subnet.env")
    h = kb.HostPrep(hostname="etcd01").to_dict()
    assert h["modules"] == ["overlay", "br_netfilter"]
    assert ["net.ipv4.ip_forward", "1"] in h["sysctls"]
    assert (h["selinux"], h["firewall"], h["time_sync"], h["swap_off"]) == ("permissive", "open-ports", "auto", True)
    assert kb.HostPrep(hostname=None).to_dict()["hostname"] is None


def test_etcd_cluster() -> None:
    c = kb.EtcdCluster(version="3.4.23", members=MEMBERS)
    assert c.validate() == []
    assert c.initial_cluster() == (
        "etcd01=https://192.168.1.30:2380,etcd02=https://192.168.1.31:2380,etcd03=https://192.168.1.32:2380"
    )
    assert c.client_endpoints().count("https://") == 3
    env = c.render_member("etcd02")["/opt/etcd/cfg/etcd"].text
    assert 'ETCD_NAME="etcd02"' in env and "http://" not in env
    assert c.health_command().argv[-1] == "--cluster"
    assert c == kb.EtcdCluster(version="3.4.23", members=MEMBERS)
    assert c != kb.EtcdCluster(version="3.4.23", members=MEMBERS[:1])


def test_etcd_problems_and_errors() -> None:
    c = kb.EtcdCluster(version="3.9.0", members=MEMBERS)
    problems = c.validate()
    assert [p.path for p in problems] == ["version"]
    with pytest.raises(kb.ValidationError) as ei:
        c.render_member("etcd01")
    assert ei.value.path == "version" and ei.value.value == "3.9.0"
    with pytest.raises(kb.ValidationError) as ei:
        kb.EtcdCluster(members=MEMBERS).render_member("etcd09")
    assert ei.value.path == "name" and ei.value.value == "etcd09"
    with pytest.raises(kb.ValidationError) as ei:
        kb.EtcdCluster(client_port="x")  # type: ignore[arg-type]
    assert ei.value.path == "client_port"
    with pytest.raises(kb.ValidationError) as ei:
        kb.EtcdCluster(members=[{"name": "a", "address": "10.0.0.256"}])
    assert ei.value.path == "members[0].address"
    with pytest.raises(kb.ValidationError) as ei:
        kb.EtcdCluster(initial_state="maybe")
    assert ei.value.path == "initial_state"


def test_flannel() -> None:
    f = kb.FlannelConfig(version="0.26.1", backend={"type": "host-gw"}, network="10.244.0.0/16")
    assert json.loads(f.network_config_json())["Backend"] == {"Type": "host-gw"}
    etcd = kb.EtcdCluster(members=MEMBERS)
    cmd = f.config_command(etcd)
    assert cmd.phase == "flannel-config"
    assert any("--public-ip=10.0.0.5" == o for o in f.options("10.0.0.5"))
    node = f.render_node("n1", "10.0.0.5", iface="eth1")
    assert "/opt/kubernetes/cfg/flanneld" in node
    bad = kb.FlannelConfig(subnet_len=31)
    assert [p.path for p in bad.validate()] == ["subnet_len"]
    with pytest.raises(kb.ValidationError):
        bad.render_node("n1", "10.0.0.5")
    with pytest.raises(kb.ValidationError) as ei:
        f.render_node("n1", "not-an-ip")
    assert ei.value.path == "public_ip"
    with pytest.raises(kb.ValidationError) as ei:
        kb.FlannelConfig(network="10.244.0.1/16")
    assert ei.value.path == "network"


def test_docker() -> None:
    d = kb.DockerUnit(mode="daemon-json", bip="10.244.5.1/24", mtu=1450, registry_mirrors=["https://m.example"])
    assert json.loads(d.daemon_json() or "{}") == {
        "bip": "10.244.5.1/24",
        "mtu": 1450,
        "registry-mirrors": ["https://m.example"],
    }
    r = d.render()
    assert set(r) == {"/usr/lib/systemd/system/docker.service", "/etc/docker/daemon.json"}
    assert kb.DockerUnit().daemon_json() is None


def test_hostprep() -> None:
    p = kb.HostPrep(hostname="etcd01", os="debian", tcp_ports=[2379, 2380], udp_ports=[8472])
    r = p.render()
    assert "/etc/sysctl.d/99-k8s-bootstrap.conf" in r
    assert all(c.os is None for c in r.commands)  # OS known: no guards
    bad = kb.HostPrep(hostname="Bad_Name", tcp_ports=[0])
    assert {p.path for p in bad.validate()} == {"hostname", "tcp_ports"}
    with pytest.raises(kb.ValidationError):
        bad.render()
    with pytest.raises(kb.ValidationError) as ei:
        kb.HostPrep(hostname="x", sysctls=[("a", "1", "extra")])  # type: ignore[list-item]
    assert (ei.value.path or "").startswith("sysctls[0]")


def test_from_spec_unknown_host(tutorial_spec: kb.ClusterSpec) -> None:
    with pytest.raises(kb.ValidationError) as ei:
        kb.DockerUnit.from_spec(tutorial_spec, "etcd09")
    assert (ei.value.path, ei.value.value) == ("host", "etcd09")
