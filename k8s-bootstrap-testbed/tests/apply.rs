//! The tutorial's cluster applied over SSH to 3 real test hosts (issue 6):
//! from bare hosts to a healthy TLS etcd cluster with flannel's config in
//! it, then a second apply that changes and restarts nothing, then drift on
//! one member that is repaired by restarting only that member.
//!
//! Needs root (it boots the testbed); it fails, never skips, without it.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use k8s_bootstrap_core::apply::{ApplyOptions, Engine, Event, Progress, Report, Stage};
use k8s_bootstrap_core::pki::{CertBundle, Issued};
use k8s_bootstrap_core::spec::ClusterSpec;
use k8s_bootstrap_testbed::{Host, Testbed};

/// examples/testbed-cluster.yaml: the real flanneld of scripts/setup.
fn spec() -> ClusterSpec {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/testbed-cluster.yaml");
    let yaml = std::fs::read_to_string(path).expect("examples/testbed-cluster.yaml");
    let (spec, _warnings) = ClusterSpec::load(&yaml).expect("valid testbed spec");
    let flanneld = spec.binaries.flanneld.clone().expect("the testbed spec names flanneld");
    assert!(std::path::Path::new(&flanneld).is_file(), "{flanneld} is missing: run scripts/setup (as root)");
    spec
}

async fn apply(tb: &Testbed, spec: &ClusterSpec, pki: &Issued) -> Report {
    let engine = Engine::new(spec, pki, tb.transports(spec).await).expect("engine");
    engine.apply(&ApplyOptions::default()).await
}

fn host<'a>(tb: &'a Testbed, ip: &str) -> &'a Host {
    tb.hosts().iter().find(|h| h.ip.to_string() == ip).expect("test host")
}

fn etcd_pid(h: &Host) -> String {
    main_pid(h, "etcd")
}

fn main_pid(h: &Host, unit: &str) -> String {
    let pid = h.sh(&format!("systemctl show -p MainPID --value {unit}")).expect("MainPID").trim().to_string();
    assert_ne!(pid, "0", "{}: {unit} is not running", h.name);
    pid
}

/// Kills every sshd of one host (listener and sessions) as soon as that
/// host has written its first file.
struct KillSshdOnFirstWrite {
    victim: Host,
    done: AtomicBool,
}

impl Progress for KillSshdOnFirstWrite {
    fn event(&self, e: &Event) {
        if let Event::Changed { host, change } = e
            && host == "etcd03"
            && change.stage == Stage::Files
            && !self.done.swap(true, Ordering::SeqCst)
        {
            self.victim.sh("pkill -KILL -x sshd; true").expect("kill sshd");
        }
    }
}

fn changes(r: &Report) -> Vec<String> {
    r.hosts.iter().flat_map(|(n, h)| h.changes.iter().map(move |c| format!("{n}: {} {}", c.stage, c.what))).collect()
}

/// A plaintext HTTP request to `ip:port` must not get an etcd answer.
fn plaintext_gets_no_etcd_answer(ip: &str, port: u16) {
    let Ok(mut s) = TcpStream::connect_timeout(&format!("{ip}:{port}").parse().unwrap(), Duration::from_secs(3)) else {
        return; // nothing listens: no plaintext either
    };
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let _ = s.write_all(b"GET /version HTTP/1.0\r\n\r\n");
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    assert!(!text.contains("etcdserver") && !text.contains("200 OK"), "{ip}:{port} answered in plaintext: {text}");
}

