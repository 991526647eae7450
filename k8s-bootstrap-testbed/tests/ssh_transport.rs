//! SshTransport against 3 real test hosts (issue 5 "must show").
//!
//! Needs root. One `#[test]` owns one testbed (shared by all scenarios, torn
//! down on drop even when a scenario fails); each scenario runs in its own
//! task so a failing one does not hide the others, and the test fails with
//! the list of failed scenarios. It never skips: without root it fails.

mod common;
use common::{Scenario, run_scenarios};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_bootstrap_core::transport::{
    Command, FileKind, FileSource, HostKeyCheck, PutOptions, PutOutcome, RecordingTransport,
    SshConfig, SshStats, SshTransport, Transport, TransportError,
};
use k8s_bootstrap_testbed::{Host, Testbed, UNUSED_IP};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;
use sha2::Digest;

struct Ctx {
    hosts: Vec<Host>,
    key: PathBuf,
    known_hosts: PathBuf,
    tmp: PathBuf,
}

impl Ctx {
    fn cfg(&self, i: usize) -> SshConfig {
        SshConfig::new(self.hosts[i].ip.to_string())
            .identity_file(&self.key)
            .known_hosts(&self.known_hosts)
            .use_agent(false)
            .connect_timeout(Duration::from_secs(5))
    }

    async fn connect(&self, i: usize) -> SshTransport {
        SshTransport::connect(self.cfg(i)).await.expect("connect")
    }

    fn path(&self, name: &str) -> PathBuf {
        self.tmp.join(name)
    }
}

fn sh(argv: &[&str]) -> String {
    let out = std::process::Command::new(argv[0])
        .args(&argv[1..])
        .output()
        .expect(argv[0]);
    assert!(
        out.status.success(),
        "{argv:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn keygen(path: &Path, kind: &str, passphrase: &str) -> String {
    let _ = std::fs::remove_file(path);
    let mut argv = vec!["ssh-keygen", "-q", "-t", kind, "-N", passphrase, "-f"];
    let p = path.to_string_lossy().into_owned();
    argv.push(&p);
    if kind == "rsa" {
        argv.extend(["-b", "2048"]);
    }
    sh(&argv);
    std::fs::read_to_string(format!("{p}.pub")).unwrap()
}

fn host_fingerprint(h: &Host, kind: &str) -> String {
    let p = h.root.join(format!("etc/ssh/ssh_host_{kind}_key.pub"));
    sh(&[
        "ssh-keygen",
        "-l",
        "-E",
        "sha256",
        "-f",
        &p.to_string_lossy(),
    ])
    .split_whitespace()
    .nth(1)
    .unwrap()
    .to_string()
}

fn authorize(h: &Host, user_home: &str, pubkey: &str) {
    let p = h
        .root
        .join(user_home.trim_start_matches('/'))
        .join(".ssh/authorized_keys");
    let mut cur = std::fs::read_to_string(&p).unwrap_or_default();
    cur.push_str(pubkey);
    std::fs::write(&p, cur).unwrap();
}

/// A user on `h` that logs in with the test key; with `sudoers`, that
/// text as its /etc/sudoers.d file (checked with visudo).
fn add_user(h: &Host, user: &str, sudoers: Option<&str>) {
    let mut script = format!(
        "id {user} >/dev/null 2>&1 || useradd -m -s /bin/bash {user}; mkdir -p ~{user}/.ssh; \
         cp /root/.ssh/authorized_keys ~{user}/.ssh/; chown -R {user}: ~{user}/.ssh"
    );
    if let Some(text) = sudoers {
        script.push_str(&format!(
            "; printf '%s\\n' {} > /etc/sudoers.d/{user}; chmod 440 /etc/sudoers.d/{user}; visudo -cqf /etc/sudoers.d/{user}",
            k8s_bootstrap_core::shell::shell_quote(text)
        ));
    }
    h.sh(&script).unwrap();
}

/// Remote session shells (issue 17) running on `h` now.
fn session_shells(h: &Host) -> usize {
    // pgrep, not a shell: a `sh -c` around it would match its own pattern
    let out = h.exec(&["pgrep", "-c", "-f", "^sh -c kb_d="]).unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// The session shells' output folders in /dev/shm of `h` (in RAM: a full
/// disk cannot cut a command's output short).
fn session_dirs(h: &Host) -> Vec<String> {
    h.sh("ls -A /dev/shm")
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("kb-session."))
        .map(String::from)
        .collect()
}

/// Waits (at most `secs`) until `f` holds; false if it never did.
async fn eventually(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    f()
}

/// `n` pseudo-random bytes (xorshift), never ending in a newline.
fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut v: Vec<u8> = (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    if v.last() == Some(&b'\n') {
        *v.last_mut().unwrap() = 0;
    }
    v
}

/// A `Vm*` line of /proc/self/status, in KiB.
fn vm_kib(field: &str) -> i64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

/// A 50 MiB pseudo-random file and its sha256, written and hashed in 1 MiB
/// chunks so this process never holds 50 MiB.
fn big_file(c: &Ctx) -> (PathBuf, String) {
    let src = c.path("big.bin");
    let mut hasher = sha2::Sha256::new();
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&src).unwrap();
        let mut x: u64 = 0x9E3779B97F4A7C15;
        let mut chunk = vec![0u8; 1 << 20];
        for _ in 0..50 {
            for b in chunk.iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = x as u8;
            }
            hasher.update(&chunk);
            f.write_all(&chunk).unwrap();
        }
    }
    (src, hex::encode(hasher.finalize()))
}

