//! What the CLI's test-host tests share: the binary run as an operator
//! runs it, its JSON output, and the testbed's cluster as a spec file.

#![allow(dead_code)] // each test file uses its own part

use std::path::Path;
use std::process::{Command as Std, Output, Stdio};

use k8s_bootstrap_testbed::{Testbed, binaries};
use serde_json::Value;

/// The binary, in `dir`, as under CI (no terminal, no stdin).
pub fn kb(dir: &Path) -> Std {
    let mut c = Std::new(env!("CARGO_BIN_EXE_k8s-bootstrap"));
    c.current_dir(dir).env_remove("K8S_BOOTSTRAP_SPEC").env_remove("RUST_LOG").env("CI", "true").stdin(Stdio::null());
    c
}

/// Bytes as text.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs `k8s-bootstrap ARGS --known-hosts <the testbed's>` in `dir`, echoing what it printed.
pub fn run(dir: &Path, tb: &Testbed, args: &[&str]) -> Output {
    let out = kb(dir).args(args).arg("--known-hosts").arg(tb.known_hosts()).output().expect("run k8s-bootstrap");
    eprintln!("$ k8s-bootstrap {} -> {:?}\n{}{}", args.join(" "), out.status.code(), text(&out.stdout), text(&out.stderr));
    out
}

/// The JSON a `--output json` run printed.
pub fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out.stdout)))
}

/// The number of changes in a JSON report.
pub fn changes(out: &Output) -> usize {
    json(out)["hosts"].as_object().unwrap().values().map(|h| h["changes"].as_array().unwrap().len()).sum()
}

/// The testbed's cluster in `dir/cluster.yaml`, logging in with the testbed's key.
pub fn write_spec(dir: &Path, tb: &Testbed) {
    write_spec_with(dir, tb, |_| {});
}

/// [`write_spec`], edited by `edit` first.
pub fn write_spec_with(dir: &Path, tb: &Testbed, edit: impl FnOnce(&mut k8s_bootstrap_core::spec::ClusterSpec)) {
    let mut spec = binaries::testbed_spec().expect("the testbed spec (scripts/setup has run)");
    for h in &mut spec.hosts {
        h.ssh.get_or_insert_with(Default::default).identity = Some(tb.client_key().display().to_string());
    }
    edit(&mut spec);
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("cluster.yaml"), spec.to_yaml_string()).unwrap();
}

/// 3 test hosts booted, the testbed's cluster spec in a fresh folder (kept
/// while the returned guard lives), and with `apply` the cluster applied
/// (that first apply must succeed).
pub fn cluster(apply: bool) -> (Testbed, tempfile::TempDir) {
    let tb = Testbed::up(3).expect("booting 3 test hosts (needs root, see k8s-bootstrap-testbed docs)");
    let work = tempfile::tempdir().unwrap();
    write_spec(work.path(), &tb);
    if apply {
        assert!(run(work.path(), &tb, &["apply", "--output", "json"]).status.success(), "the first apply");
    }
    (tb, work)
}

/// What the hosts run: each host's etcd InvocationID and the sha256 of its etcd config.
pub fn fingerprint(tb: &Testbed) -> Vec<String> {
    tb.hosts().iter().map(|h| h.sh("systemctl show -P InvocationID etcd; sha256sum /opt/etcd/cfg/etcd").unwrap()).collect()
}

/// `apply --output json -v --known-hosts KNOWN_HOSTS` in `dir`, calling `act` (with the run's pid) once, the moment the
/// run announces `stage` on stderr (its progress line `[  1.23s] == STAGE`);
/// returns what it printed, stderr as read. Panics when the run never
/// announced it.
pub fn apply_acting_at(dir: &Path, known_hosts: &Path, stage: &str, mut act: impl FnMut(u32)) -> Output {
    use std::io::BufRead;
    let mut child = kb(dir)
        .args(["apply", "--output", "json", "-v", "--known-hosts"])
        .arg(known_hosts)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run k8s-bootstrap");
    // stdout (the JSON report) is read on its own thread: a full pipe would stall the run
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut b).unwrap();
        b
    });
    let mut seen = String::new();
    let mut acted = false;
    for line in std::io::BufReader::new(child.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if !acted && line.ends_with(&format!("] == {stage}")) {
            act(child.id());
            acted = true;
        }
    }
    let status = child.wait().unwrap();
    let out = Output { status, stdout: reader.join().unwrap(), stderr: seen.clone().into_bytes() };
    eprintln!("$ k8s-bootstrap apply (acting at {stage}) -> {:?}\n{}{seen}", status.code(), text(&out.stdout));
    assert!(acted, "the run never announced stage {stage}:\n{seen}");
    out
}

/// The keys with `prefix` in `h`'s own store (a serializable read of its
/// own endpoint, through the admin wrapper), once it has `want` of them
/// (at most 30 s: a member catching up).
pub fn keys(h: &k8s_bootstrap_testbed::Host, prefix: &str, want: usize) -> usize {
    let read = || -> usize {
        h.sh(&format!("/opt/etcd/bin/etcdctl-admin --endpoints=https://{}:2379 get {prefix} --prefix --keys-only --consistency=s | grep -c {prefix} || true", h.ip)).unwrap().trim().parse().unwrap()
    };
    let start = std::time::Instant::now();
    loop {
        let n = read();
        if n == want || start.elapsed() > std::time::Duration::from_secs(30) {
            return n;
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
}
