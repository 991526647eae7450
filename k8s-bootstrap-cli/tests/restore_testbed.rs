//! Disaster recovery on 3 real test hosts, through the binary: a snapshot
//! taken with `etcd snapshot`, more writes, every member's data directory
//! wiped, then `etcd restore --from FILE`: the snapshot's keys and revision
//! are back, the later writes are gone, and the next apply changes
//! nothing. A file that is not a snapshot is refused with nothing changed;
//! a restore over live data keeps that data aside.
//!
//! Needs root (it boots the testbed); it fails, never skips, without it.

mod common;

use common::{cluster, changes, fingerprint, json, run, text};
use k8s_bootstrap_testbed::Testbed;
use serde_json::Value;

const ADMIN: &str = "/opt/etcd/bin/etcdctl-admin";

/// `endpoint status` of every member, as etcd reports it.
fn revisions(tb: &Testbed) -> Vec<u64> {
    let out = tb.hosts()[0].sh(&format!("{ADMIN} endpoint status -w json")).unwrap();
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    v.as_array().unwrap().iter().map(|e| e["Status"]["header"]["revision"].as_u64().unwrap()).collect()
}

fn get(tb: &Testbed, prefix: &str) -> Vec<(String, String)> {
    let out = tb.hosts()[1].sh(&format!("{ADMIN} get --prefix {prefix} -w json")).unwrap();
    let v: Value = serde_json::from_str(&out).unwrap();
    let b64 = |s: &Value| String::from_utf8(data_encoding::BASE64.decode(s.as_str().unwrap().as_bytes()).unwrap()).unwrap();
    v["kvs"].as_array().map_or_else(Vec::new, |kvs| kvs.iter().map(|kv| (b64(&kv["key"]), b64(&kv["value"]))).collect())
}

#[test]
fn restore_brings_back_exactly_the_snapshot() {
    let (tb, work) = cluster(true);
    let dir = work.path();
    let h1 = &tb.hosts()[0];
    h1.sh(&format!("for i in $(seq 1 50); do {ADMIN} put /restore/k$i v$i >/dev/null; done")).unwrap();
    let snap = run(dir, &tb, &["etcd", "snapshot", "--out", "snap.db", "--output", "json"]);
    assert!(snap.status.success());
    let info = json(&snap);
    let (revision, keys) = (info["revision"].as_u64().unwrap(), info["total_keys"].as_u64().unwrap());
    let snapshot_keys = get(&tb, "/restore/");
    assert_eq!(snapshot_keys.len(), 50);

    // Not a snapshot: refused before anything changes.
    let before = fingerprint(&tb);
    let bad = run(dir, &tb, &["etcd", "restore", "--from", "cluster.yaml"]);
    assert_eq!(bad.status.code(), Some(2), "bad input");
    assert!(text(&bad.stderr).contains("is not an etcd snapshot etcd 3.4.23 can read"), "{}", text(&bad.stderr));
    assert_eq!(fingerprint(&tb), before, "nothing changed");

    // Later writes, then every data directory lost.
    h1.sh(&format!("for i in $(seq 1 10); do {ADMIN} put /later/k$i x >/dev/null; done; {ADMIN} put /restore/k1 changed; {ADMIN} del /restore/k2")).unwrap();
    for h in tb.hosts() {
        h.sh("systemctl stop etcd && rm -rf /var/lib/etcd/default.etcd").unwrap();
    }
    let restored = run(dir, &tb, &["etcd", "restore", "--from", "snap.db", "--output", "json"]);
    assert!(restored.status.success());
    let r = json(&restored);
    assert_eq!((r["revision"].as_u64(), r["total_keys"].as_u64()), (Some(revision), Some(keys)), "{r}");
    assert_eq!(r["kept"], serde_json::json!([]), "no data was there to keep");
    assert_eq!(get(&tb, "/restore/"), snapshot_keys, "every key of the snapshot, with its value");
    assert!(get(&tb, "/later/").is_empty(), "the later writes are gone");
    assert_eq!(revisions(&tb), vec![revision; 3], "every member at the snapshot's revision");
    let status = json(&run(dir, &tb, &["status", "--output", "json"]));
    assert_eq!(status["etcd_healthy"], true, "{status}");
    assert_eq!(changes(&run(dir, &tb, &["apply", "--output", "json"])), 0, "the next apply changes nothing");

    // Over live data: the data is kept aside on every member.
    h1.sh(&format!("{ADMIN} put /later/again y")).unwrap();
    let again = json(&run(dir, &tb, &["etcd", "restore", "--from", "snap.db", "--output", "json"]));
    let kept = again["kept"].as_array().unwrap();
    assert_eq!(kept.len(), 3, "{again}");
    for (h, k) in tb.hosts().iter().zip(kept) {
        let path = k[1].as_str().unwrap();
        assert!(path.starts_with("/var/lib/etcd/default.etcd.before-restore-"), "{path}");
        assert_eq!(h.sh(&format!("test -d {path}/member && echo kept")).unwrap().trim(), "kept", "{}", h.name);
    }
    assert!(get(&tb, "/later/").is_empty());
    assert_eq!(get(&tb, "/restore/"), snapshot_keys);
    assert_eq!(changes(&run(dir, &tb, &["apply", "--output", "json"])), 0);
}