// ---------------------------------------------------------------- scenarios

async fn exec(c: Arc<Ctx>) {
    let t = c.connect(0).await;
    let out = t
        .run(&Command::shell("echo out; echo err >&2; exit 7"))
        .await
        .unwrap();
    assert_eq!(out.stdout, b"out\n");
    assert_eq!(out.stderr, b"err\n");
    assert_eq!(out.exit_code, Some(7));
    let e = t
        .run_ok(&Command::shell("echo 'bad thing' >&2; exit 3"))
        .await
        .unwrap_err();
    match &e {
        TransportError::CommandFailed {
            host,
            code,
            stderr_tail,
            ..
        } => {
            assert_eq!(
                (host.as_str(), *code, stderr_tail.as_str()),
                ("10.77.0.11", Some(3), "bad thing")
            )
        }
        other => panic!("expected CommandFailed, got {other}"),
    }
    let out = t
        .run_ok(&Command::new(["printenv", "KB_X"]).env("KB_X", "a b'c"))
        .await
        .unwrap();
    assert_eq!(out.stdout, b"a b'c\n");
    let out = t
        .run_ok(&Command::new(["sha256sum"]).stdin(vec![9u8; 1 << 20]))
        .await
        .unwrap();
    assert!(
        out.stdout_str()
            .starts_with(&hex::encode(sha2::Sha256::digest(vec![9u8; 1 << 20])))
    );
    assert_eq!(
        t.run_ok(&Command::new(["hostname"])).await.unwrap().stdout,
        b"kbtb1\n"
    );

    // timeout: fails in time and the remote command is killed
    let start = Instant::now();
    let e = t
        .run(&Command::new(["sleep", "77"]).timeout(Duration::from_millis(500)))
        .await
        .unwrap_err();
    assert!(matches!(e, TransportError::Timeout { .. }), "{e}");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    let mut gone = false;
    for _ in 0..50 {
        if !c.hosts[0]
            .sh("ps -eo args=")
            .unwrap()
            .lines()
            .any(|l| l == "sleep 77")
        {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone, "remote `sleep 77` still running after timeout");
    // the connection is still usable after a timeout
    assert!(t.run_ok(&Command::new(["true"])).await.is_ok());

    // 20 commands in parallel on one connection: ~1 s, not ~20 s
    let start = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for i in 0..20 {
        let t = t.clone();
        set.spawn(async move {
            let out = t
                .run_ok(&Command::shell(format!("sleep 1; echo {i}")))
                .await
                .unwrap();
            assert_eq!(out.stdout_str().trim(), i.to_string());
        });
    }
    while let Some(r) = set.join_next().await {
        r.unwrap();
    }
    let took = start.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "20 parallel commands took {took:?}"
    );
    println!("exec: 20 parallel `sleep 1` on one connection took {took:?}");
}

async fn escaping_round_trips(c: Arc<Ctx>) {
    let t = c.connect(0).await;
    let mut runner = TestRunner::deterministic();
    let s = proptest::string::string_regex("(?s).{0,40}")
        .unwrap()
        .prop_map(|s| s.replace('\0', ""));
    let bytes = proptest::collection::vec(proptest::num::u8::ANY, 0..2000);
    for i in 0..48 {
        let args: Vec<String> = (0..3)
            .map(|_| s.new_tree(&mut runner).unwrap().current())
            .collect();
        let mut argv = vec!["printf".to_string(), "%s\\0".to_string()];
        argv.extend(args.iter().cloned());
        let out = t.run_ok(&Command::new(argv)).await.unwrap();
        let want: Vec<u8> = args.iter().flat_map(|a| a.bytes().chain([0])).collect();
        assert_eq!(out.stdout, want, "args {args:?}");

        let name = s.new_tree(&mut runner).unwrap().current().replace('/', "_");
        let name = if name.is_empty() || name == "." || name == ".." {
            format!("n{i}")
        } else {
            name
        };
        let content = bytes.new_tree(&mut runner).unwrap().current();
        let path = format!("/tmp/kb-esc/{name}");
        let r = t
            .put_file(
                &path,
                &FileSource::Bytes(content.clone()),
                &PutOptions::new(0o600),
            )
            .await;
        assert_eq!(r.unwrap(), PutOutcome::Created, "path {path:?}");
        assert_eq!(
            t.read_file(&path).await.unwrap().as_deref(),
            Some(&content[..]),
            "path {path:?}"
        );
        let on_host = std::fs::read(c.hosts[0].root.join("tmp/kb-esc").join(&name)).unwrap();
        assert_eq!(on_host, content);
        t.run_ok(&Command::new(["rm", "-f", "--", &path]))
            .await
            .unwrap();
    }
}