#[test]
fn tutorial_cluster_on_three_test_hosts() {
    let tb = Testbed::up(3).expect("booting 3 test hosts (needs root, see k8s-bootstrap-testbed docs)");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let spec = spec();
    let pki = CertBundle::for_cluster(&spec).unwrap().generate().unwrap();

    // --- plan on bare hosts: shows everything, changes nothing.
    let plan = rt.block_on(async {
        Engine::new(&spec, &pki, tb.transports(&spec).await).unwrap().plan(&ApplyOptions::default()).await
    });
    assert!(plan.ok() && plan.dry_run, "{plan:#?}");
    assert!(plan.change_count() > 30);
    assert_eq!(host(&tb, "10.77.0.11").sh("test -e /opt/etcd/cfg/etcd && echo yes || echo no").unwrap().trim(), "no");

    // --- first apply from bare hosts.
    let first = rt.block_on(apply(&tb, &spec, &pki));
    assert!(first.ok(), "first apply failed: {first:#?}");
    eprintln!("first apply: {} changes in {} ms", first.change_count(), first.elapsed_ms);

    let status = rt.block_on(async {
        Engine::new(&spec, &pki, tb.transports(&spec).await).unwrap().status().await
    });
    assert!(status.etcd_healthy, "{status:#?}");
    assert_eq!(status.etcd_members, ["etcd01", "etcd02", "etcd03"]);
    assert_eq!(status.flannel_api, "v3");
    assert_eq!(
        status.flannel_config.as_deref(),
        Some(r#"{"Network":"10.244.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan","VNI":1,"Port":8472}}"#)
    );
    for (name, hs) in &status.hosts {
        for unit in ["etcd", "flanneld", "docker"] {
            assert_eq!(hs.units[unit], "active", "{name}: {unit}");
        }
        let bridge = hs.docker_bridge.as_ref().expect("docker runs");
        assert!(bridge.matches && bridge.docker0.as_deref().is_some_and(|a| a.starts_with("10.244.")), "{name}: {bridge:?}");
    }
    // docker took its bridge from the lease in flanneld's subnet file,
    // which only flanneld writes (tutorial bug 5: mk-docker-opts.sh -d
    // subnet.env used to overwrite it). The leases themselves, the vxlan
    // device and pod traffic are checked in tests/overlay.rs.
    for h in tb.hosts() {
        let subnet_env = h.sh("cat /run/flannel/subnet.env").unwrap();
        let keys: Vec<&str> = subnet_env.lines().filter_map(|l| l.split_once('=')).map(|(k, _)| k).collect();
        assert_eq!(keys, ["FLANNEL_NETWORK", "FLANNEL_SUBNET", "FLANNEL_MTU", "FLANNEL_IPMASQ"], "{}: {subnet_env}", h.name);
        let subnet = subnet_env.lines().find_map(|l| l.strip_prefix("FLANNEL_SUBNET=")).unwrap();
        let docker0 = h.sh("ip -4 -o addr show dev docker0").unwrap();
        assert!(docker0.contains(&format!("inet {subnet}")), "{}: {docker0} vs {subnet}", h.name);
        assert!(h.sh("ls /run/flannel").unwrap().trim() == "subnet.env", "{}: nothing else under /run/flannel", h.name);
    }

    let h1 = host(&tb, "10.77.0.11");
    // Keys are 0600 root, each host has only its own member key.
    assert_eq!(h1.sh("stat -c '%a %U' /opt/etcd/ssl/etcd01-peer-key.pem").unwrap().trim(), "600 root");
    assert_eq!(h1.sh("ls /opt/etcd/ssl | grep -c etcd02 || true").unwrap().trim(), "0");
    // A client without a certificate is refused; the admin client works.
    let anon = h1
        .sh("ETCDCTL_API=3 /opt/etcd/bin/etcdctl --endpoints=https://10.77.0.11:2379 --cacert=/opt/etcd/ssl/ca.pem \
             --dial-timeout=3s --command-timeout=5s get /coreos.com/network/config >/dev/null 2>&1 && echo served || echo refused")
        .unwrap();
    assert_eq!(anon.trim(), "refused");
    // The flannel config is not visible through v2 (flannel >= 0.18 reads v3; v2 is off).
    let v2 = h1
        .sh("ETCDCTL_API=2 /opt/etcd/bin/etcdctl --endpoints=https://10.77.0.11:2379 --ca-file=/opt/etcd/ssl/ca.pem \
             --cert-file=/opt/etcd/ssl/admin.pem --key-file=/opt/etcd/ssl/admin-key.pem get /coreos.com/network/config 2>&1 || true")
        .unwrap();
    assert!(!v2.contains("10.244.0.0/16"), "visible through v2: {v2}");
    // Nothing answers in plaintext on 2379/2380, on any member.
    for ip in ["10.77.0.11", "10.77.0.12", "10.77.0.13"] {
        plaintext_gets_no_etcd_answer(ip, 2379);
        plaintext_gets_no_etcd_answer(ip, 2380);
    }
    // The flanneld and docker units are installed and enabled.
    assert_eq!(h1.sh("systemctl is-enabled flanneld docker").unwrap().trim(), "enabled\nenabled");

    // --- second apply: nothing changes, no etcd restarts.
    let pids: Vec<String> = tb.hosts().iter().map(etcd_pid).collect();
    let all_pids = || -> Vec<String> {
        tb.hosts().iter().flat_map(|h| ["etcd", "flanneld", "docker"].map(|u| main_pid(h, u))).collect()
    };
    let before = all_pids();
    let second = rt.block_on(apply(&tb, &spec, &pki));
    assert!(second.ok(), "{second:#?}");
    assert_eq!(changes(&second), Vec::<String>::new(), "second apply changed things");
    assert_eq!(all_pids(), before, "a second apply restarted etcd, flanneld or docker");

    // --- drift on one member: its env file edited by hand. The apply puts it
    // back and restarts etcd on that member only, the cluster stays healthy.
    let h2 = host(&tb, "10.77.0.12");
    h2.sh("echo '# edited by hand' >> /opt/etcd/cfg/etcd").unwrap();
    let pid2 = etcd_pid(h2);
    let third = rt.block_on(apply(&tb, &spec, &pki));
    assert!(third.ok(), "{third:#?}");
    assert_eq!(
        changes(&third),
        ["etcd02: files write /opt/etcd/cfg/etcd (updated)", "etcd02: etcd restart etcd (/opt/etcd/cfg/etcd changed)"]
    );
    assert_ne!(etcd_pid(h2), pid2, "etcd02 restarted");
    assert_eq!(etcd_pid(host(&tb, "10.77.0.11")), pids[0]);
    assert_eq!(etcd_pid(host(&tb, "10.77.0.13")), pids[2]);
    let status = rt.block_on(async {
        Engine::new(&spec, &pki, tb.transports(&spec).await).unwrap().status().await
    });
    assert!(status.etcd_healthy, "{status:#?}");

    // --- sshd of one host killed in the middle of an apply (a changed
    // token rewrites every member's env file): that host is reported
    // failed with its address and cause, the others finish (etcd restarts
    // one member at a time and keeps a quorum), later stages still run.
    let mut spec2 = spec.clone();
    spec2.etcd.token = "etcd-cluster-2".into();
    let h3 = host(&tb, "10.77.0.13").clone();
    let killer = Arc::new(KillSshdOnFirstWrite { victim: h3.clone(), done: AtomicBool::new(false) });
    let cut = rt.block_on(async {
        Engine::new(&spec2, &pki, tb.transports(&spec2).await)
            .unwrap()
            .with_progress(killer.clone())
            .apply(&ApplyOptions::default())
            .await
    });
    assert!(killer.done.load(Ordering::SeqCst), "sshd was never killed");
    assert!(!cut.ok() && cut.aborted.is_none(), "{cut:#?}");
    let failure = cut.hosts["etcd03"].failed.as_ref().expect("etcd03 failed");
    assert!(failure.error.contains("10.77.0.13"), "{failure:?}");
    for ok_host in ["etcd01", "etcd02"] {
        let r = &cut.hosts[ok_host];
        assert!(r.failed.is_none(), "{ok_host}: {r:?}");
        assert!(r.changes.iter().any(|c| c.what.starts_with("restart etcd")), "{ok_host}: {:?}", r.changes);
    }
    // sshd comes back; the next apply converges: etcd03's env file was
    // already written, so its etcd restarts because the file is newer
    // than the running process.
    h3.sh("systemctl reset-failed ssh; systemctl restart ssh").unwrap();
    let healed = rt.block_on(apply(&tb, &spec2, &pki));
    assert!(healed.ok(), "{healed:#?}");
    assert_eq!(
        changes(&healed).into_iter().filter(|c| c.contains("restart")).collect::<Vec<_>>(),
        ["etcd03: etcd restart etcd (/opt/etcd/cfg/etcd is newer than the running etcd: an earlier apply stopped before restarting it)"],
        "{:?}", changes(&healed)
    );
    let again = rt.block_on(apply(&tb, &spec2, &pki));
    assert_eq!(changes(&again), Vec::<String>::new());

    // --- a plan now shows nothing to do.
    let plan = rt.block_on(async {
        Engine::new(&spec2, &pki, tb.transports(&spec2).await).unwrap().plan(&ApplyOptions::default()).await
    });
    assert_eq!(changes(&plan), Vec::<String>::new());

    // --- reset: units stopped and disabled, installed files gone, etcd's
    // data kept; a second reset changes nothing; apply brings the same
    // cluster back with its data; reset --purge removes the data too.
    let engine = |s: &ClusterSpec| {
        let s = s.clone();
        let pki = &pki;
        let tb = &tb;
        async move { Engine::new(&s, pki, tb.transports(&s).await).unwrap() }
    };
    let reset = rt.block_on(async { engine(&spec2).await.reset(&ApplyOptions::default(), false).await });
    assert!(reset.ok(), "{reset:#?}");
    for h in tb.hosts() {
        let state = h.sh("systemctl is-active etcd flanneld docker || true; systemctl is-enabled etcd || true; \
                          test -e /opt/etcd && echo opt-etcd || echo no-opt-etcd; test -d /var/lib/etcd/default.etcd/member && echo data || echo no-data").unwrap();
        assert_eq!(state, "inactive\ninactive\ninactive\ndisabled\nno-opt-etcd\ndata\n", "{}", h.name);
    }
    let again = rt.block_on(async { engine(&spec2).await.reset(&ApplyOptions::default(), false).await });
    assert!(again.ok() && again.change_count() == 0, "{:?}", changes(&again));
    let back = rt.block_on(apply(&tb, &spec2, &pki));
    assert!(back.ok(), "{back:#?}");
    assert!(
        !changes(&back).iter().any(|c| c.contains("network config")),
        "flannel's config was still in the kept etcd data: {:?}", changes(&back)
    );
    let purge = rt.block_on(async { engine(&spec2).await.reset(&ApplyOptions::default(), true).await });
    assert!(purge.ok(), "{purge:#?}");
    for h in tb.hosts() {
        assert_eq!(h.sh("test -e /var/lib/etcd/default.etcd && echo data || echo none").unwrap().trim(), "none", "{}", h.name);
    }
    drop(tb);
}
