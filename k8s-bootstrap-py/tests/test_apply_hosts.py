"""The tutorial's cluster (examples/testbed-cluster.yaml) applied from Python
to 3 real test hosts (k8s-bootstrap-testbed: own network namespace, systemd
and sshd each): plan, apply (blocking, the GIL released), apply again with
asyncio (nothing changes), status (etcd healthy, 3 members), a snapshot
and a restore from it, a member removed and added back in one call each, host-key and
connection failures as their exceptions, the tutorial script's --apply, and
reset. The tests run in file order and share one testbed.

Needs root: without it they fail (never skip), wherever they run, as the
Rust tests on test hosts do.
"""

import asyncio
import json
import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import check_fields, on

import k8s_bootstrap as kb

REPO = Path(__file__).resolve().parents[2]
HOSTS = ["etcd01", "etcd02", "etcd03"]
STAGES = ["host-prep", "files", "install", "etcd", "flannel-config", "flanneld", "docker"]


@pytest.fixture(scope="module")
def spec() -> kb.ClusterSpec:
    """examples/testbed-cluster.yaml, with the real flanneld that
    scripts/setup builds, as the Rust tests use it."""
    spec = kb.ClusterSpec.from_file(REPO / "examples" / "testbed-cluster.yaml")
    flanneld = spec.to_dict()["binaries"]["flanneld"]
    assert Path(flanneld).is_file(), f"{flanneld} is missing: run scripts/setup (as root)"
    return spec


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """OUT of the tutorial script; OUT/pki is the cluster's PKI folder."""
    return tmp_path_factory.mktemp("cluster")


def cluster(spec: kb.ClusterSpec, testbed: Path, work: Path, **kw: Any) -> kb.Cluster:
    kw.setdefault("known_hosts", testbed / "known_hosts")
    return kb.Cluster(spec, pki_dir=work / "pki", **kw)


def test_plan_on_bare_hosts(spec: kb.ClusterSpec, testbed: Path, work: Path) -> None:
    plan = cluster(spec, testbed, work).plan()
    plan.raise_for_failure()
    assert plan.ok and plan.dry_run and plan.change_count > 30
    assert sorted(plan.hosts) == HOSTS
    assert any(c.diff for h in plan.hosts.values() for c in h.changes)
    assert not (work / "pki").exists(), "plan writes nothing"


def test_apply_blocking_releases_the_gil(spec: kb.ClusterSpec, testbed: Path, work: Path) -> None:
    events: list[dict[str, Any]] = []
    ticks = 0
    stop = threading.Event()

    def ticker() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            time.sleep(0.001)

    t = threading.Thread(target=ticker)
    t.start()
    start = time.monotonic()
    try:
        report = cluster(spec, testbed, work, progress=events.append).apply()
    finally:
        stop.set()
        t.join()
    elapsed = time.monotonic() - start
    print(f"\nfirst apply from Python: {report.change_count} changes, {report.elapsed_ms} ms in the engine, "
          f"{elapsed:.2f} s in all; ticker ran {ticks} times meanwhile")
    report.raise_for_failure()
    assert report.ok and not report.dry_run and report.aborted is None
    for name in HOSTS:
        h = report.hosts[name]
        assert h.ok and h.failed is None and len(h.changes) > 10, f"{name}: {h}"
        assert {c.stage for c in h.changes} >= {"files", "install", "etcd", "flanneld", "docker"}
        assert set(h.stage_ms) == set(STAGES)
    # The GIL was free while Rust worked: a Python thread kept running.
    assert ticks > elapsed * 100
    assert [e["stage"] for e in events if e["event"] == "stage-started"] == STAGES
    changed = [e for e in events if e["event"] == "changed"]
    assert len(changed) == report.change_count
    assert report.to_dict()["hosts"]["etcd01"]["changes"][0]["what"] == report.hosts["etcd01"].changes[0].what
    pki = work / "pki"
    assert (pki / "ca.pem").is_file() and stat.S_IMODE((pki / "ca-key.pem").stat().st_mode) == 0o600


