//! The whole job driven only through the binary, on 3 real test hosts
//! (systemd + sshd each; see k8s-bootstrap-testbed): `init` -> edit the
//! addresses -> `certs generate` -> `plan` -> `apply` (under tmux, to see
//! the live terminal) -> `apply` again piped (nothing changes, no control
//! characters) -> `status --output json` -> `etcd snapshot` -> `etcd remove-member` and
//! `add-member` -> a changed
//! host key refused -> `reset`; then Ctrl-C in the middle of an apply, and
//! a rerun that converges.
//!
//! Needs root (it boots the testbed) plus tmux and etcdctl; it fails, never
//! skips, without them.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command as Std;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use k8s_bootstrap_testbed::Testbed;
use serde_json::Value;

fn kb(dir: &Path) -> Command {
    let mut c = Command::cargo_bin("k8s-bootstrap").unwrap();
    c.current_dir(dir).env_remove("K8S_BOOTSTRAP_SPEC").env_remove("RUST_LOG").env("CI", "true");
    c
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The tutorial preset turned into the test hosts' cluster, by editing the
/// file as a user would: addresses, login, versions and paths of Debian's
/// packages, docker storage that works on the hosts' overlay root, and
/// binaries from this machine (flanneld: the one scripts/setup builds).
fn edit_spec(path: &Path, tb: &Testbed) {
    let flanneld = k8s_bootstrap_testbed::binaries::Manifest::load().and_then(|m| m.flanneld().cloned()).expect("flanneld of scripts/setup");
    let key = tb.client_key();
    let mut s = std::fs::read_to_string(path).unwrap();
    for (from, to) in [("192.168.1.30", "10.77.0.11"), ("192.168.1.31", "10.77.0.12"), ("192.168.1.32", "10.77.0.13")] {
        s = s.replace(from, to);
    }
    s = s
        .replace("      user: vagrant\n", &format!("      user: root\n      identity: {}\n", key.display()))
        .replace("etcd: \"3.3.13\"", "etcd: \"3.4.23\"")
        .replace("flannel: \"0.11.0\"", &format!("flannel: \"{}\"", flanneld.version))
        .replace("dockerd: /usr/bin/dockerd", "dockerd: /usr/sbin/dockerd")
        .replace("  # data_root: /var/lib/docker\n", "  data_root: /var/lib/docker-testbed\n")
        .replace("  # storage_driver: overlay2\n", "  storage_driver: vfs\n")
        .replace("  time_sync: auto", "  time_sync: leave")
        .replace("  swap_off: true", "  swap_off: false");
    s.push_str(&format!(
        "\nbinaries:\n  etcd: /usr/bin/etcd\n  etcdctl: /usr/bin/etcdctl\n  flanneld: {}\n",
        flanneld.path.display()
    ));
    std::fs::write(path, s).unwrap();
}

/// Runs `cmd` in a detached tmux session with a real terminal; returns the
/// panes captured while it ran and the final pane.
fn under_tmux(dir: &Path, cmd: &str) -> (Vec<String>, String) {
    let session = format!("kb-e2e-{}", std::process::id());
    let script = format!("cd {} && {cmd}; echo EXIT=$?; sleep 3600", dir.display());
    let ok = Std::new("tmux")
        .args(["new-session", "-d", "-s", &session, "-x", "200", "-y", "50", "sh", "-c", &script])
        .env_remove("CI")
        .env("TERM", "xterm-256color")
        .status()
        .expect("tmux is needed for the terminal check (Debian package tmux; scripts/setup installs it)");
    assert!(ok.success(), "tmux new-session failed");
    let capture = || text(&Std::new("tmux").args(["capture-pane", "-p", "-t", &session]).output().expect("tmux capture-pane").stdout);
    let start = Instant::now();
    let mut during = Vec::new();
    let last = loop {
        let pane = capture();
        if pane.contains("EXIT=") {
            break pane;
        }
        during.push(pane);
        assert!(start.elapsed() < Duration::from_secs(600), "apply under tmux did not finish:\n{}", during.last().unwrap());
        std::thread::sleep(Duration::from_millis(500));
    };
    let _ = Std::new("tmux").args(["kill-session", "-t", &session]).status();
    (during, last)
}

#[test]
fn binary_only_init_to_reset_on_three_test_hosts() {
    assert!(Std::new("tmux").arg("-V").output().is_ok_and(|o| o.status.success()), "tmux is missing: apt-get install tmux (scripts/setup)");
    let tb = Testbed::up(3).expect("booting 3 test hosts (needs root, see k8s-bootstrap-testbed docs)");
    let work = tempfile::tempdir().unwrap();
    let d = work.path();
    let kh = tb.known_hosts();
    let kh = kh.to_str().unwrap();

    kb(d).args(["init", "--preset", "tutorial"]).assert().success();
    edit_spec(&d.join("cluster.yaml"), &tb);
    kb(d).arg("validate").assert().success();
    kb(d).args(["certs", "generate"]).assert().success();
    assert_eq!(std::fs::metadata(d.join("pki/ca-key.pem")).unwrap().permissions().mode() & 0o777, 0o600);

    let plan = kb(d).args(["plan", "--known-hosts", kh]).assert().success();
    let out = text(&plan.get_output().stdout);
    assert!(out.contains("would change") && out.contains("+ETCD_NAME=\"etcd02\""), "{out}");
    assert!(!out.contains("PRIVATE KEY"), "plan shows a private key");

    // The real apply, in a terminal.
    let (during, last) = under_tmux(d, &format!("{} apply --known-hosts {kh}", env!("CARGO_BIN_EXE_k8s-bootstrap")));
    assert!(last.contains("EXIT=0"), "apply failed:\n{last}");
    assert!(last.contains("HOST") && last.contains("CHANGED") && last.contains("etcd03"), "no summary:\n{last}");
    assert!(
        during.iter().any(|p| p.contains("stage") && p.contains("etcd01") && p.contains("etcd03")),
        "no live per-host progress seen in {} captures:\n{}",
        during.len(),
        during.last().map(String::as_str).unwrap_or("")
    );
    assert!(during.iter().any(|p| p.contains("== etcd")), "no progress lines kept above the bars");

    // The same command piped: converged, plain lines, no control characters.
    let again = kb(d).args(["apply", "--known-hosts", kh]).assert().success();
    let o = again.get_output();
    let (stdout, stderr) = (text(&o.stdout), text(&o.stderr));
    assert!(stdout.contains("0 changed"), "second apply changed something:\n{stdout}");
    assert!(stderr.contains("] == docker"), "no timestamped progress lines when piped:\n{stderr}");
    for s in [&stdout, &stderr] {
        assert!(!s.chars().any(|c| c.is_control() && c != '\n'), "control characters when piped: {s:?}");
    }

    let st = kb(d).args(["status", "--output", "json", "--known-hosts", kh]).assert().success();
    let v: Value = serde_json::from_slice(&st.get_output().stdout).expect("status JSON");
    assert_eq!(v["etcd_healthy"], true, "{v}");
    assert_eq!(v["etcd_members_match_spec"], true, "{v}");
    assert_eq!(v["etcd_members"].as_array().unwrap().len(), 3, "{v}");
    for h in ["etcd01", "etcd02", "etcd03"] {
        assert_eq!(v["hosts"][h]["units"]["etcd"], "active", "{v}");
        assert_eq!(v["hosts"][h]["units"]["docker"], "active", "{v}");
    }

    let snap = kb(d).args(["etcd", "snapshot", "--out", "backup/etcd.db", "--known-hosts", kh, "--output", "json"]).assert().success();
    let info: Value = serde_json::from_slice(&snap.get_output().stdout).expect("snapshot JSON");
    let file = d.join("backup/etcd.db");
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::metadata(&file).unwrap().len(), info["bytes"].as_u64().unwrap());
    // Checked here by etcdctl itself, independently of the member.
    let status = Std::new("etcdctl").args(["snapshot", "status", file.to_str().unwrap(), "-w", "json"]).env("ETCDCTL_API", "3").output().expect("etcdctl (Debian etcd-client)");
    assert!(status.status.success(), "{}", text(&status.stderr));
    let local: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(local["revision"], info["revision"]);
    assert!(info["total_keys"].as_u64().unwrap() > 0, "the snapshot holds flannel's config at least: {info}");

    // Membership through the CLI: etcd03 leaves (it stays a node), then
    // joins again with a fresh data dir; the spec file is edited each time.
    let members = |d: &Path| -> Vec<String> {
        let a = kb(d).args(["status", "--output", "json", "--known-hosts", kh]).assert().success();
        let v: Value = serde_json::from_slice(&a.get_output().stdout).unwrap();
        let mut m: Vec<String> = v["etcd_members"].as_array().unwrap().iter().map(|m| m.as_str().unwrap().to_string()).collect();
        m.sort();
        m
    };
    kb(d).args(["etcd", "remove-member", "etcd03", "--known-hosts", kh]).assert().success();
    assert_eq!(members(d), ["etcd01", "etcd02"]);
    let spec = std::fs::read_to_string(d.join("cluster.yaml")).unwrap();
    assert!(spec.contains("- name: etcd03\n    address: 10.77.0.13\n    roles:\n    - node\n"), "{spec}");
    assert!(spec.contains("# name: host name and etcd member name"), "comments kept");
    kb(d).args(["etcd", "add-member", "etcd03=10.77.0.13", "--known-hosts", kh]).assert().success();
    assert_eq!(members(d), ["etcd01", "etcd02", "etcd03"]);
    let again = kb(d).args(["apply", "--known-hosts", kh]).assert().success();
    assert!(text(&again.get_output().stdout).lines().any(|l| l.starts_with("0 changed")), "not converged after add-member");

    // A changed host key: refused, exit 1, and the report says what to do.
    let known = std::fs::read_to_string(tb.known_hosts()).unwrap();
    let other_key = known.lines().find(|l| l.starts_with("10.77.0.12 ") && l.contains("ssh-ed25519")).expect("etcd02's ed25519 key");
    let forged: String = known
        .lines()
        .filter(|l| !l.starts_with("10.77.0.11 "))
        .map(|l| format!("{l}\n"))
        .chain(std::iter::once(format!("{}\n", other_key.replacen("10.77.0.12", "10.77.0.11", 1))))
        .collect();
    std::fs::write(d.join("forged_known_hosts"), forged).unwrap();
    let a = kb(d).args(["plan", "--known-hosts", "forged_known_hosts"]).assert().code(1);
    let out = text(&a.get_output().stdout);
    assert!(out.contains("HOST KEY MISMATCH") && out.contains("(host-key)") && out.contains("next: verify the host key"), "{out}");

    let r = kb(d).args(["reset", "--purge", "--known-hosts", kh]).assert().success();
    assert!(text(&r.get_output().stdout).contains("etcd01"));
    let a = kb(d).args(["status", "--output", "json", "--known-hosts", kh]).assert().code(1);
    let v: Value = serde_json::from_slice(&a.get_output().stdout).unwrap();
    assert_eq!(v["etcd_healthy"], false);

    // Ctrl-C in the middle of an apply: the steps in flight finish, the
    // summary says where it stopped, exit 1; a rerun converges.
    let mut child = Std::new(env!("CARGO_BIN_EXE_k8s-bootstrap"))
        .args(["apply", "--known-hosts", kh])
        .current_dir(d)
        .env("CI", "true")
        // Trace logs of everything (russh included) while every key is written.
        .env("RUST_LOG", "trace")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut seen = String::new();
    for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)) {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if line.contains("== install") {
            let ok = Std::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
            assert!(ok.success());
        }
    }
    let out = child.wait_with_output().unwrap();
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "stdout:\n{stdout}\nstderr:\n{seen}");
    assert!(seen.contains("interrupted: letting the steps in flight finish"), "{seen}");
    assert!(seen.contains("put files"), "no trace of the file writes: RUST_LOG ignored?");
    for key in std::fs::read_dir(d.join("pki")).unwrap().map(|e| e.unwrap().path()).filter(|p| p.to_string_lossy().ends_with("-key.pem")) {
        let pem = std::fs::read_to_string(&key).unwrap();
        let body: Vec<&str> = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let probe = body[body.len() / 2];
        assert!(!seen.contains(probe) && !stdout.contains(probe), "{} appears in the trace output", key.display());
    }
    assert!(!seen.contains("PRIVATE KEY"));
    assert!(stdout.contains("aborted: interrupted before stage") && stdout.contains("HOST"), "{stdout}");
    assert!(!stdout.contains("failed in"), "an interrupted apply fails no host:\n{stdout}");
    let rerun = kb(d).args(["apply", "--known-hosts", kh]).assert().success();
    let rerun = text(&rerun.get_output().stdout);
    assert!(!rerun.lines().any(|l| l.starts_with("0 changed")), "the rerun had work left after the interrupt:\n{rerun}");
    kb(d).args(["status", "--known-hosts", kh]).assert().success();
    kb(d).args(["reset", "--purge", "--known-hosts", kh]).assert().success();
    tb.down().expect("teardown");
}
