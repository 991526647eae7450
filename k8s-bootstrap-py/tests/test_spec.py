"""ClusterSpec: reading, round trips, validation errors with field paths."""

import copy
from pathlib import Path

import pytest

import k8s_bootstrap as kb


def test_from_file_yaml_and_dict_agree(tutorial_spec: kb.ClusterSpec, tutorial_yaml: str) -> None:
    assert kb.ClusterSpec.from_yaml(tutorial_yaml) == tutorial_spec
    assert kb.ClusterSpec.from_dict(tutorial_spec.to_dict()) == tutorial_spec
    assert tutorial_spec.host_names == ["etcd01", "etcd02", "etcd03"]


def test_round_trip_yaml_dict_spec_yaml(tutorial_yaml: str) -> None:
    spec = kb.ClusterSpec.from_yaml(tutorial_yaml)
    d = spec.to_dict()
    again = kb.ClusterSpec.from_dict(d)
    assert again == spec
    assert again.to_yaml() == spec.to_yaml()
    assert kb.ClusterSpec.from_yaml(again.to_yaml()) == spec
    assert again.to_dict() == d


def test_to_dict_shape(tutorial_spec: kb.ClusterSpec) -> None:
    d = tutorial_spec.to_dict()
    assert d["hosts"][0] == {
        "name": "etcd01",
        "address": "192.168.1.30",
        "roles": ["etcd", "node"],
        "ssh": {"user": "vagrant", "port": 22, "identity": "~/.ssh/id_ed25519"},
    }
    assert d["versions"] == {"etcd": "3.3.13", "flannel": "0.11.0"}
    assert d["network"]["backend"] == {"type": "vxlan", "vni": 1, "port": 8472, "direct_routing": False}


def test_defaults_filled_in(minimal_yaml: str) -> None:
    d = kb.ClusterSpec.from_yaml(minimal_yaml).to_dict()
    # The Rust defaults (spec::Layout, NetworkSpec, ...), not the binding's.
    assert d["layout"]["etcd_dir"] == "/opt/etcd"
    assert d["network"]["pod_cidr"] == "10.244.0.0/16"
    assert d["etcd"]["client_port"] == 2379
    assert d["pki"]["key_algorithm"] == "rsa-2048"


def test_modified_dict(minimal_yaml: str) -> None:
    d = kb.ClusterSpec.from_yaml(minimal_yaml).to_dict()
    d2 = copy.deepcopy(d)
    d2["etcd"]["client_port"] = 12379
    spec = kb.ClusterSpec.from_dict(d2)
    assert spec.to_dict()["etcd"]["client_port"] == 12379
    assert spec != kb.ClusterSpec.from_dict(d)
    env = spec.render()["etcd01"]["/opt/etcd/cfg/etcd"].text
    assert "https://192.168.1.30:12379" in env


def test_docker_install_as_in_the_yaml(minimal_yaml: str) -> None:
    # The core's serde types, unchanged: a word or a one-key mapping.
    d = kb.ClusterSpec.from_yaml(minimal_yaml).to_dict()
    assert d["docker"]["install"] == "packages"
    d["docker"]["install"] = {"offline": "./packages/docker"}
    spec = kb.ClusterSpec.from_dict(d)
    assert spec.to_dict()["docker"]["install"] == {"offline": "./packages/docker"}
    assert kb.ClusterSpec.from_yaml(spec.to_yaml()) == spec
    d["docker"]["install"] = {"repo": "mirrors.aliyun.com/docker-ce.repo"}
    with pytest.raises(kb.ValidationError) as ei:
        kb.ClusterSpec.from_dict(d).validate()
    assert ei.value.path == "docker.install.repo"


def test_parse_error_has_path_line_column() -> None:
    with pytest.raises(kb.ValidationError) as ei:
        kb.ClusterSpec.from_yaml("hosts: []\nversions: { etcd: '3.5', flannel: '0.26' }\nnetwrk: {}\n")
    e = ei.value
    assert (e.path, e.line, e.column) == ("netwrk", 3, 1)
    assert "unknown field `netwrk`" in (e.rule or "")
    assert e.value == "netwrk: {}"
    assert e.problems is not None and len(e.problems) == 1
    assert isinstance(e, ValueError) and isinstance(e, kb.K8sBootstrapError)


def test_nested_parse_error_path(minimal_yaml: str) -> None:
    y = minimal_yaml.replace("192.168.1.31", "192.168.1.999")
    with pytest.raises(kb.ValidationError) as ei:
        kb.ClusterSpec.from_yaml(y)
    assert ei.value.path == "hosts[1].address"
    assert ei.value.line == 3


