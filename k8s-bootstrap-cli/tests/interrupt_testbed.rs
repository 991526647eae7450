//! Ctrl-C at every stage in turn (issue 14), on 3 real test hosts with
//! the real etcd, flanneld and dockerd.
//!
//! From bare hosts, `apply` is started and interrupted (SIGINT, as Ctrl-C
//! in a terminal sends) the moment it announces stage S, for each stage S
//! of the run in order: host-prep, files, install, etcd, flannel-config,
//! flanneld, docker. Each interrupted run
//! - exits 1 and says it was interrupted, naming the stage it stopped
//!   before (the next one: steps already started finish);
//! - fails no host, and its report lists only changes of stages up to S
//!   (nothing started after the interrupt);
//! - leaves the hosts so that the next run goes on from there.
//!
//! After the last one, one apply converges (exit 0) with etcd healthy and
//! the same CA on every host, and the apply after it changes nothing.
//!
//! Needs root (it boots the testbed); it fails, never skips, without it.

mod common;

use common::{apply_acting_at, changes, cluster, json, run, text};
use k8s_bootstrap_core::apply::Stage;

#[test]
fn ctrl_c_at_every_stage_then_the_rerun_converges() {
    let (tb, work) = cluster(false);
    let dir = work.path();
    let mut done_any = 0;
    for stage in Stage::ALL {
        let out = apply_acting_at(dir, &tb.known_hosts(), stage.as_str(), |pid| {
            let ok = std::process::Command::new("kill").args(["-INT", &pid.to_string()]).status().unwrap();
            assert!(ok.success(), "kill -INT");
        });
        let (status, seen) = (out.status, text(&out.stderr));
        let report = json(&out);
        let aborted = report["aborted"].as_str().unwrap_or_default().to_string();
        match Stage::ALL.iter().position(|s| *s == stage).and_then(|i| Stage::ALL.get(i + 1)) {
            Some(next) => {
                assert_eq!(status.code(), Some(1), "interrupted at {stage}:\n{seen}");
                assert!(seen.contains("interrupted: letting the steps in flight finish"), "{seen}");
                assert!(aborted.contains(&format!("interrupted before stage {next}")), "interrupted at {stage}, the report says: {aborted:?}");
            }
            // the last stage: nothing is left to stop before, the run ends as it would
            None => assert!(status.code() == Some(0) || aborted.contains("interrupted"), "interrupted at {stage}: {aborted:?}\n{seen}"),
        }
        for (host, r) in report["hosts"].as_object().unwrap() {
            assert!(r["failed"].is_null(), "an interrupt failed {host}: {}", r["failed"]);
            for c in r["changes"].as_array().unwrap() {
                let s: Stage = serde_json::from_value(c["stage"].clone()).unwrap();
                assert!(s <= stage, "{host}: `{}` ({s}) ran after the interrupt at {stage}", c["what"]);
            }
        }
        done_any += changes(&out);
    }
    assert!(done_any > 0, "the interrupted runs changed nothing at all");
    let rest = run(dir, &tb, &["apply", "--output", "json"]);
    assert!(rest.status.success(), "the run after the interrupts");
    let again = run(dir, &tb, &["apply", "--output", "json"]);
    assert!(again.status.success());
    assert_eq!(changes(&again), 0, "the apply after converging changed something");
    let status = run(dir, &tb, &["status", "--output", "json"]);
    assert!(status.status.success());
    assert_eq!(json(&status)["etcd_healthy"], true);
    let cas: Vec<String> = tb.hosts().iter().map(|h| h.sh("sha256sum < /opt/etcd/ssl/ca.pem").unwrap()).collect();
    assert!(cas.iter().all(|c| *c == cas[0]), "the hosts hold different CAs: {cas:?}");
    drop(work);
    tb.down().expect("teardown");
}
