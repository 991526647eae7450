//! Rolling etcd upgrades, live (issue 16): on one 3-member TLS cluster of
//! test hosts, started at etcd 3.4, while a client on this machine keeps
//! writing:
//! - versions.etcd 3.4 -> 3.6 (a jump) and, later, 3.5 -> 3.4 (a
//!   downgrade) are refused by plan and by apply before anything changes
//!   (same binaries, same etcd processes);
//! - 3.4 -> 3.5 -> 3.6 -> 3.7 upgrades the members in place, one at a
//!   time (each member's etcd was ready before the next one stopped), the
//!   leader last;
//! - the 3.6 step stops midway (etcd03's sshd refuses connections): the
//!   other members are upgraded, the next apply upgrades etcd03;
//! - the last apply changes nothing; every write the client saw
//!   acknowledged is read back with its value.
//!
//! Versions are what the real etcd reports (`status`, `etcdctl -w json
//! endpoint status`). Needs root, scripts/setup's binaries and the test
//! hosts; it fails, never skips, without them.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_bootstrap_core::apply::{ApplyOptions, Engine, FailureKind, ReleaseBinaries, Report, Stage, fetch_releases};
use k8s_bootstrap_core::pki::{CertBundle, CertId, Issued};
use k8s_bootstrap_core::spec::{ClusterSpec, Role};
use k8s_bootstrap_core::transport::LocalTransport;
use k8s_bootstrap_testbed::binaries::{Manifest, Release, use_etcd_release};
use k8s_bootstrap_testbed::{Host, Testbed};

/// examples/testbed-cluster.yaml as etcd members only (no flannel or
/// docker: the upgrade is etcd's), at `version` from its release tarball.
fn spec_for(release: &Release) -> ClusterSpec {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/testbed-cluster.yaml");
    let yaml = std::fs::read_to_string(path).expect("examples/testbed-cluster.yaml");
    let mut spec = ClusterSpec::load(&yaml).expect("valid testbed spec").0;
    for h in &mut spec.hosts {
        h.roles = vec![Role::Etcd];
    }
    use_etcd_release(&mut spec, release).expect("the manifest's etcd release");
    spec.binaries.flanneld = None;
    spec.validate().unwrap_or_else(|e| panic!("etcd {}: {e}", release.version));
    spec
}

struct Step {
    spec: ClusterSpec,
    releases: ReleaseBinaries,
    version: String,
}

async fn engine(tb: &Testbed, s: &Step, pki: &Issued) -> Engine {
    Engine::new(&s.spec, pki, tb.transports(&s.spec).await).unwrap().with_releases(&s.releases)
}

/// The members' versions and the leader, from the real etcd: `etcdctl -w
/// json endpoint status` through the admin wrapper on `h` (nsenter, not
/// SSH: it works while a host's sshd is blocked).
fn endpoint_status(h: &Host) -> (BTreeMap<String, String>, String) {
    let out = h.exec(&["timeout", "30", "/opt/etcd/bin/etcdctl-admin", "-w", "json", "endpoint", "status"]).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{}: endpoint status: {e}: {out:?}", h.name));
    let mut versions = BTreeMap::new();
    let mut leader = String::new();
    for e in v.as_array().expect("a JSON array") {
        let ep = e["Endpoint"].as_str().unwrap().to_string();
        let st = &e["Status"];
        versions.insert(ep.clone(), st["version"].as_str().unwrap().to_string());
        if st["leader"].as_u64().is_some() && st["leader"].as_u64() == st["header"]["member_id"].as_u64() {
            leader = ep;
        }
    }
    (versions, leader)
}

/// What `systemctl show etcd` and sha256sum say on each host: the process
/// (InvocationID changes with every start), when it was stopped and became
/// ready last (monotonic clock, shared by the test hosts), and the files.
#[derive(Debug, Clone, PartialEq)]
struct OnHost {
    invocation: String,
    inactive_at: u64,
    active_at: u64,
    sums: String,
}

