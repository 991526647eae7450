//! Round trips of a run on 3 real test hosts, counted (not timed): a first
//! apply uses one exchange per stage a host has steps in, plus the lock's
//! (taken with the facts, refreshed, given back); a no-op
//! apply opens one SSH connection per host and uses 2 exchanges on its
//! session (the lock and the facts together, then the lock given back); a
//! plan uses 1 (the facts; it takes no lock). Counted by the transport
//! itself (`SshTransport::stats`), so a stage that pays its own round
//! trips again shows here.
//!
//! Needs root (it boots the testbed); it fails, never skips, without it.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_bootstrap_core::apply::{ApplyOptions, Engine};
use k8s_bootstrap_core::pki::CertBundle;
use k8s_bootstrap_core::spec::ClusterSpec;
use k8s_bootstrap_core::transport::{SshStats, SshTransport, Transport};
use k8s_bootstrap_testbed::Testbed;

fn engine(spec: &ClusterSpec, pki: &k8s_bootstrap_core::pki::Issued, hosts: &BTreeMap<String, SshTransport>) -> Engine {
    let t = hosts.iter().map(|(n, h)| (n.clone(), Arc::new(h.clone()) as Arc<dyn Transport>)).collect();
    Engine::new(spec, pki, t).expect("engine")
}

#[test]
fn a_no_op_apply_is_two_exchanges_on_one_connection_per_host() {
    let tb = Testbed::up(3).expect("booting 3 test hosts (needs root, see k8s-bootstrap-testbed docs)");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let spec = k8s_bootstrap_testbed::binaries::testbed_spec().expect("the testbed spec (scripts/setup has run)");
    let pki = CertBundle::for_cluster(&spec).unwrap().generate().unwrap();
    rt.block_on(async {
        let hosts = tb.ssh_transports(&spec).await;
        let t = std::time::Instant::now();
        let first = engine(&spec, &pki, &hosts).apply(&ApplyOptions::default()).await;
        let took = t.elapsed();
        assert!(first.ok(), "{first:#?}");
        let before: BTreeMap<String, SshStats> = hosts.iter().map(|(n, h)| (n.clone(), h.stats())).collect();
        assert!(before.values().all(|s| s.connections == 1), "{before:?}");
        // A first apply: per host, the lock with the facts; one exchange per
        // stage it has steps in (host-prep, files: one upload of
        // everything, the facts having said what differs, install, etcd,
        // flanneld, docker); the lock given back; and the lock's refreshes
        // (one every REFRESH_EVERY): at most one per stage barrier (7) plus
        // one. etcd01 also runs flannel's config and the health gate's
        // polls (as many as etcd takes to be healthy).
        let refreshes = took.as_secs() / k8s_bootstrap_core::apply::REFRESH_EVERY.as_secs() + 1;
        for n in ["etcd02", "etcd03"] {
            let x = before[n].exchanges;
            println!("first apply, {n}: {x} exchanges in {took:?}");
            assert!((8..=8 + refreshes).contains(&x), "{n}: {x} exchanges ({took:?}): {before:?}");
        }
        println!("first apply, etcd01: {} exchanges", before["etcd01"].exchanges);

        let noop = engine(&spec, &pki, &hosts).apply(&ApplyOptions::default()).await;
        assert!(noop.ok() && noop.change_count() == 0, "{noop:#?}");
        for (n, h) in &hosts {
            let (a, b) = (before[n], h.stats());
            assert_eq!(b.connections, 1, "{n}: one connection for both runs");
            assert_eq!(b.exchanges - a.exchanges, 2, "{n}: the lock with the facts, then the lock given back ({a:?} -> {b:?})");
            assert_eq!(b.sessions, a.sessions, "{n}: no new session: the one remote shell serves every run");
        }

        let mid: BTreeMap<String, SshStats> = hosts.iter().map(|(n, h)| (n.clone(), h.stats())).collect();
        let plan = engine(&spec, &pki, &hosts).plan(&ApplyOptions::default()).await;
        assert_eq!(plan.change_count(), 0, "{plan:#?}");
        for (n, h) in &hosts {
            assert_eq!(h.stats().exchanges - mid[n].exchanges, 1, "{n}: a plan reads the facts, nothing else");
        }
    });
}
