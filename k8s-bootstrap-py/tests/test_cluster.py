"""Cluster without test hosts: arguments, the PKI folder, and a host that
refuses connections (this machine's loopback, port 1) as a failed host in
the report, blocking and with asyncio. The apply on real hosts is in
test_apply_hosts.py."""

import asyncio
import builtins
import fcntl
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import k8s_bootstrap as kb

REPO = Path(__file__).resolve().parents[2]


def refused_spec() -> kb.ClusterSpec:
    """One host on the loopback at a port nothing listens on."""
    return kb.ClusterSpec.from_dict({
        "hosts": [{"name": "etcd01", "address": "127.0.0.1", "roles": ["etcd", "node"],
                   "ssh": {"user": "root", "port": 1}}],
        "versions": {"etcd": "3.4.23", "flannel": "0.26.1"},
    })


def test_needs_a_pki_dir_or_a_spec_path(tutorial_spec: kb.ClusterSpec) -> None:
    with pytest.raises(ValueError, match="pki_dir"):
        kb.Cluster(tutorial_spec)


def test_from_file_keeps_the_pki_beside_the_spec() -> None:
    c = kb.Cluster.from_file(REPO / "examples" / "testbed-cluster.yaml")
    assert c.pki_dir == str(REPO / "examples" / "pki")
    assert c.spec.host_names == ["etcd01", "etcd02", "etcd03"]
    assert "Cluster(hosts=" in repr(c)
    c2 = kb.Cluster(c.spec, spec_path="clusters/prod/cluster.yaml", pki_dir="/srv/pki")
    assert c2.pki_dir == "/srv/pki"


def test_the_spec_is_validated_on_construction(tmp_path: Path, minimal_yaml: str) -> None:
    bad = kb.ClusterSpec.from_yaml(minimal_yaml + "network: { subnet_len: 31 }\n")
    with pytest.raises(kb.ValidationError) as e:
        kb.Cluster(bad, pki_dir=tmp_path)
    assert e.value.path == "network.subnet_len"


def test_bad_arguments_name_the_argument(tmp_path: Path) -> None:
    c = kb.Cluster(refused_spec(), pki_dir=tmp_path / "pki")
    with pytest.raises(kb.ValidationError) as e:
        c.apply(phase="etcd-start")
    assert e.value.path == "phase" and e.value.value == "etcd-start" and "host-prep" in str(e.value)
    with pytest.raises(kb.ValidationError) as e:
        c.apply(waive=["masked-unit", "clock"])
    assert e.value.path == "waive" and e.value.value == "clock" and "clock-skew" in str(e.value)
    with pytest.raises(kb.ValidationError) as e:
        c.reset(only=["etcd01", "etcd09"])
    assert e.value.path == "only" and e.value.value == "etcd09"
    with pytest.raises(TypeError):
        c.plan(only="etcd01")
    with pytest.raises(ValueError, match="connect_timeout"):
        kb.Cluster(refused_spec(), pki_dir=tmp_path, connect_timeout=0)
    assert not (tmp_path / "pki").exists()


def test_refused_connection_is_a_failed_host_with_its_kind(tmp_path: Path) -> None:
    events: list[dict[str, Any]] = []
    c = kb.Cluster(refused_spec(), pki_dir=tmp_path / "pki", progress=events.append, connect_timeout=3)

    plan = c.plan()
    assert plan.dry_run and not plan.ok and plan.change_count == 0
    assert not (tmp_path / "pki").exists(), "a plan writes nothing, not even the PKI folder"
    (f,) = plan.failures
    assert (f.host, f.kind, f.stage) == ("etcd01", "connect", "host-prep")
    assert "Connection refused" in f.error and f.log is None
    assert plan.hosts["etcd01"].failed is not None and not plan.hosts["etcd01"].ok
    assert isinstance(f.exception(), kb.ConnectionError)
    with pytest.raises(kb.ConnectionError) as e:
        plan.raise_for_failure()
    assert isinstance(e.value, kb.TransportError) and isinstance(e.value, builtins.ConnectionError)
    assert e.value.host == "etcd01" and "host-prep" in str(e.value)

    d = plan.to_dict()
    assert d["dry_run"] is True and d["hosts"]["etcd01"]["failed"]["kind"] == "connect"
    assert plan.hosts["etcd01"].to_dict() == d["hosts"]["etcd01"]
    kinds = [ev["event"] for ev in events]
    assert kinds.count("stage-started") == 7 and kinds.count("stage-done") == 7
    failed = [ev for ev in events if ev["event"] == "failed"]
    assert failed == [{"event": "failed", "host": "etcd01", "stage": "host-prep", "step": f.step, "kind": "connect",
                       "error": f.error, "log": None}]

    # apply writes the PKI folder first (keys 0600), then fails on the host.
    report = c.apply(phase="files")
    assert not report.ok and report.failures[0].kind == "connect"
    assert (tmp_path / "pki" / "ca.pem").is_file()
    assert stat.S_IMODE((tmp_path / "pki" / "ca-key.pem").stat().st_mode) == 0o600

    status = c.status()
    assert not status.hosts["etcd01"].reachable and not status.etcd_healthy
    assert "Connection refused" in (status.hosts["etcd01"].error or "")
    assert status.to_dict()["hosts"]["etcd01"]["reachable"] is False