def test_second_apply_with_asyncio_changes_nothing(spec: kb.ClusterSpec, testbed: Path, work: Path) -> None:
    c = cluster(spec, testbed, work)

    async def main() -> tuple[kb.Report, int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        t = asyncio.ensure_future(ticker())
        report = await c.apply_async()
        t.cancel()
        return report, ticks

    start = time.monotonic()
    report, ticks = asyncio.run(main())
    print(f"\nsecond apply (asyncio): {report.change_count} changes, {report.elapsed_ms} ms in the engine, "
          f"{time.monotonic() - start:.2f} s in all")
    report.raise_for_failure()
    assert report.ok and report.change_count == 0, [(n, c.what) for n, h in report.hosts.items() for c in h.changes]
    assert all(h.unchanged > 10 for h in report.hosts.values())
    assert ticks > 0, "the event loop ran while the apply did"


def check_status(status: kb.ClusterStatus) -> None:
    assert status.etcd_healthy, status.to_dict()
    assert status.etcd_members == HOSTS and status.etcd_members_match_spec
    assert len(status.etcd_endpoints) == 3 and all(e.healthy for e in status.etcd_endpoints)
    assert status.flannel_api == "v3" and status.flannel_config is not None
    assert json.loads(status.flannel_config)["Network"] == "10.244.0.0/16"
    assert status.problems == []
    for name, hs in status.hosts.items():
        assert hs.reachable and hs.error is None
        assert hs.units == {"etcd": "active", "flanneld": "active", "docker": "active"}, name
        assert hs.docker_bridge is not None and hs.docker_bridge.matches, name
        assert (hs.docker_bridge.docker0 or "").startswith("10.244."), name
    assert status.to_dict()["etcd_members"] == HOSTS


def test_status_blocking_and_asyncio(spec: kb.ClusterSpec, testbed: Path, work: Path) -> None:
    c = cluster(spec, testbed, work)
    check_status(c.status())

    async def main() -> kb.ClusterStatus:
        return await c.status_async()

    check_status(asyncio.run(main()))


def etcdctl(testbed: Path, *args: str) -> str:
    """The admin etcdctl on etcd01."""
    return on(testbed, "10.77.0.11", "/opt/etcd/bin/etcdctl-admin", *args)


def test_snapshot_then_restore(spec: kb.ClusterSpec, testbed: Path, work: Path) -> None:
    c = cluster(spec, testbed, work)
    etcdctl(testbed, "put", "/py/kept", "v1")
    info = c.snapshot(work / "etcd.db")
    check_fields(info)
    assert stat.S_IMODE(os.stat(info.path).st_mode) == 0o600 and info.total_keys >= 1
    etcdctl(testbed, "put", "/py/later", "v2")
    etcdctl(testbed, "put", "/py/kept", "changed")
    r = asyncio.run(c.restore_async(work / "etcd.db"))
    check_fields(r)
    assert (r.revision, r.total_keys, r.members) == (info.revision, info.total_keys, HOSTS)
    assert [h for h, _ in r.kept] == HOSTS and r.to_dict()["token"] == r.token
    assert etcdctl(testbed, "get", "--prefix", "/py/") == "/py/kept\nv1\n"  # the snapshot's, not the later writes
    check_status(c.status())
    with pytest.raises(kb.ValidationError, match="not an etcd snapshot"):
        c.restore(REPO / "examples" / "testbed-cluster.yaml")


def test_a_saved_plan_is_applied_exactly_or_refused(spec: kb.ClusterSpec, testbed: Path, work: Path) -> None:
    # The cluster is converged (earlier tests applied it): a hand edit after
    # the plan was saved makes apply(plan=...) refuse, naming host and file.
    c = cluster(spec, testbed, work)
    c.apply().raise_for_failure()
    on(testbed, "10.77.0.12", "echo '# edited by hand' >> /opt/etcd/cfg/etcd")
    saved = work / "plan.json"
    planned = c.plan(out=saved)
    assert [(h, ch.what) for h, r in planned.hosts.items() for ch in r.changes][:1] == [("etcd02", "write /opt/etcd/cfg/etcd (updated)")]
    assert json.loads(saved.read_text())["format"] == 1
    on(testbed, "10.77.0.13", "touch -d '+2 seconds' /opt/etcd/cfg/etcd")
    refused = c.apply(plan=saved)
    assert not refused.ok and refused.change_count == 0
    assert refused.aborted is not None and refused.aborted.startswith("etcd03 changed since the plan was made (/opt/etcd/cfg/etcd: "), refused.aborted
    planned = c.plan(out=saved)
    applied = c.apply(plan=saved)
    applied.raise_for_failure()
    assert [(h, ch.what) for h, r in applied.hosts.items() for ch in r.changes] == [(h, ch.what) for h, r in planned.hosts.items() for ch in r.changes]
    assert c.apply().change_count == 0


def test_membership_changes_in_one_call(spec: kb.ClusterSpec, testbed: Path, work: Path) -> None:
    # etcd03 leaves etcd (it stays a node), then joins again, each in one
    # call: the core applies the new spec (member remove / member add).
    gone = cluster(spec, testbed, work).remove_member("etcd03")
    gone.apply.raise_for_failure()
    assert (gone.action, gone.ok, gone.cleanup) == ("role-dropped", True, None)
    assert cluster(gone.spec, testbed, work).status().etcd_members == ["etcd01", "etcd02"]
    back = cluster(gone.spec, testbed, work).add_member("etcd03=10.77.0.13")
    back.apply.raise_for_failure()
    assert back.action == "added" and back.spec.to_dict()["hosts"] == spec.to_dict()["hosts"]
    status = cluster(spec, testbed, work).status()
    check_status(status)
    # The data classes only real hosts give, against the stub.
    change = next(c for h in back.apply.hosts.values() for c in h.changes)
    for obj in [change, status.etcd_endpoints[0], status.hosts["etcd01"].docker_bridge]:
        check_fields(obj)


def test_changed_host_keys_raise_host_key_error(spec: kb.ClusterSpec, testbed: Path, work: Path) -> None:
    # A known_hosts that records other keys for the three addresses.
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(work / "other")], check=True)
    other = (work / "other.pub").read_text().split()[:2]
    wrong = work / "wrong_known_hosts"
    wrong.write_text("".join(f"10.77.0.{11 + i} {other[0]} {other[1]}\n" for i in range(3)))
    plan = cluster(spec, testbed, work, known_hosts=wrong).plan()
    assert not plan.ok and [f.kind for f in plan.failures] == ["host-key"] * 3
    with pytest.raises(kb.HostKeyError) as e:
        plan.raise_for_failure()
    assert isinstance(e.value, kb.TransportError)
    assert e.value.host == "etcd01" and "2 more failed hosts" in str(e.value)

    # An empty known_hosts with accept_new_host_keys: trusted on first use and recorded.
    fresh = work / "fresh_known_hosts"
    fresh.write_text("")
    with pytest.raises(kb.HostKeyError):
        cluster(spec, testbed, work, known_hosts=fresh).plan().raise_for_failure()
    plan = cluster(spec, testbed, work, known_hosts=fresh, accept_new_host_keys=True).plan()
    plan.raise_for_failure()
    assert plan.change_count == 0
    assert len([l for l in fresh.read_text().splitlines() if l.strip()]) == 3


