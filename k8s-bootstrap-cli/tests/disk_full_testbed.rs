//! A full disk on one host, on real test hosts (issue 14): etcd02's
//! `/opt/etcd/bin` and its `/tmp` become small tmpfs mounts filled to the
//! last byte, and a new etcd binary is applied. Preflight refuses the run
//! before any change, naming etcd02 and the mount. With that check waived,
//! the run fails on etcd02 with an error that names the host, the path and
//! the cause ("No space
//! left on device", even though the folder the remote shell keeps its
//! output in is full too: a CI run once lost that message and said only
//! "exit 1"), the old binary is intact, no temporary file is left, and etcd
//! keeps running. Once space is back, the next apply converges and the one
//! after changes nothing.
//!
//! Needs root (it boots the testbed); it fails, never skips, without it.

mod common;

use common::{cluster, changes, json, run, write_spec_with};

const BIN: &str = "/opt/etcd/bin";

#[test]
fn a_full_disk_fails_the_upload_cleanly_naming_host_path_and_cause() {
    let (tb, work) = cluster(true);
    let dir = work.path();
    let h2 = &tb.hosts()[1];
    let sha = |path: &str| h2.sh(&format!("sha256sum < {path}")).unwrap();
    let old = sha(&format!("{BIN}/etcd"));

    // A different etcd binary: the one in use, with 64 KiB more at its end.
    let spec = k8s_bootstrap_testbed::binaries::testbed_spec().unwrap();
    let current = spec.binaries.etcd.clone().expect("the testbed spec names its etcd binary");
    let newer = dir.join("etcd-newer");
    let mut bytes = std::fs::read(&current).unwrap();
    bytes.resize(bytes.len() + (64 << 10), 0);
    std::fs::write(&newer, &bytes).unwrap();
    write_spec_with(dir, &tb, |s| s.binaries.etcd = Some(newer.display().to_string()));

    // etcd02's binaries folder: a tmpfs holding the same files, then filled;
    // its /tmp: a small tmpfs, filled.
    h2.sh(&format!(
        "set -e; mkdir -p /root/kb-bin; cp -a {BIN}/. /root/kb-bin/; \
         mount -t tmpfs -o size=$(( $(du -sk {BIN} | cut -f1) + 1024 ))k kbfull {BIN}; \
         cp -a /root/kb-bin/. {BIN}/; dd if=/dev/zero of={BIN}/.fill bs=4k 2>/dev/null || true; \
         mount -t tmpfs -o size=256k kbfull /tmp; dd if=/dev/zero of=/tmp/.fill bs=4k 2>/dev/null || true"
    ))
    .unwrap();
    assert_eq!(sha(&format!("{BIN}/etcd")), old, "the tmpfs holds the binary in use");
    assert!(h2.sh("df --output=avail /tmp | tail -1").unwrap().trim() == "0", "/tmp is full");

    // Preflight sees it first: refused, nothing written, the mount named.
    let refused = run(dir, &tb, &["apply", "--output", "json"]);
    let report = json(&refused);
    assert_eq!(refused.status.code(), Some(1), "{report}");
    let found = &report["preflight"][0];
    assert_eq!((found["host"].as_str(), found["check"].as_str()), (Some("etcd02"), Some("disk-space")), "{report}");
    assert!(found["found"].as_str().unwrap().starts_with(&format!("{BIN} has 0 MiB free; this apply writes ")), "{report}");
    assert_eq!(report["preflight"].as_array().unwrap().len(), 1, "{report}");
    assert_eq!(changes(&refused), 0);
    // Waived, the upload itself meets the full disk and says so.
    let failed = run(dir, &tb, &["apply", "--waive", "disk-space", "--output", "json"]);
    let report = json(&failed);
    let umount = h2.sh(&format!("umount /tmp; umount {BIN}; rm -rf /root/kb-bin"));
    assert_eq!(failed.status.code(), Some(1), "{report}");
    let error = report["hosts"]["etcd02"]["failed"]["error"].as_str().unwrap_or_else(|| panic!("etcd02 did not fail: {report}"));
    assert!(error.contains("etcd02") || error.contains(&h2.ip.to_string()), "the error names the host: {error}");
    assert!(error.contains(&format!("{BIN}/etcd")), "the error names the path: {error}");
    assert!(error.contains("No space left on device"), "the error says why: {error}");
    umount.unwrap();
    // Back on the real folder: the old binary, no temporary file, etcd running.
    assert_eq!(sha(&format!("{BIN}/etcd")), old, "the old binary is intact");
    assert_eq!(h2.sh(&format!("ls -A {BIN} | grep kbtmp || true")).unwrap(), "", "no temporary file");
    assert_eq!(h2.sh("systemctl is-active etcd").unwrap().trim(), "active");

    let next = run(dir, &tb, &["apply", "--output", "json"]);
    assert!(next.status.success());
    let what: Vec<String> = json(&next)["hosts"]["etcd02"]["changes"].as_array().unwrap().iter().map(|c| c["what"].as_str().unwrap().to_string()).collect();
    assert!(what.iter().any(|w| w.starts_with(&format!("write {BIN}/etcd "))), "{what:?}");
    let want = String::from_utf8(std::process::Command::new("sh").arg("-c").arg(format!("sha256sum < {}", newer.display())).output().unwrap().stdout).unwrap();
    assert_eq!(sha(&format!("{BIN}/etcd")), want, "the new binary, whole");
    let status = json(&run(dir, &tb, &["status", "--output", "json"]));
    assert_eq!(status["etcd_healthy"], true, "{status}");
    assert_eq!(changes(&run(dir, &tb, &["apply", "--output", "json"])), 0);
}
