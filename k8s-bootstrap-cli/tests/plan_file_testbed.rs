//! A reviewed plan, applied as it is, on 3 real test hosts through the
//! binary: `plan --out FILE` changes nothing on the hosts; after a hand edit
//! on one host, `apply FILE` refuses, naming the host and the file, and
//! changes nothing; a fresh `plan --out` then `apply FILE` does exactly the
//! planned steps, and the next apply changes nothing.
//!
//! Needs root (it boots the testbed); it fails, never skips, without it.

mod common;

use common::{cluster, changes, json, run, text};
use k8s_bootstrap_testbed::Testbed;
use serde_json::Value;

/// host -> the `what` of each change, in order.
fn whats(v: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (host, r) in v["hosts"].as_object().unwrap() {
        for c in r["changes"].as_array().unwrap() {
            out.push((host.clone(), c["what"].as_str().unwrap().to_string()));
        }
    }
    out
}

#[test]
fn a_saved_plan_runs_exactly_or_is_refused_when_a_host_changed() {
    let (tb, work) = cluster(false);
    let dir = work.path();
    let etcd_state = |tb: &Testbed| tb.hosts().iter().map(|h| h.sh("systemctl is-active etcd || true").unwrap()).collect::<Vec<_>>();

    let plan = run(dir, &tb, &["plan", "--out", "plan.json", "--output", "json"]);
    assert!(plan.status.success());
    assert!(changes(&plan) > 50, "a bare cluster gets everything");
    let saved: Value = serde_json::from_slice(&std::fs::read(dir.join("plan.json")).unwrap()).unwrap();
    assert_eq!(saved["format"], 1);
    assert_eq!(saved["facts"].as_object().unwrap().len(), 3, "the facts of every host are in the file");
    assert!(!text(&std::fs::read(dir.join("plan.json")).unwrap()).contains("PRIVATE KEY"), "no key in the plan file");
    for h in tb.hosts() {
        assert_eq!(h.sh("test -e /opt/etcd/cfg/etcd && echo yes || echo no").unwrap().trim(), "no", "a plan writes nothing on {}", h.name);
    }

    // A host changed by hand after the review: refused, naming it and the file.
    tb.hosts()[1].sh("mkdir -p /opt/etcd/cfg && echo 'ETCD_NAME=by-hand' > /opt/etcd/cfg/etcd").unwrap();
    let refused = run(dir, &tb, &["apply", "plan.json", "--output", "json"]);
    assert!(!refused.status.success());
    let why = json(&refused)["aborted"].as_str().unwrap_or_default().to_string();
    let host1 = "etcd02".to_string(); // the spec's name of the testbed's second host
    assert!(why.starts_with(&format!("{host1} changed since the plan was made (/opt/etcd/cfg/etcd: absent then, sha256 ")), "{why}");
    assert_eq!(changes(&refused), 0);
    assert_eq!(tb.hosts()[1].sh("cat /opt/etcd/cfg/etcd").unwrap().trim(), "ETCD_NAME=by-hand", "nothing written");
    assert!(etcd_state(&tb).iter().all(|s| s.trim() != "active"), "nothing started: {:?}", etcd_state(&tb));

    // A new plan, reviewed, then applied: exactly its steps, in its order.
    let plan = run(dir, &tb, &["plan", "--out", "plan2.json", "--output", "json"]);
    assert!(plan.status.success());
    let planned = whats(&json(&plan));
    assert!(planned.contains(&(host1.clone(), "write /opt/etcd/cfg/etcd (updated)".to_string())), "{planned:?}");
    let applied = run(dir, &tb, &["apply", "plan2.json", "--output", "json"]);
    assert!(applied.status.success(), "{}", text(&applied.stderr));
    assert_eq!(whats(&json(&applied)), planned, "apply FILE does what the plan said, nothing else");
    assert!(etcd_state(&tb).iter().all(|s| s.trim() == "active"), "{:?}", etcd_state(&tb));

    // The same file again: the hosts are no longer what it was made from.
    let again = run(dir, &tb, &["apply", "plan2.json", "--output", "json"]);
    assert!(!again.status.success());
    assert!(json(&again)["aborted"].as_str().unwrap().contains("changed since the plan was made"));
    let noop = run(dir, &tb, &["apply", "--output", "json"]);
    assert!(noop.status.success());
    assert_eq!(changes(&noop), 0, "converged");
}