fn on_host(h: &Host) -> OnHost {
    let show = h.sh("systemctl show etcd -p InvocationID -p InactiveEnterTimestampMonotonic -p ActiveEnterTimestampMonotonic").unwrap();
    let kv: BTreeMap<&str, &str> = show.lines().filter_map(|l| l.split_once('=')).collect();
    let num = |k: &str| kv.get(k).and_then(|v| v.parse().ok()).unwrap_or(0);
    OnHost {
        invocation: kv.get("InvocationID").unwrap_or(&"").to_string(),
        inactive_at: num("InactiveEnterTimestampMonotonic"),
        active_at: num("ActiveEnterTimestampMonotonic"),
        sums: h.sh("sha256sum /opt/etcd/bin/etcd /opt/etcd/bin/etcdctl /opt/etcd/cfg/etcd").unwrap(),
    }
}

fn all_on_hosts(tb: &Testbed) -> Vec<OnHost> {
    tb.hosts().iter().map(on_host).collect()
}

/// A client on this machine writing `up/k{i}` = `v{i}` through all three
/// endpoints with the local etcdctl and the admin certificate; `acked`
/// holds every i etcdctl acknowledged (exit 0).
struct Writer {
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<u64>>>,
    failed: Arc<Mutex<u64>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn etcdctl_args(certs: &Path, endpoints: &str) -> Vec<String> {
    vec![
        format!("--endpoints={endpoints}"),
        format!("--cacert={}", certs.join("ca.pem").display()),
        format!("--cert={}", certs.join("admin.pem").display()),
        format!("--key={}", certs.join("admin-key.pem").display()),
        "--dial-timeout=3s".into(),
        "--command-timeout=8s".into(),
    ]
}

impl Writer {
    fn start(etcdctl: &Path, certs: &Path, endpoints: &str) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(Vec::new()));
        let failed = Arc::new(Mutex::new(0));
        let (s, a, f) = (stop.clone(), acked.clone(), failed.clone());
        let etcdctl = etcdctl.to_path_buf();
        let args = etcdctl_args(certs, endpoints);
        let thread = std::thread::spawn(move || {
            let mut i = 0u64;
            while !s.load(Ordering::SeqCst) {
                i += 1;
                let out = Command::new("timeout").arg("15").arg(&etcdctl).args(&args).args(["put", &format!("up/k{i}"), &format!("v{i}")]).env("ETCDCTL_API", "3").output();
                match out {
                    Ok(o) if o.status.success() => a.lock().unwrap().push(i),
                    _ => *f.lock().unwrap() += 1,
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        Writer { stop, acked, failed, thread: Some(thread) }
    }
    fn acked(&self) -> usize {
        self.acked.lock().unwrap().len()
    }
    fn finish(mut self) -> (Vec<u64>, u64) {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.take().unwrap().join().unwrap();
        (self.acked.lock().unwrap().clone(), *self.failed.lock().unwrap())
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn upgrade_records(r: &Report) -> BTreeMap<String, Vec<String>> {
    r.hosts
        .iter()
        .map(|(h, hr)| (h.clone(), hr.changes.iter().filter(|c| c.stage == Stage::Etcd).map(|c| c.what.clone()).collect()))
        .collect()
}

/// Blocks (or unblocks) new and existing SSH connections to a host, inside
/// its own network namespace: its etcd keeps serving its peers.
fn block_ssh(h: &Host, on: bool) {
    let op = if on { "-I" } else { "-D" };
    let out = Command::new("ip")
        .args(["netns", "exec", &h.netns, "iptables", op, "INPUT", "-p", "tcp", "--dport", &h.port.to_string(), "-j", "REJECT", "--reject-with", "tcp-reset"])
        .output()
        .expect("ip netns exec iptables");
    assert!(out.status.success(), "{}: iptables {op}: {out:?}", h.name);
}

#[test]
fn etcd_rolling_upgrade_3_4_to_3_7_with_writes_refusals_and_a_resume() {
    let started = Instant::now();
    let manifest = Manifest::load().expect("the binaries of scripts/setup");
    let tb = Testbed::up(3).expect("booting 3 test hosts (needs root, see k8s-bootstrap-testbed docs)");
    let up_after = started.elapsed();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let hosts = tb.hosts();
    let ips: Vec<String> = hosts.iter().map(|h| h.ip.to_string()).collect();
    assert!(ips.iter().all(|ip| ip.starts_with("10.77.0.")), "{ips:?}");
    let endpoints: Vec<String> = ips.iter().map(|ip| format!("https://{ip}:2379")).collect();

    let mut steps: BTreeMap<&str, Step> = BTreeMap::new();
    for minor in ["3.4", "3.5", "3.6", "3.7"] {
        let rel = manifest.etcd_release(minor).unwrap_or_else(|e| panic!("{e}"));
        let spec = spec_for(rel);
        let releases = rt.block_on(fetch_releases(&spec, &LocalTransport::new(), &cache.path().to_string_lossy())).unwrap_or_else(|e| panic!("etcd {minor}: {e}"));
        println!("etcd {minor}: {} (sha256 {})", rel.path.display(), rel.sha256);
        steps.insert(minor, Step { spec, releases, version: rel.version.clone() });
    }
    // One PKI for the whole life of the cluster.
    let pki = CertBundle::for_cluster(&steps["3.4"].spec).unwrap().generate().unwrap();
    let certs = tempfile::tempdir().unwrap();
    for (id, name) in [(CertId::Ca, "ca"), (CertId::AdminClient, "admin")] {
        std::fs::write(certs.path().join(format!("{name}.pem")), &pki.file(&id.cert_file()).unwrap().contents).unwrap();
        if id == CertId::AdminClient {
            std::fs::write(certs.path().join("admin-key.pem"), &pki.file(&id.key_file()).unwrap().contents).unwrap();
        }
    }
    let local_etcdctl = manifest.etcdctl("3.4").unwrap_or_else(|e| panic!("{e}")).path.clone();
    let mut timings: Vec<(String, u64, usize)> = Vec::new();

    // --- etcd 3.4 from bare hosts.
    let r = rt.block_on(async { engine(&tb, &steps["3.4"], &pki).await.apply(&ApplyOptions::default()).await });
    assert!(r.ok(), "3.4: apply failed: {r:#?}");
    timings.push(("apply 3.4 from bare hosts".into(), r.elapsed_ms, 0));
    let (versions, _) = endpoint_status(&hosts[0]);
    assert_eq!(versions.keys().cloned().collect::<Vec<_>>(), endpoints);
    assert!(versions.values().all(|v| *v == steps["3.4"].version), "{versions:?}");

    let writer = Writer::start(&local_etcdctl, certs.path(), &endpoints.join(","));
    let wait_for_writes = |n: usize| {
        let t = Instant::now();
        while writer.acked() < n {
            assert!(t.elapsed() < Duration::from_secs(30), "the writer got no write through: {} acked", writer.acked());
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    wait_for_writes(5);

    // --- refused: a jump 3.4 -> 3.6 (plan, then apply), later a downgrade.
    let refused = |from: &str, to: &str, says: &str| {
        let before = all_on_hosts(&tb);
        for dry in [true, false] {
            let r = rt.block_on(async {
                let e = engine(&tb, &steps[to], &pki).await;
                if dry { e.plan(&ApplyOptions::default()).await } else { e.apply(&ApplyOptions::default()).await }
            });
            let why = r.aborted.as_deref().unwrap_or_else(|| panic!("{from} -> {to} (dry run {dry}) not refused: {r:#?}"));
            assert!(why.starts_with("etcd upgrade refused, nothing was changed: host etcd0"), "{why}");
            assert!(why.contains(says), "{from} -> {to}: {why}");
            assert_eq!(r.change_count(), 0, "{r:#?}");
            println!("{from} -> {to} refused (dry run {dry}): {why}");
        }
        assert_eq!(all_on_hosts(&tb), before, "{from} -> {to}: a refused run changed a host");
        let (versions, _) = endpoint_status(&hosts[0]);
        assert!(versions.values().all(|v| *v == steps[from].version), "{versions:?}");
    };
    refused("3.4", "3.6", &format!("etcd {} runs there and versions.etcd is {}: etcd upgrades one minor at a time; upgrade 3.4 -> 3.5 first, then 3.5 -> 3.6", steps["3.4"].version, steps["3.6"].version));
    refused("3.4", "3.7", "upgrade 3.4 -> 3.5 first, then 3.5 -> 3.6, then 3.6 -> 3.7");

    // --- one minor at a time, the writer running.
    let mut upgrade = |to: &str, block: Option<&Host>| -> Report {
        let before = all_on_hosts(&tb);
        let (_, leader) = endpoint_status(&hosts[0]);
        let acked_before = writer.acked();
        let r = rt.block_on(async {
            let e = engine(&tb, &steps[to], &pki).await; // connected before a host is blocked
            if let Some(h) = block {
                block_ssh(h, true);
            }
            let plan = e.plan(&ApplyOptions::default()).await;
            let r = e.apply(&ApplyOptions::default()).await;
            if let Some(h) = block {
                block_ssh(h, false);
            }
            (plan, r)
        });
        let (plan, r) = r;
        let after = all_on_hosts(&tb);
        timings.push((format!("apply {to}{}", if block.is_some() { " (etcd03 blocked)" } else { "" }), r.elapsed_ms, writer.acked() - acked_before));
        println!("etcd {to}: apply in {} ms, {} writes acknowledged meanwhile; {:#?}", r.elapsed_ms, writer.acked() - acked_before, upgrade_records(&r));
        // The plan said what the apply did: the same members, the same order.
        let label = |rep: &Report| -> BTreeMap<String, String> {
            upgrade_records(rep).into_iter().filter_map(|(h, w)| w.iter().find(|x| x.starts_with("upgrade etcd")).map(|x| (h, x.split(':').next().unwrap().to_string()))).collect()
        };
        if block.is_none() {
            assert!(plan.ok(), "{plan:#?}");
            assert_eq!(label(&plan), label(&r), "plan and apply differ");
        }
        // Restarted one at a time: sorted by when each was ready again, every
        // member stopped only after the one before it was ready.
        let mut restarted: Vec<(usize, &OnHost)> = after.iter().enumerate().filter(|(i, a)| a.invocation != before[*i].invocation).collect();
        restarted.sort_by_key(|(_, a)| a.active_at);
        for w in restarted.windows(2) {
            assert!(w[1].1.inactive_at > w[0].1.active_at, "etcd {to}: {} stopped before {} was ready again: {restarted:#?}", hosts[w[1].0].name, hosts[w[0].0].name);
        }
        // The leader before the apply went last (when it was restarted at all).
        let leader_host = endpoints.iter().position(|e| *e == leader).unwrap();
        if restarted.iter().any(|(i, _)| *i == leader_host) {
            assert_eq!(restarted.last().unwrap().0, leader_host, "etcd {to}: the leader {leader} was not restarted last: {restarted:#?}");
        }
        r
    };

    let r = upgrade("3.5", None);
    assert!(r.ok(), "3.4 -> 3.5: {r:#?}");
    let recs = upgrade_records(&r);
    for (h, w) in &recs {
        assert!(w.iter().any(|x| x.starts_with(&format!("upgrade etcd {} -> {} (", steps["3.4"].version, steps["3.5"].version))), "{h}: {w:?}");
    }
    let (versions, _) = endpoint_status(&hosts[1]);
    assert!(versions.values().all(|v| *v == steps["3.5"].version), "{versions:?}");
    // A downgrade back to 3.4 is refused as well.
    refused("3.5", "3.4", "an older minor: downgrades are refused");

    // --- 3.5 -> 3.6, stopped midway: etcd03 cannot be reached.
    let r = upgrade("3.6", Some(&hosts[2]));
    assert!(!r.ok(), "etcd03 was blocked: {r:#?}");
    // etcd asks for 3.5.26+ before 3.6; this machine's 3.5 is 3.5.1: said, not refused.
    assert!(r.hosts["etcd01"].notes.iter().any(|n| n.contains("3.5.26 or later before upgrading to 3.6")), "{:?}", r.hosts["etcd01"].notes);
    let f = r.hosts["etcd03"].failed.as_ref().expect("etcd03 failed");
    assert_eq!(f.kind, FailureKind::Connect, "{f:#?}");
    let (versions, _) = endpoint_status(&hosts[0]);
    assert_eq!(versions[&endpoints[0]], steps["3.6"].version, "{versions:?}");
    assert_eq!(versions[&endpoints[1]], steps["3.6"].version, "{versions:?}");
    assert_eq!(versions[&endpoints[2]], steps["3.5"].version, "etcd03 stays at 3.5 while unreachable: {versions:?}");
    println!("3.5 -> 3.6 stopped midway: {versions:?}");
    // The next apply resumes: only etcd03 is upgraded.
    let r = upgrade("3.6", None);
    assert!(r.ok(), "3.6 resume: {r:#?}");
    let recs = upgrade_records(&r);
    assert!(recs["etcd01"].is_empty() && recs["etcd02"].is_empty(), "{recs:?}");
    assert!(recs["etcd03"].iter().any(|x| x.starts_with(&format!("upgrade etcd {} -> {} (1 of 1", steps["3.5"].version, steps["3.6"].version))), "{recs:?}");
    let (versions, _) = endpoint_status(&hosts[2]);
    assert!(versions.values().all(|v| *v == steps["3.6"].version), "{versions:?}");

    // --- 3.6 -> 3.7.
    let r = upgrade("3.7", None);
    assert!(r.ok(), "3.6 -> 3.7: {r:#?}");
    // status (the core's) reports every member at 3.7, healthy.
    let status = rt.block_on(async { engine(&tb, &steps["3.7"], &pki).await.status().await });
    assert!(status.etcd_healthy, "{status:#?}");
    for e in &status.etcd_endpoints {
        assert_eq!(e.server_version.as_deref(), Some(steps["3.7"].version.as_str()), "{e:?}");
    }
    // The next apply changes nothing.
    let before = all_on_hosts(&tb);
    let again = rt.block_on(async { engine(&tb, &steps["3.7"], &pki).await.apply(&ApplyOptions::default()).await });
    assert!(again.ok(), "{again:#?}");
    assert_eq!(again.change_count(), 0, "{:#?}", again.hosts.values().flat_map(|h| &h.changes).collect::<Vec<_>>());
    assert_eq!(all_on_hosts(&tb), before, "an apply with nothing to do restarted or rewrote something");
    timings.push(("apply 3.7 again".into(), again.elapsed_ms, 0));

    // --- every acknowledged write is readable, with its value.
    let (acked, failed) = writer.finish();
    let out = Command::new("timeout")
        .arg("60")
        .arg(&local_etcdctl)
        .args(etcdctl_args(certs.path(), &endpoints.join(",")))
        .args(["get", "up/", "--prefix", "-w", "json"])
        .env("ETCDCTL_API", "3")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let b64 = |s: &serde_json::Value| String::from_utf8(data_encoding::BASE64.decode(s.as_str().unwrap().as_bytes()).unwrap()).unwrap();
    let stored: BTreeMap<String, String> = v["kvs"].as_array().map(|a| a.iter().map(|kv| (b64(&kv["key"]), b64(&kv["value"]))).collect()).unwrap_or_default();
    let lost: Vec<u64> = acked.iter().copied().filter(|i| stored.get(&format!("up/k{i}")) != Some(&format!("v{i}"))).collect();
    assert!(lost.is_empty(), "acknowledged writes not readable: {lost:?}");
    assert!(acked.len() >= 50, "too few writes to mean anything: {}", acked.len());

    println!(
        "\netcd rolling upgrade on 3 test hosts: {} s in all, {} s of it waiting for and booting the testbed",
        started.elapsed().as_secs(),
        up_after.as_secs()
    );
    for (what, ms, writes) in &timings {
        println!("  {what}: {ms} ms, {writes} writes acknowledged during it");
    }
    println!("  writes: {} acknowledged, all read back; {failed} not acknowledged (timeouts while a member restarted)", acked.len());
    drop(tb);
}