def test_from_dict_errors_have_paths(minimal_yaml: str) -> None:
    d = kb.ClusterSpec.from_yaml(minimal_yaml).to_dict()
    bad = copy.deepcopy(d)
    bad["hosts"][2]["ssh"] = {"user": "root", "prot": 22}
    with pytest.raises(kb.ValidationError) as ei:
        kb.ClusterSpec.from_dict(bad)
    assert ei.value.path == "hosts[2].ssh.prot"
    assert "unknown field `prot`" in str(ei.value)

    bad = copy.deepcopy(d)
    bad["network"]["subnet_len"] = "wide"
    with pytest.raises(kb.ValidationError) as ei:
        kb.ClusterSpec.from_dict(bad)
    assert ei.value.path == "network.subnet_len"
    assert ei.value.value == '"wide"'

    with pytest.raises(TypeError):
        kb.ClusterSpec.from_dict({"hosts": [object()]})


def test_unsupported_python_values_are_type_errors_naming_the_field() -> None:
    with pytest.raises(TypeError, match=r"object at hosts\[0\]: expected dict"):
        kb.ClusterSpec.from_dict({"hosts": [object()]})
    with pytest.raises(TypeError, match=r"at members\[0\]\.name: expected dict"):
        kb.EtcdCluster(members=[{"name": b"etcd01", "address": "192.168.1.30"}])


def test_validate_lists_every_problem(minimal_yaml: str) -> None:
    y = (
        minimal_yaml.replace("name: etcd02", "name: Etcd_02")
        + "network: { pod_cidr: 192.168.0.0/16, subnet_len: 31 }\n"
    )
    spec = kb.ClusterSpec.from_yaml(y)  # reading does not validate
    with pytest.raises(kb.ValidationError) as ei:
        spec.validate()
    e = ei.value
    paths = [p.path for p in (e.problems or [])]
    assert "hosts[1].name" in paths
    assert "network.pod_cidr" in paths
    assert "network.subnet_len" in paths
    assert e.path == paths[0]
    bad_name = next(p for p in e.problems or [] if p.path == "hosts[1].name")
    assert bad_name.value == "Etcd_02"
    assert bad_name.fix == "use names like etcd01"
    assert "hosts[1].name = Etcd_02" in str(e)
    # render validates the same way
    with pytest.raises(kb.ValidationError):
        spec.render()


def test_warnings_are_returned(minimal_yaml: str) -> None:
    spec = kb.ClusterSpec.from_yaml(minimal_yaml + "network: { pod_cidr: 172.17.0.0/16 }\n")
    warnings = spec.validate()
    assert [w.path for w in warnings] == ["network.pod_cidr"]
    assert "docker's default bridge" in warnings[0].rule
    assert spec.render().warnings == warnings
    assert kb.ClusterSpec.from_yaml(minimal_yaml).validate() == []


def test_from_file_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as ei:
        kb.ClusterSpec.from_file(tmp_path / "absent.yaml")
    assert ei.value.filename == str(tmp_path / "absent.yaml")
    p = tmp_path / "bad.yaml"
    p.write_text("hosts: [\n")
    with pytest.raises(kb.ValidationError):
        kb.ClusterSpec.from_file(str(p))


def test_needs_etcd_v2(tutorial_spec: kb.ClusterSpec, minimal_yaml: str) -> None:
    assert tutorial_spec.needs_etcd_v2()  # flannel 0.11
    assert not kb.ClusterSpec.from_yaml(minimal_yaml).needs_etcd_v2()


def test_from_dict_accepts_tuples_and_mappings(minimal_yaml: str) -> None:
    from types import MappingProxyType

    d = kb.ClusterSpec.from_yaml(minimal_yaml).to_dict()
    d["hosts"] = tuple(MappingProxyType({**h, "roles": tuple(h["roles"])}) for h in d["hosts"])
    assert kb.ClusterSpec.from_dict(MappingProxyType(d)) == kb.ClusterSpec.from_yaml(minimal_yaml)


def test_reprs(tutorial_spec: kb.ClusterSpec) -> None:
    assert repr(tutorial_spec) == 'ClusterSpec(hosts=["etcd01", "etcd02", "etcd03"], etcd=3.3.13, flannel=0.11.0)'
    r = tutorial_spec.render()
    assert repr(r) == "RenderedCluster(3 hosts, 0 warnings)"
    assert repr(r["etcd01"]["/opt/etcd/cfg/etcd"]).startswith('RenderedFile("/opt/etcd/cfg/etcd", mode=0o640')
    assert "key_path=None" in repr(r["etcd01"].certs[0])