async fn upload_50mb(c: Arc<Ctx>) {
    let t = c.connect(0).await;
    let (src, want) = big_file(&c);
    // reset the peak RSS, so VmHWM below is the peak during the upload
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    let rss_before = vm_kib("VmRSS");

    let start = Instant::now();
    let opts = PutOptions::new(0o640).owner("daemon:adm");
    let r = t
        .put_file("/opt/kb/big.bin", &FileSource::Path(src.clone()), &opts)
        .await
        .unwrap();
    assert_eq!(r, PutOutcome::Created);
    let peak_growth_mib = (vm_kib("VmHWM") - rss_before) / 1024;
    println!(
        "upload: 50 MiB in {:?}, peak RSS growth {peak_growth_mib} MiB",
        start.elapsed()
    );
    assert!(
        peak_growth_mib < 25,
        "upload held the file in memory: +{peak_growth_mib} MiB"
    );
    let on_host = c.hosts[0]
        .sh("sha256sum /opt/kb/big.bin; stat -c '%a %U %G' /opt/kb/big.bin")
        .unwrap();
    assert!(on_host.starts_with(&want), "{on_host}");
    assert!(on_host.ends_with("640 daemon adm\n"), "{on_host}");
    assert_eq!(
        t.sha256("/opt/kb/big.bin").await.unwrap(),
        Some(want.clone())
    );
    // read back whole: in 16 MiB chunks, one exchange each
    let before = t.stats().exchanges;
    let back = t.read_file("/opt/kb/big.bin").await.unwrap().unwrap();
    assert_eq!(hex::encode(sha2::Sha256::digest(&back)), want);
    assert_eq!(t.stats().exchanges - before, 4, "50 MiB in chunks of 16 MiB");
    let st = t.stat("/opt/kb/big.bin").await.unwrap().unwrap();
    assert_eq!(
        (st.kind, st.size, st.mode),
        (FileKind::File, 50 << 20, 0o640)
    );

    // same content again: nothing written, mtime unchanged
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = t
        .put_file("/opt/kb/big.bin", &FileSource::Path(src.clone()), &opts)
        .await
        .unwrap();
    assert_eq!(r, PutOutcome::Unchanged);
    assert_eq!(
        t.stat("/opt/kb/big.bin").await.unwrap().unwrap().mtime,
        st.mtime
    );
    // only the mode differs: chmod, content untouched
    let r = t
        .put_file(
            "/opt/kb/big.bin",
            &FileSource::Path(src),
            &PutOptions::new(0o600).owner("daemon:adm"),
        )
        .await;
    assert_eq!(r.unwrap(), PutOutcome::MetadataUpdated);
    let st2 = t.stat("/opt/kb/big.bin").await.unwrap().unwrap();
    assert_eq!((st2.mode, st2.mtime), (0o600, st.mtime));
    let litter: Vec<_> = std::fs::read_dir(c.hosts[0].root.join("opt/kb"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(litter.len(), 1, "{litter:?}");
}

/// Kills the SSH connection (the sshd session process on the host) in the
/// middle of a 50 MB upload: the old file stays, no temp file is left.
async fn killed_mid_transfer(c: Arc<Ctx>) {
    let h = &c.hosts[1];
    let t = c.connect(1).await;
    t.put_file(
        "/opt/kb/victim",
        &FileSource::from("old content\n"),
        &PutOptions::new(0o644),
    )
    .await
    .unwrap();
    drop(t);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let (src, _) = big_file(&c);
    let t = c.connect(1).await;
    let up = tokio::spawn(async move {
        t.put_file(
            "/opt/kb/victim",
            &FileSource::Path(src),
            &PutOptions::new(0o644),
        )
        .await
    });
    let dir = h.root.join("opt/kb");
    let mut killed = false;
    for _ in 0..1000 {
        let tmp = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .find(|e| e.file_name().to_string_lossy().contains(".kbtmp."));
        if let Some(e) = tmp
            && e.metadata().map(|m| m.len()).unwrap_or(0) > (2 << 20)
        {
            // kill the whole connection (privsep monitor + session) by PID,
            // inside the host's own PID namespace
            let ps = h.sh("ps -eo pid=,args=").unwrap();
            let pids: Vec<&str> = ps
                .lines()
                .filter(|l| {
                    l.trim_start()
                        .split_once(' ')
                        .is_some_and(|(_, a)| a.starts_with("sshd: root"))
                })
                .map(|l| l.split_whitespace().next().unwrap())
                .collect();
            assert!(!pids.is_empty(), "no sshd session process found:\n{ps}");
            let mut argv = vec!["kill", "-KILL"];
            argv.extend(pids.iter());
            h.exec(&argv).unwrap();
            killed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(killed, "never saw the temp file grow");
    let r = tokio::time::timeout(Duration::from_secs(30), up)
        .await
        .expect("upload hung")
        .unwrap();
    let e = r.expect_err("upload must fail when the connection dies");
    println!("killed mid-transfer: {e}");
    let mut clean = false;
    for _ in 0..100 {
        let names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        if !names.iter().any(|n| n.contains("kbtmp")) {
            clean = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(clean, "temp file left behind");
    assert_eq!(std::fs::read(dir.join("victim")).unwrap(), b"old content\n");
}

async fn host_keys(c: Arc<Ctx>) {
    let h1 = &c.hosts[0];
    let real = host_fingerprint(h1, "ed25519");
    // a known_hosts that records host 2's keys under host 1's address: "changed key"
    let all = std::fs::read_to_string(&c.known_hosts).unwrap();
    let wrong: String = all
        .lines()
        .filter(|l| l.starts_with("10.77.0.12 "))
        .map(|l| format!("10.77.0.11 {}\n", l.split_once(' ').unwrap().1))
        .collect();
    let kh = c.path("wrong_known_hosts");
    std::fs::write(&kh, wrong).unwrap();
    // no keys at all: had it got to authentication it would be an Auth error
    let cfg = SshConfig::new("10.77.0.11")
        .known_hosts(&kh)
        .use_agent(false)
        .identity_file(c.path("absent-key"));
    let e = SshTransport::connect(cfg.clone()).await.unwrap_err();
    match &e {
        TransportError::HostKeyMismatch { fingerprint, .. } => {
            assert!(fingerprint.starts_with("SHA256:"))
        }
        other => panic!("expected HostKeyMismatch, got {other}"),
    }
    assert!(!e.is_retryable());
    println!("changed key: {e}");
    // never retried, even when retries are allowed
    let start = Instant::now();
    let e = SshTransport::connect(cfg.clone().connect_retries(5))
        .await
        .unwrap_err();
    assert!(matches!(e, TransportError::HostKeyMismatch { .. }), "{e}");
    assert!(
        start.elapsed() < Duration::from_millis(900),
        "{:?}",
        start.elapsed()
    );
    let log = h1
        .sh("journalctl -u ssh --no-pager -o cat | tail -n 20")
        .unwrap_or_default();
    assert!(!log.contains("absent-key"), "{log}");

    // unknown key (strict): fingerprint + how to accept
    let empty = c.path("empty_known_hosts");
    std::fs::write(&empty, "").unwrap();
    let e = SshTransport::connect(c.cfg(0).known_hosts(&empty))
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, TransportError::HostKeyUnknown { .. }), "{msg}");
    assert!(
        msg.contains("SHA256:") && msg.contains("ssh-keyscan -p 22 10.77.0.11"),
        "{msg}"
    );

    // accept-new records the key; then strict accepts it
    let tofu = c.path("tofu/known_hosts");
    let t = SshTransport::connect(
        c.cfg(0)
            .known_hosts(&tofu)
            .host_key_check(HostKeyCheck::AcceptNew),
    )
    .await
    .unwrap();
    drop(t);
    let recorded = std::fs::read_to_string(&tofu).unwrap();
    assert!(recorded.contains("10.77.0.11 "), "{recorded}");
    SshTransport::connect(c.cfg(0).known_hosts(&tofu))
        .await
        .expect("strict after accept-new");
    // accept-new still refuses a changed key
    let e = SshTransport::connect(
        c.cfg(1)
            .known_hosts(&kh)
            .host_key_check(HostKeyCheck::AcceptNew),
    )
    .await;
    assert!(
        e.is_ok(),
        "host 2 is unknown in this file, so accept-new records it: {e:?}"
    );
    let e = SshTransport::connect(cfg.host_key_check(HostKeyCheck::AcceptNew))
        .await
        .unwrap_err();
    assert!(matches!(e, TransportError::HostKeyMismatch { .. }), "{e}");

    // pinned fingerprint: right one works, wrong one is a mismatch (whatever the algorithm negotiated)
    let negotiated = ["ed25519", "ecdsa", "rsa"].map(|k| host_fingerprint(h1, k));
    let mut ok = false;
    for fp in &negotiated {
        if SshTransport::connect(c.cfg(0).host_key_check(HostKeyCheck::Pinned(fp.clone())))
            .await
            .is_ok()
        {
            ok = true;
        }
    }
    assert!(
        ok,
        "no pinned fingerprint of {negotiated:?} accepted (ed25519 = {real})"
    );
    let e = SshTransport::connect(
        c.cfg(0)
            .host_key_check(HostKeyCheck::Pinned(host_fingerprint(
                &c.hosts[1],
                "ed25519",
            ))),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, TransportError::HostKeyMismatch { .. }), "{e}");
    // off: explicit, works with no known_hosts at all
    SshTransport::connect(
        c.cfg(0)
            .known_hosts(&empty)
            .host_key_check(HostKeyCheck::Off),
    )
    .await
    .expect("off");
    // ... and says so on stderr at every connect: read a child's stderr
    // (libtest captures a test's own eprintln!, so it cannot be read here)
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "host_key_check_off_child", "--nocapture", "--test-threads=1"])
        .env("KB_OFF_CONNECT", format!("{}|{}|{}", h1.ip, c.key.display(), empty.display()))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child: {err}");
    let warning = format!("warning: {}: host key checking is OFF (HostKeyCheck::Off): any key is accepted", h1.ip);
    assert_eq!(err.matches(&warning).count(), 2, "one warning per connect on stderr:\n{err}");
}

/// The child of `host_keys` (run with `KB_OFF_CONNECT=ip|key|known_hosts`):
/// connects twice with `HostKeyCheck::Off`; `host_keys` reads the warnings
/// from its stderr. Run on its own (no variable), it has nothing to do.
#[test]
fn host_key_check_off_child() {
    let Ok(v) = std::env::var("KB_OFF_CONNECT") else { return };
    let f: Vec<&str> = v.split('|').collect();
    let rt = tokio::runtime::Runtime::new().unwrap();
    for _ in 0..2 {
        let cfg = SshConfig::new(f[0]).identity_file(f[1]).known_hosts(f[2]).use_agent(false).host_key_check(HostKeyCheck::Off);
        let t = rt.block_on(SshTransport::connect(cfg)).expect("connect with checking off");
        drop(t);
    }
}

async fn auth(c: Arc<Ctx>) {
    let h = &c.hosts[2];
    // wrong key
    let wrong = c.path("wrong_key");
    keygen(&wrong, "ed25519", "");
    let cfg = SshConfig::new("10.77.0.13")
        .known_hosts(&c.known_hosts)
        .use_agent(false);
    let e = SshTransport::connect(cfg.clone().identity_file(&wrong))
        .await
        .unwrap_err();
    assert!(matches!(e, TransportError::Auth { .. }), "{e}");
    assert!(!e.is_retryable());
    println!("wrong key: {e}");

    // ECDSA, RSA, and a passphrase-protected ed25519 key
    for (kind, pass) in [("ecdsa", ""), ("rsa", ""), ("ed25519", "sesame")] {
        let p = c.path(&format!("key_{kind}"));
        authorize(h, "/root", &keygen(&p, kind, pass));
        let mut cfg = cfg.clone().identity_file(&p);
        if !pass.is_empty() {
            let e = SshTransport::connect(cfg.clone()).await.unwrap_err();
            assert!(matches!(e, TransportError::Auth { .. }), "{e}");
            cfg = cfg.passphrase(pass);
            assert!(!format!("{cfg:?}").contains(pass));
        }
        let t = SshTransport::connect(cfg)
            .await
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert_eq!(
            t.run_ok(&Command::new(["whoami"])).await.unwrap().stdout,
            b"root\n"
        );
    }

    // ssh-agent: a real agent process holding a key that is not given as a file
    let agent_key = c.path("agent_key");
    authorize(h, "/root", &keygen(&agent_key, "ed25519", ""));
    let sock = c.path("agent.sock");
    let mut agent = std::process::Command::new("ssh-agent")
        .args(["-D", "-a"])
        .arg(&sock)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..100 {
        if sock.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let added = std::process::Command::new("ssh-add")
        .arg(&agent_key)
        .env("SSH_AUTH_SOCK", &sock)
        .output()
        .unwrap();
    let r = SshTransport::connect(cfg.clone().identity_file(&wrong).agent_socket(&sock)).await;
    let _ = agent.kill(); // our own child, by its handle
    let _ = agent.wait();
    assert!(
        added.status.success(),
        "ssh-add: {}",
        String::from_utf8_lossy(&added.stderr)
    );
    let t = r.expect("agent auth");
    assert_eq!(
        t.run_ok(&Command::new(["hostname"])).await.unwrap().stdout,
        b"kbtb3\n"
    );

    // non-root user with passwordless sudo writes root-owned files
    add_user(h, "deploy", Some("deploy ALL=(ALL) NOPASSWD:ALL"));
    let cfg = c.cfg(2).user("deploy");
    assert!(cfg.uses_sudo());
    let t = SshTransport::connect(cfg).await.unwrap();
    assert_eq!(
        t.run_ok(&Command::new(["id", "-u"])).await.unwrap().stdout,
        b"0\n"
    );
    let r = t
        .put_file(
            "/etc/kb/root-only.conf",
            &FileSource::from("secret=1\n"),
            &PutOptions::new(0o600).owner("root:root"),
        )
        .await
        .unwrap();
    assert_eq!(r, PutOutcome::Created);
    assert_eq!(
        h.sh("stat -c '%a %U %G' /etc/kb/root-only.conf").unwrap(),
        "600 root root\n"
    );
    assert_eq!(
        t.read_file("/etc/kb/root-only.conf")
            .await
            .unwrap()
            .unwrap(),
        b"secret=1\n"
    );
    // escaping survives the extra `sudo -n -- sh -c` layer
    let mut runner = TestRunner::deterministic();
    let s = proptest::string::string_regex("(?s).{0,30}")
        .unwrap()
        .prop_map(|s| s.replace('\0', ""));
    for _ in 0..16 {
        let args: Vec<String> = (0..3)
            .map(|_| s.new_tree(&mut runner).unwrap().current())
            .collect();
        let mut argv = vec!["printf".to_string(), "%s\\0".to_string()];
        argv.extend(args.iter().cloned());
        let cmd = Command::new(argv).env("KB_V", args[0].clone());
        let out = t.run_ok(&cmd).await.unwrap();
        let want: Vec<u8> = args.iter().flat_map(|a| a.bytes().chain([0])).collect();
        assert_eq!(out.stdout, want, "args {args:?}");
    }
    println!("auth: 16 escaping round trips through sudo -n ok");
    // without sudo the same user cannot
    let t = SshTransport::connect(c.cfg(2).user("deploy").sudo(false))
        .await
        .unwrap();
    assert!(
        t.put_file("/etc/kb/x", &FileSource::from("x"), &PutOptions::new(0o600))
            .await
            .is_err()
    );
}

async fn unreachable(c: Arc<Ctx>) {
    let start = Instant::now();
    let cfg = SshConfig::new(UNUSED_IP.to_string())
        .identity_file(&c.key)
        .connect_timeout(Duration::from_secs(1));
    let e = SshTransport::connect(cfg).await.unwrap_err();
    let took = start.elapsed();
    assert!(
        matches!(
            e,
            TransportError::ConnectTimeout { .. } | TransportError::Connect { .. }
        ),
        "{e}"
    );
    assert!(e.is_retryable());
    assert!(took < Duration::from_millis(1500), "took {took:?}");
    println!("unreachable: {e} after {took:?}");
    // retryable: 1 retry = two timeouts + 1 s pause
    let start = Instant::now();
    let cfg = SshConfig::new(UNUSED_IP.to_string())
        .identity_file(&c.key)
        .connect_timeout(Duration::from_millis(300))
        .connect_retries(1);
    assert!(SshTransport::connect(cfg).await.is_err());
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(1500) && took < Duration::from_millis(2500),
        "{took:?}"
    );
}

async fn all_hosts_and_jump(c: Arc<Ctx>) {
    let mut set = tokio::task::JoinSet::new();
    for i in 0..3 {
        let c = c.clone();
        set.spawn(async move {
            let t = c.connect(i).await;
            t.run_ok(&Command::new(["hostname"]))
                .await
                .unwrap()
                .stdout_str()
        });
    }
    let mut names = Vec::new();
    while let Some(r) = set.join_next().await {
        names.push(r.unwrap().trim().to_string());
    }
    names.sort();
    assert_eq!(names, ["kbtb1", "kbtb2", "kbtb3"]);
    // ProxyJump: host 3 through host 1
    let t = SshTransport::connect(c.cfg(2).proxy_jump(c.cfg(0)))
        .await
        .unwrap();
    assert_eq!(
        t.run_ok(&Command::new(["hostname"])).await.unwrap().stdout,
        b"kbtb3\n"
    );
    // dry-run on top of a real host: writes recorded, reads real
    let rec = RecordingTransport::with_reads_from(Arc::new(c.connect(0).await));
    assert_eq!(
        rec.read_file("/etc/hostname").await.unwrap().unwrap(),
        b"kbtb1\n"
    );
    rec.put_file(
        "/etc/hostname",
        &FileSource::from("x"),
        &PutOptions::new(0o644),
    )
    .await
    .unwrap();
    assert_eq!(
        std::fs::read(c.hosts[0].root.join("etc/hostname")).unwrap(),
        b"kbtb1\n"
    );
    assert_eq!(rec.ops().len(), 1);
    // systemctl helpers
    let t = c.connect(0).await;
    assert!(t.is_active("ssh").await.unwrap());
    assert!(!t.is_active("etcd").await.unwrap());
}

// ------------------------------------------- issue 17: one session per host

/// 20 commands: one connection, one session, 20 exchanges (our counters and
/// the host's processes agree); framing survives unread stdin, binary
/// output without newline and a 20 MB stdin; the session shell leaves
/// nothing behind.
async fn one_session(c: Arc<Ctx>) {
    let h = &c.hosts[0];
    let t = c.connect(0).await;
    assert_eq!(t.stats(), SshStats { connections: 1, sessions: 0, exchanges: 0 });
    for i in 0..20 {
        let out = t.run_ok(&Command::new(["echo", &i.to_string()])).await.unwrap();
        assert_eq!(out.stdout_str(), format!("{i}\n"));
    }
    assert_eq!(t.stats(), SshStats { connections: 1, sessions: 1, exchanges: 20 });
    // earlier scenarios' connections are gone within moments: then one shell, ours
    assert!(eventually(5, || session_shells(h) == 1).await, "session shells on the host: {}", session_shells(h));
    assert_eq!(session_dirs(h).len(), 1, "{:?}", session_dirs(h));

    // stdin left unread (more than a pipe holds), or read in part: the
    // rest never reaches the next command
    let junk = vec![b'x'; 1 << 20];
    assert_eq!(t.run_ok(&Command::new(["true"]).stdin(junk.clone())).await.unwrap().stdout, b"");
    assert_eq!(t.run_ok(&Command::new(["head", "-c", "3"]).stdin(junk)).await.unwrap().stdout, b"xxx");
    assert_eq!(t.run_ok(&Command::new(["cat"])).await.unwrap().stdout, b"");
    assert_eq!(t.run_ok(&Command::new(["cat"]).stdin("next")).await.unwrap().stdout, b"next");
    let out = t.run(&Command::shell("printf out; printf err >&2; exit 3").stdin("unread")).await.unwrap();
    assert_eq!((out.exit_code, &out.stdout[..], &out.stderr[..]), (Some(3), &b"out"[..], &b"err"[..]));

    // binary stdout without a trailing newline, byte-exact: printf, cat, read_file
    let out = t.run_ok(&Command::new(["printf", "\\000\\377\\n\\000"])).await.unwrap();
    assert_eq!(out.stdout, b"\0\xff\n\0");
    let bin = noise(3 << 20, 17);
    std::fs::create_dir_all(h.root.join("opt/kb")).unwrap();
    std::fs::write(h.root.join("opt/kb/binary"), &bin).unwrap();
    assert!(t.run_ok(&Command::new(["cat", "/opt/kb/binary"])).await.unwrap().stdout == bin, "cat of a binary differs");
    assert!(t.read_file("/opt/kb/binary").await.unwrap().unwrap() == bin, "read_file of a binary differs");

    // a 20 MB stdin, streamed (this process never holds a second copy), hashed on the host
    let big = noise(20 << 20, 23);
    let want = hex::encode(sha2::Sha256::digest(&big));
    let cmd = Command::new(["sha256sum"]).stdin(big);
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    let rss_before = vm_kib("VmRSS");
    let start = Instant::now();
    let out = t.run_ok(&cmd).await.unwrap();
    let growth_mib = (vm_kib("VmHWM") - rss_before) / 1024;
    println!("one_session: 20 MiB stdin in {:?}, peak RSS growth {growth_mib} MiB", start.elapsed());
    assert_eq!(out.stdout_str(), format!("{want}  -\n"));
    assert!(growth_mib < 12, "stdin copied: +{growth_mib} MiB");
    drop(cmd);

    // file operations use the same session
    let p = PutOptions::new(0o640);
    assert_eq!(t.put_file("/opt/kb/s.conf", &FileSource::from("a=1\n"), &p).await.unwrap(), PutOutcome::Created);
    assert_eq!(t.put_file("/opt/kb/s.conf", &FileSource::from("a=1\n"), &p).await.unwrap(), PutOutcome::Unchanged);
    assert_eq!(t.stat("/opt/kb/s.conf").await.unwrap().unwrap().mode, 0o640);
    let s = t.stats();
    assert_eq!((s.connections, s.sessions), (1, 1), "{s:?}");
    println!("one_session: {s:?}");

    // the session shell ends with the connection and removes its folder
    t.disconnect().await.unwrap();
    assert!(eventually(5, || session_shells(h) == 0).await, "session shell still running after disconnect");
    assert!(eventually(5, || session_dirs(h).is_empty()).await, "left behind: {:?}", session_dirs(h));
}

/// A timeout kills the command on the host, and the same transport goes
/// on; so it does after a future dropped mid-command or mid-stdin.
async fn session_timeout_and_drop(c: Arc<Ctx>) {
    let h = &c.hosts[0];
    let t = c.connect(0).await;
    assert_eq!(t.run_ok(&Command::new(["echo", "first"])).await.unwrap().stdout, b"first\n");
    let start = Instant::now();
    let e = t.run(&Command::new(["sleep", "78"]).timeout(Duration::from_millis(500))).await.unwrap_err();
    assert!(matches!(e, TransportError::Timeout { .. }) && e.is_retryable(), "{e}");
    assert!(start.elapsed() < Duration::from_secs(3), "{:?}", start.elapsed());
    let gone = eventually(5, || !h.sh("ps -eo args=").unwrap().lines().any(|l| l == "sleep 78")).await;
    assert!(gone, "remote `sleep 78` still running after the timeout");
    assert_eq!(t.run_ok(&Command::new(["echo", "after timeout"])).await.unwrap().stdout, b"after timeout\n");
    // the same with stdin the killed command never read
    let e = t
        .run(&Command::new(["sleep", "78"]).stdin(vec![7u8; 1 << 20]).timeout(Duration::from_millis(500)))
        .await
        .unwrap_err();
    assert!(matches!(e, TransportError::Timeout { .. }), "{e}");
    assert_eq!(t.run_ok(&Command::new(["cat"]).stdin("clean")).await.unwrap().stdout, b"clean");
    let s = t.stats();
    println!("session_timeout_and_drop: after two timeouts {s:?}");
    assert!(s.sessions <= 3, "{s:?}");

    // a future dropped mid-command: its session is closed, the next command gets a fresh one
    let before = t.stats();
    let r = tokio::time::timeout(Duration::from_millis(300), t.run(&Command::shell("sleep 2; echo late"))).await;
    assert!(r.is_err(), "the command cannot have finished: {r:?}");
    let out = t.run_ok(&Command::new(["echo", "next"])).await.unwrap();
    assert_eq!(out.stdout, b"next\n");
    let after = t.stats();
    assert_eq!(after.exchanges, before.exchanges + 2, "{before:?} {after:?}");
    // one session was in the pool, the dropped command had it: a new one
    assert_eq!(after.sessions, before.sessions + 1, "{before:?} {after:?}");
    // its shell ends once the command does (its answer has nowhere to go) and cleans up
    assert!(eventually(10, || session_shells(h) == 1).await, "shells: {}", session_shells(h));
    assert!(eventually(5, || session_dirs(h).len() == 1).await, "{:?}", session_dirs(h));

    // dropped in the middle of a 20 MB stdin
    let big = noise(20 << 20, 5);
    let r = tokio::time::timeout(Duration::from_millis(100), t.run(&Command::new(["sha256sum"]).stdin(big))).await;
    println!("session_timeout_and_drop: 20 MB stdin cut after 100 ms: finished = {}", r.is_ok());
    assert_eq!(t.run_ok(&Command::new(["cat"]).stdin("intact")).await.unwrap().stdout, b"intact");
    assert_eq!(t.run_ok(&Command::new(["hostname"])).await.unwrap().stdout, b"kbtb1\n");
    drop(t);
    assert!(eventually(10, || session_shells(h) == 0).await, "shells: {}", session_shells(h));
    assert!(eventually(5, || session_dirs(h).is_empty()).await, "left behind: {:?}", session_dirs(h));
}

/// Two commands at once on one transport: both succeed, on two sessions;
/// later commands reuse them.
async fn concurrent_runs(c: Arc<Ctx>) {
    let t = c.connect(1).await;
    let a = Command::shell("sleep 1; echo a");
    let b = Command::new(["cat"]).stdin("b");
    let start = Instant::now();
    let (ra, rb) = tokio::join!(t.run_ok(&a), t.run_ok(&b));
    assert_eq!((ra.unwrap().stdout, rb.unwrap().stdout), (b"a\n".to_vec(), b"b".to_vec()));
    assert!(start.elapsed() < Duration::from_secs(3), "{:?}", start.elapsed());
    assert_eq!(t.stats(), SshStats { connections: 1, sessions: 2, exchanges: 2 });
    let (c1, d1) = (Command::new(["echo", "c"]), Command::new(["echo", "d"]));
    let (ra, rb) = tokio::join!(t.run_ok(&c1), t.run_ok(&d1));
    assert_eq!((ra.unwrap().stdout, rb.unwrap().stdout), (b"c\n".to_vec(), b"d\n".to_vec()));
    assert_eq!(t.run_ok(&Command::new(["true"])).await.unwrap().exit_code, Some(0));
    assert_eq!(t.stats(), SshStats { connections: 1, sessions: 2, exchanges: 5 });
}

/// A user with sudo: sudo runs once per session (sudo's own log counts
/// it), not once per command; a user sudo refuses gets sudo's answer as
/// the command's output, as before.
async fn sudo_once_per_session(c: Arc<Ctx>) {
    let h = &c.hosts[1];
    let _ = h.sh("rm -f /var/log/kb-sudo.log");
    add_user(h, "kbsudo", Some("Defaults:kbsudo logfile=/var/log/kb-sudo.log, loglinelen=0\nkbsudo ALL=(ALL) NOPASSWD:ALL"));
    add_user(h, "kbnosudo", None);
    let t = SshTransport::connect(c.cfg(1).user("kbsudo")).await.unwrap();
    assert!(t.config().uses_sudo());
    for _ in 0..10 {
        assert_eq!(t.run_ok(&Command::new(["id", "-u"])).await.unwrap().stdout, b"0\n");
    }
    let opts = PutOptions::new(0o600).owner("root:root");
    assert_eq!(t.put_file("/etc/kb-sudo/x.conf", &FileSource::from("x=1\n"), &opts).await.unwrap(), PutOutcome::Created);
    assert_eq!(t.read_file("/etc/kb-sudo/x.conf").await.unwrap().unwrap(), b"x=1\n");
    assert_eq!(h.sh("stat -c '%a %U' /etc/kb-sudo/x.conf").unwrap(), "600 root\n");
    // 10 commands, the upload (one exchange: a file from memory goes with
    // its script, the host compares it with its copy) and the read
    let s = t.stats();
    assert_eq!((s.sessions, s.exchanges), (1, 12), "{s:?}");
    let log = h.sh("cat /var/log/kb-sudo.log").unwrap();
    assert_eq!(log.matches("COMMAND=").count(), 1, "sudo log:\n{log}");
    assert!(log.contains("USER=root"), "{log}");
    // two sessions at once: one sudo each
    let (slow, id) = (Command::shell("sleep 0.5; id -u"), Command::new(["id", "-u"]));
    let (a, b) = tokio::join!(t.run_ok(&slow), t.run_ok(&id));
    assert_eq!((a.unwrap().stdout, b.unwrap().stdout), (b"0\n".to_vec(), b"0\n".to_vec()));
    let log = h.sh("cat /var/log/kb-sudo.log").unwrap();
    assert_eq!((t.stats().sessions, log.matches("COMMAND=").count()), (2, 2), "sudo log:\n{log}");

    // sudo refuses (no sudoers entry): its message is the command's output
    let t = SshTransport::connect(c.cfg(1).user("kbnosudo")).await.unwrap();
    let out = t.run(&Command::new(["true"])).await.unwrap();
    assert_eq!(out.exit_code, Some(1), "{out:?}");
    assert!(out.stderr_str().contains("sudo"), "{}", out.stderr_str());
    let e = t.run_ok(&Command::new(["true"])).await.unwrap_err();
    assert!(matches!(e, TransportError::CommandFailed { .. }) && !e.is_retryable(), "{e}");
    println!("sudo refused: {e}");
}

#[test]
fn ssh_transport_on_three_real_hosts() {
    let tb = Testbed::up(3).unwrap_or_else(|e| {
        panic!("cannot start the test hosts (this test needs root and the tools listed in k8s-bootstrap-testbed's docs): {e}")
    });
    let tmp = tempfile::tempdir().unwrap();
    let ctx = Arc::new(Ctx {
        hosts: tb.hosts().to_vec(),
        key: tb.client_key(),
        known_hosts: tb.known_hosts(),
        tmp: tmp.path().to_path_buf(),
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let scenarios: Vec<(&str, Scenario<Ctx>)> = vec![
        ("exec", |c| Box::pin(exec(c))),
        ("escaping_round_trips", |c| {
            Box::pin(escaping_round_trips(c))
        }),
        ("upload_50mb", |c| Box::pin(upload_50mb(c))),
        ("killed_mid_transfer", |c| Box::pin(killed_mid_transfer(c))),
        ("host_keys", |c| Box::pin(host_keys(c))),
        ("auth", |c| Box::pin(auth(c))),
        ("unreachable", |c| Box::pin(unreachable(c))),
        ("all_hosts_and_jump", |c| Box::pin(all_hosts_and_jump(c))),
        ("one_session", |c| Box::pin(one_session(c))),
        ("session_timeout_and_drop", |c| Box::pin(session_timeout_and_drop(c))),
        ("concurrent_runs", |c| Box::pin(concurrent_runs(c))),
        ("sudo_once_per_session", |c| Box::pin(sudo_once_per_session(c))),
    ];
    let failed = run_scenarios(&rt, &ctx, &scenarios, Duration::from_secs(180));
    drop(rt);
    tb.down().expect("teardown");
    assert!(failed.is_empty(), "failed scenarios: {failed:#?}");
}