def test_async_variants_leave_the_event_loop_free(tmp_path: Path) -> None:
    c = kb.Cluster(refused_spec(), pki_dir=tmp_path / "pki", connect_timeout=3)

    async def main() -> tuple[kb.Report, kb.ClusterStatus, kb.Report, int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.005)
                ticks += 1

        t = asyncio.ensure_future(ticker())
        plan, status, reset = await asyncio.gather(c.plan_async(), c.status_async(), c.reset_async(purge=True))
        t.cancel()
        return plan, status, reset, ticks

    plan, status, reset, ticks = asyncio.run(main())
    assert plan.dry_run and plan.failures[0].kind == "connect"
    assert not status.hosts["etcd01"].reachable
    assert not reset.ok and reset.failures[0].kind == "connect"
    assert ticks > 0
    # Coroutines: asyncio.run takes them directly.
    again = asyncio.run(c.apply_async(dry_run=True, phase="files"))
    assert again.dry_run and again.failures[0].kind == "connect"
    with pytest.raises(kb.ValidationError):
        _ = c.apply_async(phase="nope")  # arguments are checked at the call, before any await


def test_a_failing_progress_callback_does_not_stop_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[BaseException] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: seen.append(u.exc_value))

    def boom(event: dict[str, Any]) -> None:
        raise RuntimeError(f"callback broke on {event['event']}")

    report = kb.Cluster(refused_spec(), pki_dir=tmp_path, progress=boom).plan()
    assert report.failures[0].kind == "connect"
    assert len(seen) == 15 and all(isinstance(x, RuntimeError) for x in seen)


@pytest.fixture
def sigint_raises() -> Any:
    """SIGINT as KeyboardInterrupt, whatever this process inherited. A
    process started in the background by a non-interactive shell (as CI
    jobs are: `cmd &` in a script) inherits SIGINT *ignored*, and Python
    then installs no handler of its own, so a SIGINT would do nothing at all
    (this made the test fail under CI while it passed from a terminal)."""
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, old)


def listener_spec(port: int, hosts: int = 1, key_algorithm: str = "rsa-2048") -> kb.ClusterSpec:
    """`hosts` hosts at a loopback port that accepts TCP and never speaks SSH."""
    return kb.ClusterSpec.from_dict({
        "hosts": [{"name": f"etcd0{i + 1}", "address": f"127.0.0.{i + 1}", "roles": ["etcd", "node"],
                   "ssh": {"user": "root", "port": port}} for i in range(hosts)],
        "versions": {"etcd": "3.4.23", "flannel": "0.26.1"},
        "pki": {"key_algorithm": key_algorithm},
    })


