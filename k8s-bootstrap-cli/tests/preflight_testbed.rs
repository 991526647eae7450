//! Preflight on real test hosts (issue 14): problems found in the facts,
//! before anything changes, each naming the host, what was found and the
//! fix; the run refuses while one is not waived.
//!
//! - etcd02's etcd.service masked, and a process (python3) listening on
//!   etcd03's client port: `plan` and `apply` list both and change nothing
//!   (no file written, no unit started); fixed by hand, the apply converges.
//! - The etcd environment file of a running member rewritten by hand
//!   without k8s-bootstrap's first line (as a cluster built from the
//!   tutorial has it) and its CA file another CA's: refused as an etcd this
//!   tool did not set up (one with the cluster's own CA is adopted:
//!   `adopt_testbed.rs`); `--waive foreign-etcd` lets the apply write both back.
//!
//! Needs root (it boots the testbed); it fails, never skips, without it.

mod common;

use common::{cluster, changes, json, run, text};
use serde_json::Value;

fn findings(report: &Value) -> Vec<(String, String, String)> {
    report["preflight"]
        .as_array()
        .unwrap_or_else(|| panic!("no preflight in {report}"))
        .iter()
        .map(|f| (f["host"].as_str().unwrap().to_string(), f["check"].as_str().unwrap().to_string(), f["found"].as_str().unwrap().to_string()))
        .collect()
}

#[test]
fn preflight_refuses_before_any_change_naming_host_problem_and_fix() {
    let (tb, work) = cluster(false);
    let dir = work.path();
    let (h2, h3) = (&tb.hosts()[1], &tb.hosts()[2]);
    h2.sh("systemctl mask etcd.service").unwrap();
    h3.sh(&format!("systemd-run --unit kb-squatter python3 -m http.server 2379 --bind {}", h3.ip)).unwrap();
    let listening = || h3.sh("ss -Hltn 'sport = :2379' | wc -l").unwrap().trim() != "0";
    let start = std::time::Instant::now();
    while !listening() {
        assert!(start.elapsed() < std::time::Duration::from_secs(30), "the squatter never listened");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }

    for cmd in ["plan", "apply"] {
        let out = run(dir, &tb, &[cmd, "--output", "json"]);
        assert_eq!(out.status.code(), Some(1), "{cmd} refuses");
        let report = json(&out);
        let found = findings(&report);
        assert!(found.contains(&("etcd02".into(), "masked-unit".into(), "etcd.service is masked".into())), "{found:?}");
        let squat = found.iter().find(|(h, c, _)| h == "etcd03" && c == "port-taken").unwrap_or_else(|| panic!("{found:?}"));
        assert!(squat.2.starts_with("port 2379/tcp is taken by python3 (pid "), "{squat:?}");
        assert_eq!(found.len(), 2, "nothing else: {found:?}");
        let why = report["aborted"].as_str().unwrap();
        assert!(why.starts_with("preflight found 2 problem(s), nothing was changed:") && why.contains("fix: systemctl unmask etcd.service"), "{why}");
        assert_eq!(changes(&out), 0, "{cmd}: {report}");
    }
    for h in tb.hosts() {
        assert_eq!(h.sh("ls /opt/etcd/cfg 2>/dev/null | wc -l").unwrap().trim(), "0", "{}: nothing written", h.name);
        assert_ne!(h.sh("systemctl is-active etcd || true").unwrap().trim(), "active");
    }
    // The text output says the same to a person.
    let plain = run(dir, &tb, &["apply"]);
    assert!(text(&plain.stdout).contains("etcd03: port 2379/tcp is taken by python3"), "{}", text(&plain.stdout));

    // Fixed by hand: the apply converges, with nothing to report.
    h2.sh("systemctl unmask etcd.service").unwrap();
    h3.sh("systemctl stop kb-squatter").unwrap();
    let ok = run(dir, &tb, &["apply", "--output", "json"]);
    assert!(ok.status.success());
    assert!(findings(&json(&ok)).is_empty());

    // A running member whose env file is not k8s-bootstrap's and whose CA
    // file is another CA's (an etcd built by hand, not adopted).
    let h1 = &tb.hosts()[0];
    h1.sh("sed -i '1d' /opt/etcd/cfg/etcd && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=another-ca -keyout /root/other-ca-key.pem -out /opt/etcd/ssl/ca.pem -days 2 2>/dev/null").unwrap();
    let refused = run(dir, &tb, &["apply", "--output", "json"]);
    assert_eq!(refused.status.code(), Some(1));
    let found = findings(&json(&refused));
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!((found[0].0.as_str(), found[0].1.as_str()), ("etcd01", "foreign-etcd"));
    assert!(found[0].2.contains("/opt/etcd/cfg/etcd"), "{found:?}");
    let waived = run(dir, &tb, &["apply", "--waive", "foreign-etcd", "--output", "json"]);
    assert!(waived.status.success());
    let report = json(&waived);
    assert_eq!(report["preflight"][0]["waived"], true, "{report}");
    let what: Vec<&str> = report["hosts"]["etcd01"]["changes"].as_array().unwrap().iter().map(|c| c["what"].as_str().unwrap()).collect();
    assert!(what.contains(&"write /opt/etcd/cfg/etcd (updated)"), "{what:?}");
    assert_eq!(changes(&run(dir, &tb, &["apply", "--output", "json"])), 0);
    assert!(run(dir, &tb, &["apply", "--waive", "nonsense"]).status.code() == Some(2), "an unknown check is a usage error");
}