def test_unreachable_host_raises_connection_error(spec: kb.ClusterSpec, testbed: Path, work: Path) -> None:
    d = spec.to_dict()
    d["hosts"] = [dict(d["hosts"][0], address="10.77.0.250")]  # on the test bridge, no host there
    lone = kb.ClusterSpec.from_dict(d)
    start = time.monotonic()
    report = kb.Cluster(lone, pki_dir=work / "lone-pki", known_hosts=testbed / "known_hosts", connect_timeout=1).plan()
    assert time.monotonic() - start < 20
    (f,) = report.failures
    assert f.kind == "connect" and f.host == "etcd01"
    with pytest.raises(kb.ConnectionError) as e:
        report.raise_for_failure()
    assert isinstance(e.value, ConnectionError) and e.value.host == "etcd01"


def test_tutorial_script_applies_with_the_same_pki(spec: kb.ClusterSpec, testbed: Path, work: Path) -> None:
    spec_file = work / "cluster.yaml"
    spec_file.write_text(spec.to_yaml())
    out = subprocess.run(
        [sys.executable, str(REPO / "examples" / "tutorial.py"), str(spec_file), str(work),
         "--apply", "--known-hosts", str(testbed / "known_hosts")],
        capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "pki: ca: kept" in out.stdout and "issued" not in out.stdout
    assert "plan: 0 changes" in out.stdout and "apply: 0 changes" in out.stdout
    assert "status: etcd healthy, members etcd01, etcd02, etcd03" in out.stdout


def test_reset_removes_what_apply_installed(spec: kb.ClusterSpec, testbed: Path, work: Path) -> None:
    c = cluster(spec, testbed, work)
    report = c.reset(purge=True)
    report.raise_for_failure()
    assert report.ok and all(len(h.changes) > 0 for h in report.hosts.values())
    status = c.status()
    for name, hs in status.hosts.items():
        # not-installed, or inactive where the machine's own package (masked on test hosts) has a unit
        assert hs.reachable and all(s in ("not-installed", "inactive") for s in hs.units.values()), (name, hs.units)
    assert not status.etcd_healthy

    second = asyncio.run(c.reset_async(purge=True))
    assert second.ok and second.change_count == 0
