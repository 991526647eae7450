"""spec.render() from Python equals the Rust renderer's output."""

import os
import stat
from pathlib import Path

import k8s_bootstrap as kb


def rust_files(root: Path) -> dict[str, Path]:
    return {
        "/" + str(p.relative_to(root)): p
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.relative_to(root) != Path("commands.sh")
    }


def test_render_equals_rust_renderer(tutorial_spec: kb.ClusterSpec, rust_render: Path) -> None:
    rendered = tutorial_spec.render()
    hosts = sorted(p.name for p in rust_render.iterdir())
    assert sorted(rendered) == hosts == ["etcd01", "etcd02", "etcd03"]
    for host in hosts:
        hr = rendered[host]
        expected = rust_files(rust_render / host)
        assert sorted(hr) == sorted(expected), host
        for path, disk in expected.items():
            f = hr[path]
            assert f.path == path
            assert f.content == disk.read_bytes(), f"{host}:{path}"
            assert f.mode == stat.S_IMODE(os.stat(disk).st_mode), f"{host}:{path}"
            assert f.owner == "root:root"
        sh = (rust_render / host / "commands.sh").read_text()
        assert tutorial_spec.commands_sh(host) == sh


def test_render_structure(tutorial_spec: kb.ClusterSpec) -> None:
    rendered = tutorial_spec.render()
    assert len(rendered) == 3 and "etcd02" in rendered and "nope" not in rendered
    assert rendered.get("nope") is None
    h = rendered["etcd01"]
    assert isinstance(h, kb.HostRender)
    f = h["/opt/etcd/cfg/etcd"]
    assert isinstance(f, kb.RenderedFile) and isinstance(f.content, bytes)
    assert 'ETCD_NAME="etcd01"' in f.text
    assert f.mode == 0o640
    assert h.get("/absent") is None
    assert dict(h.items()) == h.files
    assert [c.phase for c in h.commands][0] == "host-prep"
    phases = [c.phase for c in h.commands]
    assert "flannel-config" in phases  # first member writes flannel's config
    assert "flannel-config" not in [c.phase for c in rendered["etcd02"].commands]
    for c in h.commands:
        assert c.argv and isinstance(c.to_shell(), str)
    certs = {c.id: c for c in h.certs}
    assert certs["ca"].key_path is None and certs["ca"].key_file is None
    assert certs["etcd01-server"].cert_path == "/opt/etcd/ssl/etcd01-server.pem"
    assert certs["etcd01-server"].key_file == "etcd01-server-key.pem"
    assert rendered.warnings == []
    assert h.commands[0] is h.commands[0]  # made once, on first access
    assert h.commands is not h.commands  # a new list each time: the render stays as it was


def test_mapping_protocol(tutorial_spec: kb.ClusterSpec) -> None:
    from collections.abc import Mapping

    rendered = tutorial_spec.render()
    assert isinstance(rendered, Mapping) and isinstance(rendered["etcd01"], Mapping)
    as_dicts = {host: {p: f.content for p, f in hr.items()} for host, hr in rendered.items()}
    assert set(as_dicts) == {"etcd01", "etcd02", "etcd03"}
    assert list(rendered.keys()) == list(rendered)
    assert len(list(rendered.values())) == 3


def test_builders_render_what_the_spec_renders(tutorial_spec: kb.ClusterSpec) -> None:
    whole = tutorial_spec.render()
    etcd = kb.EtcdCluster.from_spec(tutorial_spec)
    member = etcd.render_member("etcd02")
    for path, f in member.items():
        assert whole["etcd02"][path].content == f.content
    flannel = kb.FlannelConfig.from_spec(tutorial_spec)
    node = flannel.render_node("etcd03", "192.168.1.32")
    for path, f in node.items():
        assert whole["etcd03"][path].content == f.content
    docker = kb.DockerUnit.from_spec(tutorial_spec, "etcd01").render()
    for path, f in docker.items():
        assert whole["etcd01"][path].content == f.content
    prep = kb.HostPrep.from_spec(tutorial_spec, "etcd01").render()
    for path, f in prep.items():
        assert whole["etcd01"][path].content == f.content