def interrupt_after(seconds: float) -> threading.Timer:
    timer = threading.Timer(seconds, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    return timer


def test_ctrl_c_stops_a_blocking_run_during_the_connect(tmp_path: Path, sigint_raises: None) -> None:
    # The connect would wait for its 30 s timeout; SIGINT ends the call.
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        # ECDSA keys: the PKI takes milliseconds, so the SIGINT lands in the connect
        spec = listener_spec(server.getsockname()[1], key_algorithm="ecdsa-p256")
        c = kb.Cluster(spec, pki_dir=tmp_path, connect_timeout=30)
        start = time.monotonic()
        timer = interrupt_after(1.0)
        with pytest.raises(KeyboardInterrupt):
            c.plan()
        timer.join()
        assert time.monotonic() - start < 10  # the connect timeout is 30 s


def test_ctrl_c_during_key_generation_ends_the_call_and_writes_nothing(tmp_path: Path, sigint_raises: None) -> None:
    # A SIGINT that lands while the PKI's keys are generated, before any
    # connect, ends the call then, not when the keys are done; and since
    # the run stopped before writing, no key or certificate is written.
    spec = listener_spec(1, hosts=3)  # 9 RSA keys: seconds
    start = time.monotonic()
    kb.CertBundle.for_cluster(spec).generate()
    generation = time.monotonic() - start
    pki = tmp_path / "pki"
    c = kb.Cluster(spec, pki_dir=pki, connect_timeout=30)
    start = time.monotonic()
    timer = interrupt_after(0.1)
    with pytest.raises(KeyboardInterrupt):
        c.apply()
    interrupted = time.monotonic() - start
    timer.join()
    assert interrupted < generation / 2, f"interrupted after {interrupted:.2f} s; generating takes {generation:.2f} s"
    time.sleep(generation)  # the abandoned generation has ended by now
    # No key or certificate was written; the folder holds only its lock file
    # (taken before the keys were generated), and the interrupted run gave
    # the lock back: another run can take it at once.
    assert [p.name for p in pki.iterdir()] == [".lock"]
    with open(pki / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_membership_changes_check_first_and_write_the_spec_file(tmp_path: Path) -> None:
    spec_file = tmp_path / "cluster.yaml"
    spec_file.write_text("# my cluster\n" + refused_spec().to_yaml())
    before = spec_file.read_text()
    c = kb.Cluster.from_file(spec_file, connect_timeout=3)
    # Bad input names the argument, and leaves the file as it was.
    for call, path in [(lambda: c.add_member("etcd05"), "member"), (lambda: c.remove_member("etcd09"), "member"),
                       (lambda: c.add_member("etcd02=127.0.0.2", concurrency=0), "concurrency"),
                       (lambda: c.add_member("etcd02=127.0.0.2", only=["etcd03"]), "only")]:
        with pytest.raises(kb.ValidationError) as e:
            call()
        assert e.value.path == path, str(e.value)
    assert spec_file.read_text() == before
    # The core's one call: the edited spec (comments kept) written, then applied.
    m = c.add_member("etcd02=127.0.0.2")
    assert (m.name, m.action, m.spec.host_names, m.cleanup) == ("etcd02", "added", ["etcd01", "etcd02"], None)
    assert spec_file.read_text() == m.yaml and m.yaml.startswith("# my cluster\n")
    assert not m.ok and {f.kind for f in m.apply.failures} == {"connect"}
    gone = asyncio.run(kb.Cluster(m.spec, spec_path=spec_file, connect_timeout=3).remove_member_async("etcd02"))
    assert (gone.action, gone.spec.host_names, gone.cleanup) == ("host-removed", ["etcd01"], None)  # no cleanup: the apply failed
    assert spec_file.read_text() == before


def test_a_pki_folder_locked_by_another_run_refuses_apply_and_names_it(tmp_path: Path) -> None:
    # Another process (another operator's run) holds the PKI folder's lock,
    # as the core writes it: flock on pki/.lock, its holder's line inside.
    pki = tmp_path / "pki"
    pki.mkdir(mode=0o700)
    holder = ('{"user":"ops","host":"ctl2","pid":4242,"since":"2026-12-04T12:01:03Z",'
              '"command":"k8s-bootstrap apply","id":"feedfacefeedfacefeedface"}')
    code = ("import fcntl, sys, time\n"
            "f = open(sys.argv[1], 'w'); fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
            "f.write(sys.argv[2] + '\\n'); f.flush(); print('held', flush=True); time.sleep(60)\n")
    other = subprocess.Popen([sys.executable, "-c", code, str(pki / ".lock"), holder], stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout is not None and other.stdout.readline().strip() == "held"
        c = kb.Cluster(refused_spec(), pki_dir=pki, connect_timeout=3)
        for call in (lambda: c.apply(), lambda: asyncio.run(c.apply_async(break_lock=True))):
            with pytest.raises(kb.LockedError) as e:
                call()
            assert "is locked by another run: held by ops@ctl2 since 2026-12-04 12:01:03 UTC, pid 4242 (k8s-bootstrap apply)" in str(e.value)
        assert not (pki / "ca.pem").exists(), "nothing written while the folder is locked"
        # A plan writes nothing and takes no lock: it runs (and fails to connect).
        assert {f.kind for f in c.plan().failures} == {"connect"}
    finally:
        other.kill()
        other.wait()
    # The holder is gone: the kernel dropped its lock, the next run writes the folder.
    assert not c.apply().ok and (pki / "ca.pem").exists()
