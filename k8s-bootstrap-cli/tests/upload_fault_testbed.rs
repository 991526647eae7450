//! A connection lost in the middle of an upload, on real test hosts: the
//! host's link is slowed (tc) so that a 40 MB etcd binary takes seconds to
//! upload; once its temporary file is on the host, every process of the
//! SSH sessions is killed (SIGKILL: no trap runs, as when the host dies or
//! the process is killed). The file being replaced is intact, the run
//! reports the host failed and the cluster stays healthy. The killed run
//! could not give back its lock on that host: the next apply is refused,
//! naming that run as gone, and `--break-lock` then removes the temporary
//! file, finishes the upload and converges; the apply after changes nothing.
//!
//! Needs root (it boots the testbed); it fails, never skips, without it.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{cluster, changes, json, kb, run, text, write_spec_with};

const BIN: &str = "/opt/etcd/bin";

/// Stops every process of every SSH session (SIGSTOP: a stopped process
/// neither runs nor forks) until the set no longer grows, then SIGKILLs
/// them all.
const STOP_THEN_KILL_SSH_SESSIONS: &str = r#"
sessions() {
  for p in $(pgrep -f 'ssh[d]: root@'); do
    echo "$p"
    for c in $(pgrep -P "$p"); do pgrep -s "$c"; done
  done | sort -n
}
old=; new=$(sessions)
[ -n "$new" ] || { echo 'no SSH session to kill' >&2; exit 1; }
while [ "$new" != "$old" ]; do
  kill -STOP $new 2> /dev/null || true
  old=$new; new=$(sessions)
done
kill -KILL $new
"#;

fn sha(h: &k8s_bootstrap_testbed::Host, path: &str) -> String {
    h.sh(&format!("sha256sum < {path}")).unwrap()
}

fn litter(h: &k8s_bootstrap_testbed::Host) -> String {
    h.sh(&format!("ls -A {BIN} | grep kbtmp || true")).unwrap()
}

#[test]
fn an_upload_killed_half_way_leaves_the_old_file_and_the_next_apply_converges() {
    let (tb, work) = cluster(true);
    let dir = work.path();
    let h2 = &tb.hosts()[1];
    let old = sha(h2, &format!("{BIN}/etcd"));

    // A new etcd binary of 40 MB (Debian's, padded: it still runs).
    let big = dir.join("etcd-big");
    std::fs::copy("/usr/bin/etcd", &big).unwrap();
    let mut bytes = std::fs::read(&big).unwrap();
    bytes.resize(40 << 20, 0);
    std::fs::write(&big, &bytes).unwrap();
    write_spec_with(dir, &tb, |s| s.binaries.etcd = Some(big.display().to_string()));

    h2.sh("tc qdisc add dev eth0 root tbf rate 16mbit burst 64kb latency 400ms").unwrap();
    let apply = kb(dir).args(["apply", "--output", "json", "--known-hosts"]).arg(tb.known_hosts()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let start = Instant::now();
    loop {
        let sizes = h2.sh(&format!("find {BIN} -maxdepth 1 -name '.etcd.kbtmp.*' -size +1M | wc -l")).unwrap();
        if sizes.trim() != "0" {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(120), "the upload to etcd02 never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Every process of every SSH session of the host at once, as when the
    // host dies: sshd's session processes, the remote shell serving the
    // upload and its children (each SSH session is a process session of its
    // own, led by the shell sshd started). SIGKILL, so no trap runs. They
    // are all stopped first, until no new one appears, and only then
    // killed: killed one by one, the upload's `dd` could die first, and its
    // shell, not yet killed, would see the end of its input and remove its
    // temporary file (a CI run failed so; here 2 runs in 6 did).
    h2.sh(STOP_THEN_KILL_SSH_SESSIONS).unwrap();
    eprintln!("etcd02's sshd after the kill:\n{}", h2.sh("pgrep -a sshd || true").unwrap());
    let out = apply.wait_with_output().unwrap();
    h2.sh("tc qdisc del dev eth0 root").unwrap();
    eprintln!("killed apply -> {:?}\n{}{}", out.status.code(), text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "the run reports the lost host");
    let report = json(&out);
    assert!(report["hosts"]["etcd02"]["failed"].is_object(), "{report}");
    assert_eq!(sha(h2, &format!("{BIN}/etcd")), old, "the old binary is intact");
    let left = litter(h2);
    assert!(left.contains(".etcd.kbtmp."), "the killed upload left its temporary file: {left:?}");
    assert_eq!(h2.sh("systemctl is-active etcd").unwrap().trim(), "active");

    // The killed run could not give its lock on etcd02 back (its
    // connection was gone): refused, naming that run as gone, until broken.
    let refused = run(dir, &tb, &["apply"]);
    assert_eq!(refused.status.code(), Some(1));
    let why = text(&refused.stdout);
    assert!(why.contains("etcd02 is locked by another run: held by ") && why.contains("that process no longer runs on this machine"), "{why}");
    let next = run(dir, &tb, &["apply", "--break-lock", "--output", "json"]);
    assert!(next.status.success());
    let what: Vec<String> = json(&next)["hosts"]["etcd02"]["changes"].as_array().unwrap().iter().map(|c| c["what"].as_str().unwrap().to_string()).collect();
    assert!(what.iter().any(|w| w.starts_with(&format!("remove {BIN}/.etcd.kbtmp.")) && w.ends_with("(left by an interrupted upload)")), "{what:?}");
    assert_eq!(litter(h2), "", "no temporary file is left");
    let want = String::from_utf8(std::process::Command::new("sh").arg("-c").arg(format!("sha256sum < {}", big.display())).output().unwrap().stdout).unwrap();
    assert_eq!(sha(h2, &format!("{BIN}/etcd")), want, "the new binary, whole");
    let status = json(&run(dir, &tb, &["status", "--output", "json"]));
    assert_eq!(status["etcd_healthy"], true, "{status}");
    assert_eq!(changes(&run(dir, &tb, &["apply", "--output", "json"])), 0);
}
