//! The cluster lock on 3 real test hosts, through the binary as operators
//! run it:
//!
//! - two `apply` runs started at the same moment on one bare cluster from
//!   one PKI folder: one brings the cluster up, the other is refused at once
//!   naming the first (its pid); one CA, on every host; the next apply
//!   changes nothing;
//! - a run from another control machine (another PKI folder) while an apply
//!   runs: refused on the hosts, naming the running apply's pid;
//! - a lock left on a host by a run that is gone: refused while it is
//!   fresh, refused as stale once it is not refreshed, broken with
//!   `--break-lock`; nothing changed on the hosts before that.
//!
//! Needs root (it boots the testbed); it fails, never skips, without it.

mod common;

use std::process::{Command as Std, Stdio};
use std::time::{Duration, Instant};

use common::{changes, fingerprint, json, kb, run, text, write_spec};
use k8s_bootstrap_testbed::Testbed;

const LOCK: &str = "/run/k8s-bootstrap.lock";

#[test]
fn one_run_at_a_time_changes_a_cluster() {
    let tb = Testbed::up(3).expect("booting 3 test hosts (needs root, see k8s-bootstrap-testbed docs)");
    let work = tempfile::tempdir().unwrap();
    let (one, two) = (work.path().join("ctl1"), work.path().join("ctl2"));
    write_spec(&one, &tb);

    // 1. Two applies at the same moment, one spec, one PKI folder, bare hosts.
    let spawn = || {
        kb(&one)
            .args(["apply", "--output", "json", "--known-hosts"])
            .arg(tb.known_hosts())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn k8s-bootstrap apply")
    };
    let (a, b) = (spawn(), spawn());
    let pids = (a.id(), b.id());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    for o in [&a, &b] {
        eprintln!("apply -> {:?}\n{}{}", o.status.code(), text(&o.stdout), text(&o.stderr));
    }
    let (won, lost, winner) = match (a.status.success(), b.status.success()) {
        (true, false) => (&a, &b, pids.0),
        (false, true) => (&b, &a, pids.1),
        other => panic!("exactly one apply must run, the other be refused: {other:?}"),
    };
    assert_eq!(lost.status.code(), Some(1));
    let refusal = text(&lost.stderr);
    let pki = one.join("pki");
    assert!(
        refusal.contains(&format!("the PKI folder {} is locked by another run: held by ", pki.display()))
            && refusal.contains(&format!(", pid {winner} (")),
        "the refusal names the folder and the run holding it: {refusal}"
    );
    assert!(changes(won) > 50, "the winner brought the cluster up");
    // One CA, the one every host has.
    let ca = std::fs::read_to_string(pki.join("ca.pem")).unwrap();
    for h in tb.hosts() {
        assert_eq!(h.sh("cat /opt/etcd/ssl/ca.pem").unwrap(), ca, "{}: the CA of the PKI folder", h.name);
        assert_eq!(h.sh(&format!("test -e {LOCK} && echo held || echo free")).unwrap().trim(), "free", "{}: the lock is given back", h.name);
    }
    let status = json(&run(&one, &tb, &["status", "--output", "json"]));
    assert_eq!(status["etcd_healthy"], true, "{status}");
    assert_eq!(changes(&run(&one, &tb, &["apply", "--output", "json"])), 0);

    // 2. Another control machine (a copy of the PKI folder) while an apply runs.
    write_spec(&two, &tb);
    let status = Std::new("cp").arg("-a").arg(&pki).arg(two.join("pki")).status().unwrap();
    assert!(status.success());
    assert!(run(&one, &tb, &["reset", "--purge", "--output", "json"]).status.success());
    let long = kb(&one).args(["apply", "--output", "json", "--known-hosts"]).arg(tb.known_hosts()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let long_pid = long.id();
    let h1 = &tb.hosts()[0];
    let start = Instant::now();
    while !h1.sh(&format!("cat {LOCK} 2>/dev/null || true")).unwrap().contains(&format!("\"pid\":{long_pid},")) {
        assert!(start.elapsed() < Duration::from_secs(60), "the running apply never took the lock on {}", h1.name);
        std::thread::sleep(Duration::from_millis(100));
    }
    let other = run(&two, &tb, &["apply", "--output", "json"]);
    let long = long.wait_with_output().unwrap();
    eprintln!("the long apply -> {:?}\n{}", long.status.code(), text(&long.stderr));
    assert!(long.status.success(), "the running apply went on");
    assert_eq!(other.status.code(), Some(1));
    let report = json(&other);
    assert!(report["aborted"].as_str().unwrap().starts_with("the cluster is locked by another run (on "), "{report}");
    let f = &report["hosts"]["etcd01"]["failed"];
    assert_eq!(f["kind"], "locked", "{report}");
    assert!(f["error"].as_str().unwrap().contains(&format!(", pid {long_pid} (")), "names the running apply: {f}");
    assert_eq!(changes(&other), 0);
    assert_eq!(changes(&run(&one, &tb, &["apply", "--output", "json"])), 0, "the refused run changed nothing");

    // 3. A lock left behind by a run that is gone (another machine's).
    let before = fingerprint(&tb);
    let holder = r#"{"user":"ops","host":"ctl9","pid":4242,"since":"2026-12-04T12:01:03Z","command":"k8s-bootstrap apply","id":"feedfacefeedfacefeedface"}"#;
    tb.hosts()[1].sh(&format!("printf '%s\\n' '{holder}' > {LOCK}")).unwrap();
    let fresh = run(&two, &tb, &["apply"]);
    let out = text(&fresh.stdout);
    assert_eq!(fresh.status.code(), Some(1));
    assert!(out.contains("etcd02 is locked by another run: held by ops@ctl9 since 2026-12-04 12:01:03 UTC, pid 4242 (k8s-bootstrap apply), refreshed"), "{out}");
    assert!(out.contains("next: wait for the run named above to end"), "{out}");
    // Even asked, a lock that is being refreshed is not broken.
    assert_eq!(run(&two, &tb, &["apply", "--break-lock"]).status.code(), Some(1));
    tb.hosts()[1].sh(&format!("touch -d '-2 min' {LOCK}")).unwrap();
    let stale = run(&two, &tb, &["apply"]);
    assert_eq!(stale.status.code(), Some(1));
    assert!(text(&stale.stdout).contains("s: that run is gone (killed, or its machine lost); if so, break the lock (the break-lock option)"), "{}", text(&stale.stdout));
    assert_eq!(fingerprint(&tb), before, "nothing changed on the hosts while the lock was held");
    let broken = run(&two, &tb, &["apply", "--break-lock", "--output", "json"]);
    assert!(broken.status.success());
    let notes = json(&broken)["hosts"]["etcd02"]["notes"].to_string();
    assert!(notes.contains("broke a stale cluster lock (held by ops@ctl9"), "{notes}");
    assert_eq!(changes(&broken), 0);
    for h in tb.hosts() {
        assert_eq!(h.sh(&format!("test -e {LOCK} && echo held || echo free")).unwrap().trim(), "free", "{}", h.name);
    }
}
