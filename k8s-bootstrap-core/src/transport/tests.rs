//! Unit tests: escaping (proptest, against the real local `sh`), the
//! exec-based file scripts, LocalTransport, RecordingTransport and the mock.

use super::*;
use proptest::prelude::*;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Runs a shell line the way an SSH server does (`sh -c LINE`), optionally
/// through the same double wrapping `sudo -n -- sh -c` uses.
fn sh(line: &str, stdin: &[u8], nested: bool) -> Output {
    let line = if nested {
        format!("sh -c {}", crate::shell::shell_quote(line))
    } else {
        line.to_string()
    };
    rt().block_on(
        LocalTransport::new().run(&Command::new(["sh", "-c", &line]).stdin(stdin.to_vec())),
    )
    .unwrap()
}

fn no_nul() -> impl Strategy<Value = String> {
    any::<String>().prop_map(|s| s.replace('\0', ""))
}

fn file_name() -> impl Strategy<Value = String> {
    no_nul()
        .prop_map(|s| s.replace('/', "_"))
        .prop_filter("usable name", |s| {
            !s.is_empty() && s != "." && s != ".." && s.len() < 120
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn args_and_env_come_back_byte_for_byte(args in prop::collection::vec(no_nul(), 1..5), val in no_nul(), nested: bool) {
        let mut argv = vec!["printf".to_string(), "%s\\0".to_string()];
        argv.extend(args.iter().cloned());
        let cmd = Command::new(argv).env("KB_VAL", val.clone());
        let out = sh(&cmd.to_shell_line().unwrap(), b"", nested);
        prop_assert!(out.success(), "{out:?}");
        let mut want = Vec::new();
        for a in &args { want.extend_from_slice(a.as_bytes()); want.push(0); }
        prop_assert_eq!(out.stdout, want);
        let env = sh(&Command::new(["printenv", "KB_VAL"]).env("KB_VAL", val.clone()).to_shell_line().unwrap(), b"", nested);
        prop_assert_eq!(env.stdout, format!("{val}\n").into_bytes());
    }

    #[test]
    fn put_script_paths_and_contents_round_trip(name in file_name(), sub in file_name(), content in prop::collection::vec(any::<u8>(), 0..4096), nested: bool) {
        let dir = tempfile::tempdir().unwrap();
        let path = format!("{}/{sub}/{name}", dir.path().display());
        use sha2::Digest;
        let sha = hex::encode(sha2::Sha256::digest(&content));
        let out = sh(&script::put_many(&[(path.clone(), sha.clone(), content.len() as u64, PutOptions::new(0o640))]), &content, nested);
        prop_assert!(out.success(), "{out:?}");
        prop_assert_eq!(out.stdout_str(), "created\n");
        // read back in chunks of 1000 bytes, as the SSH transport reads large files
        let mut read = Vec::new();
        loop {
            let chunk = sh(&script::read_chunk(&path, read.len() as u64, 1000), b"", nested);
            prop_assert!(chunk.success(), "{chunk:?}");
            let n = chunk.stdout.len();
            read.extend(chunk.stdout);
            if n < 1000 { break; }
        }
        prop_assert_eq!(read, content.clone());
        let absent = sh(&script::read_chunk(&format!("{path}.absent"), 0, 1000), b"", nested);
        prop_assert_eq!(absent.exit_code, Some(script::ABSENT));
        let st = script::parse_stat(&sh(&script::stat(&path), b"", nested).stdout_str()).unwrap();
        prop_assert_eq!((st.mode, st.size), (0o640, content.len() as u64));
        let probe = script::parse_probe(&sh(&script::with_sha(&script::probe(&path)), b"", nested).stdout_str()).unwrap();
        prop_assert_eq!(probe.sha256, sha);
        // nothing but the file itself in the directory: no temp litter
        let names: Vec<_> = std::fs::read_dir(dir.path().join(&sub)).unwrap().map(|e| e.unwrap().file_name()).collect();
        prop_assert_eq!(names.len(), 1);
    }

    #[test]
    fn local_rooted_put_read_round_trip(name in file_name(), content in prop::collection::vec(any::<u8>(), 0..4096)) {
        let dir = tempfile::tempdir().unwrap();
        let t = LocalTransport::rooted(dir.path());
        let path = format!("/etc/x/{name}");
        rt().block_on(async {
            let o = PutOptions::new(0o600);
            assert_eq!(t.put_file(&path, &FileSource::Bytes(content.clone()), &o).await.unwrap(), PutOutcome::Created);
            assert_eq!(t.read_file(&path).await.unwrap(), Some(content.clone()));
            assert_eq!(t.put_file(&path, &FileSource::Bytes(content.clone()), &o).await.unwrap(), PutOutcome::Unchanged);
        });
    }
}

#[test]
fn truncated_upload_keeps_old_file_and_leaves_no_temp() {
    let dir = tempfile::tempdir().unwrap();
    let path = format!("{}/f", dir.path().display());
    std::fs::write(&path, b"old").unwrap();
    use sha2::Digest;
    let full = vec![7u8; 10_000];
    let sha = hex::encode(sha2::Sha256::digest(&full));
    // stdin ends early, like a connection dying mid-transfer
    let out = sh(&script::put_many(&[(path.clone(), sha, full.len() as u64, PutOptions::new(0o644))]), &full[..5000], false);
    assert_eq!(out.stdout_str(), "error content hash mismatch: transfer incomplete\n", "{out:?}");
    assert_eq!(std::fs::read(&path).unwrap(), b"old");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn local_put_outcomes_mode_and_mtime() {
    let dir = tempfile::tempdir().unwrap();
    let t = LocalTransport::rooted(dir.path());
    rt().block_on(async {
        let src = FileSource::from("a\n");
        assert_eq!(
            t.put_file("/a", &src, &PutOptions::new(0o644))
                .await
                .unwrap(),
            PutOutcome::Created
        );
        let before = t.stat("/a").await.unwrap().unwrap();
        assert_eq!(
            t.put_file("/a", &src, &PutOptions::new(0o644))
                .await
                .unwrap(),
            PutOutcome::Unchanged
        );
        assert_eq!(
            t.put_file("/a", &src, &PutOptions::new(0o600))
                .await
                .unwrap(),
            PutOutcome::MetadataUpdated
        );
        let after = t.stat("/a").await.unwrap().unwrap();
        assert_eq!((after.mode, after.mtime), (0o600, before.mtime));
        assert_eq!(
            t.put_file("/a", &FileSource::from("b\n"), &PutOptions::new(0o600))
                .await
                .unwrap(),
            PutOutcome::Updated
        );
        assert_eq!(t.read_file("/missing").await.unwrap(), None);
        assert_eq!(t.stat("/missing").await.unwrap(), None);
        assert_eq!(t.sha256("/a").await.unwrap().unwrap().len(), 64);
        // a streamed local file source
        let big = dir.path().join("src.bin");
        std::fs::write(&big, vec![1u8; 1 << 20]).unwrap();
        assert_eq!(
            t.put_file("/b", &FileSource::Path(big), &PutOptions::new(0o644))
                .await
                .unwrap(),
            PutOutcome::Created
        );
        assert_eq!(t.stat("/b").await.unwrap().unwrap().size, 1 << 20);
        // a link in the file's place is replaced by the file, never followed
        std::os::unix::fs::symlink(dir.path().join("a"), dir.path().join("c")).unwrap();
        assert_eq!(t.put_file("/c", &FileSource::from("b\n"), &PutOptions::new(0o600)).await.unwrap(), PutOutcome::Created);
        assert!(t.stat("/c").await.unwrap().unwrap().kind == FileKind::File);
        // an owner, by the ids the file has: unchanged
        let me = t.stat("/a").await.unwrap().unwrap();
        let owned = PutOptions::new(0o600).owner(format!("{}:{}", me.uid, me.gid));
        assert_eq!(t.put_file("/a", &FileSource::from("b\n"), &owned).await.unwrap(), PutOutcome::Unchanged);
    });
}

#[test]
fn local_run_exit_stderr_stdin_env_timeout() {
    rt().block_on(async {
        let t = LocalTransport::new();
        let out = t.run(&Command::shell("echo out; echo err >&2; exit 3")).await.unwrap();
        assert_eq!((out.stdout_str().as_str(), out.stderr_str().as_str(), out.exit_code), ("out\n", "err\n", Some(3)));
        let e = t.run_ok(&Command::shell("echo boom >&2; exit 2")).await.unwrap_err();
        assert!(matches!(&e, TransportError::CommandFailed { code: Some(2), stderr_tail, .. } if stderr_tail == "boom"), "{e}");
        assert_eq!(t.run_ok(&Command::new(["cat"]).stdin("in")).await.unwrap().stdout, b"in");
        let start = std::time::Instant::now();
        let e = t.run(&Command::new(["sleep", "5"]).timeout(std::time::Duration::from_millis(200))).await.unwrap_err();
        assert!(matches!(e, TransportError::Timeout { .. }) && start.elapsed().as_secs() < 3, "{e}");
        assert!(matches!(t.run(&Command::new(Vec::<String>::new())).await, Err(TransportError::InvalidInput { .. })));
        assert!(matches!(t.run(&Command::new(["true"]).env("A B", "x")).await, Err(TransportError::InvalidInput { .. })));
    });
}

#[test]
fn command_display_redacts_env_and_stdin() {
    let c = Command::new(["etcdctl", "put", "k", "a b"])
        .env("ETCDCTL_PASSWORD", "s3cret")
        .stdin("s3cret");
    assert_eq!(c.to_string(), "ETCDCTL_PASSWORD=*** etcdctl put k 'a b'");
    assert!(!format!("{c:?}").contains("s3cret"));
}

#[test]
fn recording_transport_captures_and_mock_works() {
    rt().block_on(async {
        let rec = RecordingTransport::new("n1");
        rec.put_file("/etc/x", &FileSource::from("x"), &PutOptions::new(0o600))
            .await
            .unwrap();
        rec.systemctl("restart", "etcd").await.unwrap();
        let ops = rec.ops();
        assert!(matches!(&ops[0], RecordedOp::Put { path, size: 1, .. } if path == "/etc/x"));
        assert_eq!(
            ops[1],
            RecordedOp::Run(Command::new(["systemctl", "restart", "etcd"]))
        );

        let mut m = MockTransport::new();
        m.expect_host().return_const("m1".to_string());
        m.expect_run().returning(|_| {
            Ok(Output {
                exit_code: Some(1),
                ..Output::default()
            })
        });
        m.expect_run_ok()
            .returning(|c| Err(TransportError::command_failed("m1", c, &Output::default())));
        assert!(!m.run(&Command::new(["false"])).await.unwrap().success());
        assert!(m.run_ok(&Command::new(["false"])).await.is_err());
    });
}

#[test]
fn error_messages_name_host_and_fingerprint() {
    let e = TransportError::HostKeyUnknown {
        host: "h1".into(),
        addr: "h1".into(),
        port: 22,
        fingerprint: "SHA256:abc".into(),
        known_hosts: "/root/.ssh/known_hosts".into(),
    };
    let s = e.to_string();
    assert!(
        s.contains("SHA256:abc") && s.contains("ssh-keyscan -p 22 h1 >> /root/.ssh/known_hosts"),
        "{s}"
    );
    assert!(!e.is_retryable());
}

/// The batch upload keeps the digest of a large file it wrote (path, the
/// stat key, sha256) and of no small one; a second write replaces the line.
#[test]
fn put_many_keeps_the_digest_of_large_files_it_wrote() {
    use sha2::Digest;
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("digests");
    let (big, small) = (format!("{}/bin/etcd", dir.path().display()), format!("{}/cfg/etcd", dir.path().display()));
    let put = |content: &[u8], small_content: &[u8], want: &str| {
        let files = [
            (big.clone(), hex::encode(sha2::Sha256::digest(content)), content.len() as u64, PutOptions::new(0o755)),
            (small.clone(), hex::encode(sha2::Sha256::digest(small_content)), small_content.len() as u64, PutOptions::new(0o644)),
        ];
        let line = format!("KB_DIGESTS={} sh -c {}", cache.display(), crate::shell::shell_quote(&script::put_many(&files)));
        let out = sh(&line, &[content, small_content].concat(), false);
        assert_eq!(out.stdout_str(), want, "{out:?}");
    };
    let one = vec![1u8; 3 << 20];
    put(&one, b"A=1\n", "created\ncreated\n");
    let key = |p: &str| String::from_utf8(std::process::Command::new("stat").args(["-c", "%i %s %.9Y %.9Z", "--", p]).output().unwrap().stdout).unwrap().trim().to_string();
    let lines = std::fs::read_to_string(&cache).unwrap();
    assert_eq!(lines, format!("{big}\t{}\t{}\n", key(&big), hex::encode(sha2::Sha256::digest(&one))), "one line, the large file's");
    let two = vec![2u8; 3 << 20];
    put(&two, b"A=1\n", "updated\nunchanged\n");
    let lines = std::fs::read_to_string(&cache).unwrap();
    assert_eq!(lines, format!("{big}\t{}\t{}\n", key(&big), hex::encode(sha2::Sha256::digest(&two))), "replaced, not added");
}

/// How many times each local file was read and hashed by [`FileSource::sha256`].
static HASHED: std::sync::Mutex<Vec<std::path::PathBuf>> = std::sync::Mutex::new(Vec::new());

pub(super) fn hashed(p: &std::path::Path) {
    HASHED.lock().unwrap().push(p.to_path_buf());
}

/// Many hosts asking for the digest of the same binary at once get one
/// read of it (the others wait for that answer), and the same digest as
/// its bytes; once the file changes, it is read again.
#[test]
fn a_binary_asked_for_by_many_hosts_at_once_is_hashed_once() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("etcd");
    let bytes: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&p, &bytes).unwrap();
    let reads = || HASHED.lock().unwrap().iter().filter(|x| **x == p).count();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().unwrap();
    let all = rt.block_on(async {
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let src = FileSource::Path(p.clone());
                tokio::spawn(async move { src.sha256().await })
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap().unwrap());
        }
        out
    });
    assert!(all.iter().all(|d| *d == (sha256_hex(&bytes), bytes.len() as u64)), "{all:?}");
    assert_eq!(reads(), 1);
    std::fs::write(&p, b"another etcd").unwrap();
    let d = rt.block_on(FileSource::Path(p.clone()).sha256()).unwrap();
    assert_eq!((d, reads()), ((sha256_hex(b"another etcd"), 12), 2));
}
