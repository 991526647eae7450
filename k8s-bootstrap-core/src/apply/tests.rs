//! Orchestration tests of the engine on in-memory hosts. The real thing
//! (sshd, systemd, etcd on test hosts) is in the testbed's apply tests.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::*;
use crate::pki::CertBundle;
use crate::transport::{FileKind, FileStat, Output, PutOptions, PutOutcome, Result as TResult};

/// An in-memory host: files, a set of running units, a log of commands.
/// Checks (the `unless` of rendered commands) pass once `converged` is set,
/// as they do on a host where the commands already ran.
#[derive(Default)]
struct FakeHost {
    name: String,
    files: Mutex<BTreeMap<String, (Vec<u8>, u32)>>,
    active: Mutex<BTreeSet<String>>,
    log: Mutex<Vec<String>>,
    converged: AtomicBool,
    healthy: AtomicBool,
    /// When set, the etcd members' versions this host's etcdctl reports.
    etcd: Mutex<Option<Arc<FakeEtcd>>>,
    /// Whether dockerd is at layout.dockerd (the default); `elsewhere`: a
    /// dockerd in another place.
    no_dockerd: AtomicBool,
    elsewhere: AtomicBool,
    /// The cluster lock file: its line and seconds since its last refresh.
    lock: Mutex<Option<(String, u64)>>,
    /// Commands run (round trips).
    runs: std::sync::atomic::AtomicUsize,
}

/// The running etcd cluster as `etcdctl endpoint status` shows it: a
/// restart of a member puts it at `after`.
struct FakeEtcd {
    versions: Mutex<BTreeMap<String, String>>,
    leader: String,
    after: String,
    restarts: Mutex<Vec<String>>,
}

impl FakeEtcd {
    fn status_json(&self) -> String {
        let id = |name: &str| name.trim_start_matches("etcd0").parse::<u64>().unwrap();
        let entries: Vec<String> = self
            .versions
            .lock()
            .unwrap()
            .iter()
            .map(|(name, v)| {
                format!(
                    r#"{{"Endpoint":"https://10.0.0.{}:2379","Status":{{"header":{{"cluster_id":1,"member_id":{},"revision":1,"raft_term":2}},"version":"{v}","dbSize":20480,"leader":{},"raftIndex":40,"raftTerm":2,"raftAppliedIndex":40}}}}"#,
                    id(name),
                    id(name),
                    id(&self.leader)
                )
            })
            .collect();
        format!("[{}]\n", entries.join(","))
    }
}

impl FakeHost {
    fn new(name: &str) -> Arc<Self> {
        let h = FakeHost { name: name.into(), ..Default::default() };
        h.files.lock().unwrap().insert("/etc/os-release".into(), (b"ID=debian\n".to_vec(), 0o644));
        h.healthy.store(true, Ordering::SeqCst);
        Arc::new(h)
    }
    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
    fn clear_log(&self) {
        self.log.lock().unwrap().clear();
    }
    /// The lock scripts, as `sh` runs them on a host (take, refresh, release).
    fn lock_op(&self, script: &str) -> Output {
        let between = |from: &str, to: &str| {
            script
                .split(from)
                .nth(1)
                .and_then(|r| r.split(to).next())
                .unwrap_or_default()
                .to_string()
        };
        let (line, id) = (between("new='", "'; id="), between("id='", "'"));
        let mut lock = self.lock.lock().unwrap();
        if script.contains("= \"$old\"") {
            // Break it when it still holds this line, then take it.
            let old = between("old='", "'\n");
            if lock.as_ref().is_some_and(|(l, _)| *l == old) {
                *lock = Some((line, 0));
                return ok(&format!("broken 0\n{old}\n"));
            }
            return ok(&format!("held 0\n{}\n", lock.as_ref().map(|(l, _)| l.clone()).unwrap_or_default()));
        }
        if script.contains("take()") {
            match lock.clone() {
                None => {
                    *lock = Some((line, 0));
                    ok("acquired\n")
                }
                Some((old, idle)) if script.contains("brk=1") && idle >= STALE_AFTER.as_secs() => {
                    *lock = Some((line, 0));
                    ok(&format!("broken {idle}\n{old}\n"))
                }
                Some((old, idle)) => ok(&format!("held {idle}\n{old}\n")),
            }
        } else if script.contains("rm -f") {
            if lock.as_ref().is_some_and(|(l, _)| l.contains(&id)) {
                *lock = None;
            }
            ok("")
        } else {
            // A refresh: ours is touched, an absent one taken again, another run's is "lost".
            match lock.as_mut() {
                Some((l, idle)) if l.contains(&id) => {
                    *idle = 0;
                    ok("ok\n")
                }
                Some(_) => ok("lost\n"),
                None => {
                    *lock = Some((line, 0));
                    ok("ok\n")
                }
            }
        }
    }
}

impl FakeHost {
    /// The facts probe, answered from the host's state: before convergence
    /// every check fails, after it every check passes.
    fn probe(&self, script: &str, args: &[&str]) -> Output {
        use sha2::Digest;
        let converged = self.converged.load(Ordering::SeqCst);
        let files = self.files.lock().unwrap();
        let mut out = String::new();
        if let Some((b, _)) = files.get("/etc/os-release") {
            for l in String::from_utf8_lossy(b).lines() {
                out.push_str(&format!("o {l}\n"));
            }
        }
        if let Some(units) = script.split("--timestamp=unix -- ").nth(1).and_then(|r| r.split(" 2>").next()) {
            let active = self.active.lock().unwrap();
            for u in units.split(' ') {
                let name = u.trim_end_matches(".service");
                let state = if active.contains(name) { "active" } else { "inactive" };
                let enabled = if converged { "enabled" } else { "disabled" };
                out.push_str(&format!("u Id={u}\nu LoadState=loaded\nu ActiveState={state}\nu UnitFileState={enabled}\nu ActiveEnterTimestamp=@1\nu NeedDaemonReload=no\nu \n"));
            }
        }
        let mut i = 0;
        // the checks' answers (`echo 'k I 0'`, inside the quoted group)
        while script.contains(&format!("k {i} 0'")) {
            out.push_str(&format!("k {i} {}\n", if converged { 0 } else { 1 }));
            i += 1;
        }
        if script.contains("command -v dockerd") {
            let d = if !self.no_dockerd.load(Ordering::SeqCst) {
                "0 ".to_string()
            } else if self.elsewhere.load(Ordering::SeqCst) {
                "3 /usr/local/bin/dockerd".to_string()
            } else {
                "1 ".to_string()
            };
            out.push_str(&format!("d {d}\n"));
        }
        if script.contains("endpoint status")
            && self.active.lock().unwrap().contains("etcd")
            && let Some(etcd) = self.etcd.lock().unwrap().as_ref()
        {
            out.push_str(&format!("s {}\n", etcd.status_json().trim()));
        }
        // The probe's list of files: `printf FORMAT path want how ... >"$k/list"`
        // (the test paths need no quoting beyond join_argv's plain words).
        let list: Vec<String> = script
            .lines()
            .find_map(|l| l.strip_prefix("printf '%s\\t%s\\t%s\\n' ").and_then(|l| l.strip_suffix(" >\"$k/list\"")))
            .map(|l| l.split_whitespace().map(|w| w.trim_matches('\'').to_string()).collect())
            .unwrap_or_default();
        for t in list.chunks(3) {
            match files.get(t[0].as_str()) {
                Some((b, m)) => {
                    let sha = hex::encode(sha2::Sha256::digest(b));
                    out.push_str(&format!("f {m:o}:0:0:0 {sha}\n"));
                    if t[2] == "1" && sha != t[1] {
                        out.push_str(&format!("c {} {}\n", data_encoding::BASE64.encode(b), t[0]));
                    }
                }
                None => out.push_str("f -\n"),
            }
        }
        let rest = args;
        let split2 = rest.iter().position(|a| *a == "--").unwrap_or(rest.len());
        for (path, _) in files.iter() {
            if let Some((dir, name)) = path.rsplit_once('/')
                && rest[..split2].contains(&dir)
                && name.starts_with('.')
                && name.contains(".kbtmp.")
            {
                out.push_str(&format!("t {path}\n"));
            }
        }
        for p in &rest[(split2 + 1).min(rest.len())..] {
            out.push_str(if files.contains_key(*p) { "x 1\n" } else { "x 0\n" });
        }
        ok(&out)
    }
}

/// `argv` is the engine's command that starts (or restarts) `unit`,
/// blocking or not, after the peer wait `after` (address, cert, key).
fn is_unit_command(argv: &[String], unit: &str, verb: &str, after: Option<(&str, &str, &str)>) -> bool {
    let wait = after.map(|(address, cert, key)| plan::PeerWait { member: String::new(), address: address.into(), cert: cert.into(), key: key.into() });
    [true, false].iter().any(|&block| plan::unit_command_after(unit, verb, block, wait.as_ref()) == argv)
}

fn ok(stdout: &str) -> Output {
    Output { stdout: stdout.as_bytes().to_vec(), stderr: Vec::new(), exit_code: Some(0) }
}
fn fail() -> Output {
    Output { stdout: Vec::new(), stderr: b"no".to_vec(), exit_code: Some(1) }
}

#[async_trait]
impl Transport for FakeHost {
    fn host(&self) -> String {
        self.name.clone()
    }
    async fn run(&self, cmd: &Command) -> TResult<Output> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        // A real host answers later: the other hosts' futures run meanwhile.
        tokio::task::yield_now().await;
        let a: Vec<&str> = cmd.argv.iter().map(String::as_str).collect();
        let out = match a.as_slice() {
            // The lock, then (once taken) the facts probe, in one exchange.
            ["sh", "-c", script, "sh", lock, rest @ ..] if script.contains(lock::THEN_MARK) => {
                let mut out = self.lock_op(lock);
                let text = out.stdout_str();
                if text.starts_with("acquired") || text.starts_with("broken") {
                    self.runs.fetch_sub(1, Ordering::SeqCst);
                    let then = self.run(&Command::new(rest.iter().copied())).await?;
                    out.stdout = format!("{}{}\n{}", text.trim_end_matches('\n').to_string() + "\n", lock::THEN_MARK, then.stdout_str()).into_bytes();
                    out.exit_code = then.exit_code;
                }
                out
            }
            ["sh", "-c", script, "sh", args @ ..] if script.contains("/etc/os-release") && script.contains("kbtmp") => self.probe(script, args),
            ["sh", "-c", script] if script.contains(HOST_LOCK_PATH) => self.lock_op(script),
            ["systemctl", "is-active", "--quiet", u] if managed_units().contains(u) => {
                if self.active.lock().unwrap().contains(*u) { ok("") } else { fail() }
            }
            ["sh", "-c", script, "sh", _wrapper] if script.contains("endpoint status") && self.etcd.lock().unwrap().is_some() => {
                ok(&self.etcd.lock().unwrap().as_ref().unwrap().status_json())
            }
            // The engine's own unit commands, recognised by their whole
            // argv (what `plan::unit_command_after` builds), not by words
            // of their scripts.
            ["sh", "-c", _, "sh", addr, cert, key, unit, verb @ "start", ..] if is_unit_command(&cmd.argv, unit, verb, Some((addr, cert, key))) => {
                self.log.lock().unwrap().push(format!("wait for {addr}"));
                self.log.lock().unwrap().push(format!("{verb} {unit}"));
                self.active.lock().unwrap().insert(unit.to_string());
                ok("")
            }
            ["sh", "-c", _, "sh", unit, verb @ ("start" | "restart"), ..] if is_unit_command(&cmd.argv, unit, verb, None) => {
                let unit = unit.to_string();
                if let Some(etcd) = self.etcd.lock().unwrap().as_ref().filter(|_| unit == "etcd") {
                    etcd.versions.lock().unwrap().insert(self.name.clone(), etcd.after.clone());
                    etcd.restarts.lock().unwrap().push(self.name.clone());
                }
                self.log.lock().unwrap().push(format!("{verb} {unit}"));
                self.active.lock().unwrap().insert(unit);
                ok("")
            }
            ["systemctl", "daemon-reload"] => {
                self.log.lock().unwrap().push("daemon-reload".into());
                ok("")
            }
            [p, "endpoint", "health", ..] if p.ends_with("etcdctl-admin") => {
                if self.healthy.load(Ordering::SeqCst) {
                    ok(&(1..=3).map(|i| format!("https://10.0.0.{i}:2379 is healthy: successfully committed proposal\n")).collect::<String>())
                } else {
                    fail()
                }
            }
            ["sh", "-c", script, "sh", paths @ ..] if *script == super::PRESENT => {
                let files = self.files.lock().unwrap();
                ok(&paths.iter().map(|p| if files.contains_key(*p) { "1\n" } else { "0\n" }).collect::<String>())
            }
            ["rm", "-f", "--", paths @ ..] => {
                let mut files = self.files.lock().unwrap();
                for p in paths {
                    files.remove(*p);
                }
                self.log.lock().unwrap().push(format!("rm {}", paths.join(" ")));
                ok("")
            }
            ["sh", "-c", script, "sh", _dockerd] if script.contains("command -v dockerd") => {
                if !self.no_dockerd.load(Ordering::SeqCst) {
                    ok("")
                } else if self.elsewhere.load(Ordering::SeqCst) {
                    Output { stdout: b"/usr/local/bin/dockerd\n".to_vec(), stderr: Vec::new(), exit_code: Some(3) }
                } else {
                    fail()
                }
            }
            ["sh", "-c", script, "sh", _dockerd, _, _, args @ ..] if script.contains("apt-get install") => {
                self.log.lock().unwrap().push(format!("apt-get install {}", args.join(" ")));
                self.no_dockerd.store(false, Ordering::SeqCst);
                ok("")
            }
            ["sh", "-c", script, ..] if script.contains("ActiveEnterTimestamp") => ok(""),
            ["systemctl", "show", "-P", "NeedDaemonReload", ..] => ok("no\nno\nno\n"),
            ["sh", "-c", script] if script.starts_with("o=$(mktemp)") => {
                // A batch of commands the plan says to run: each runs.
                let steps: Vec<&str> = script.lines().skip(2).collect();
                self.log.lock().unwrap().extend(steps.iter().map(|l| l.to_string()));
                ok(&steps.iter().map(|_| "ran\n").collect::<String>())
            }
            _ if self.converged.load(Ordering::SeqCst) => ok(""),
            _ => {
                self.log.lock().unwrap().push(cmd.argv.join(" "));
                // Before convergence every check fails, every command succeeds.
                if cmd.argv.first().is_some_and(|p| p == "sh" || p == "test" || p == "grep") { fail() } else { ok("") }
            }
        };
        Ok(out)
    }
    async fn put_file(&self, path: &str, source: &FileSource, opts: &PutOptions) -> TResult<PutOutcome> {
        let b = &match source {
            FileSource::Bytes(b) => b.clone(),
            FileSource::Path(p) => std::fs::read(p).unwrap(),
        };
        let mut files = self.files.lock().unwrap();
        let outcome = match files.get(path) {
            None => PutOutcome::Created,
            Some((old, m)) if old == b && *m == opts.mode => return Ok(PutOutcome::Unchanged),
            Some((old, _)) if old == b => PutOutcome::MetadataUpdated,
            Some(_) => PutOutcome::Updated,
        };
        self.log.lock().unwrap().push(format!("put {path}"));
        files.insert(path.into(), (b.clone(), opts.mode));
        Ok(outcome)
    }
    async fn read_file(&self, path: &str) -> TResult<Option<Vec<u8>>> {
        Ok(self.files.lock().unwrap().get(path).map(|(b, _)| b.clone()))
    }
    async fn stat(&self, path: &str) -> TResult<Option<FileStat>> {
        Ok(self.files.lock().unwrap().get(path).map(|(b, m)| FileStat {
            kind: FileKind::File,
            size: b.len() as u64,
            mode: *m,
            uid: 0,
            gid: 0,
            mtime: 0,
        }))
    }
}

const SPEC: &str = r#"
hosts:
  - { name: etcd01, address: 10.0.0.1, roles: [etcd, node] }
  - { name: etcd02, address: 10.0.0.2, roles: [etcd, node] }
  - { name: etcd03, address: 10.0.0.3, roles: [etcd, node] }
  - { name: node01, address: 10.0.0.4, roles: [node] }
versions: { etcd: "3.4.23", flannel: "0.26.1" }
pki: { key_algorithm: ecdsa-p256 }
"#;

struct Cluster {
    spec: ClusterSpec,
    pki: Issued,
    hosts: BTreeMap<String, Arc<FakeHost>>,
}

impl Cluster {
    fn new(yaml: &str) -> Self {
        let spec = ClusterSpec::from_yaml_str(yaml).unwrap();
        let pki = CertBundle::for_cluster(&spec)
            .unwrap()
            .generate()
            .unwrap();
        let hosts = spec.hosts.iter().map(|h| (h.name.clone(), FakeHost::new(&h.name))).collect();
        Cluster { spec, pki, hosts }
    }
    fn engine(&self, spec: &ClusterSpec) -> Engine {
        let t = self.hosts.iter().map(|(n, h)| (n.clone(), h.clone() as Arc<dyn Transport>)).collect();
        Engine::new(spec, &self.pki, t).unwrap()
    }
    fn converge(&self) {
        for h in self.hosts.values() {
            h.converged.store(true, Ordering::SeqCst);
            h.clear_log();
        }
    }
    /// A first apply (it must succeed), then every host converged: where
    /// most scenarios start.
    async fn applied(&self) {
        assert!(self.engine(&self.spec).apply(&ApplyOptions::default()).await.ok());
        self.converge();
    }
    /// The cluster's spec at another etcd version.
    fn spec_at_etcd(&self, version: &str) -> ClusterSpec {
        let mut spec = self.spec.clone();
        spec.versions.etcd = version.parse().unwrap();
        spec
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

#[test]
fn second_apply_changes_and_restarts_nothing() {
    let c = Cluster::new(SPEC);
    rt().block_on(async {
        let first = c.engine(&c.spec).apply(&ApplyOptions::default()).await;
        assert!(first.ok(), "{first:#?}");
        assert!(first.change_count() > 20);
        for (name, h) in &c.hosts {
            let log = h.log();
            assert_eq!(log.iter().filter(|l| l.contains("systemctl daemon-reload")).count(), 1, "{name}: {log:?}");
            if name.starts_with("etcd") {
                assert!(log.contains(&"start etcd".to_string()), "{name}: {log:?}");
            } else {
                assert!(!log.iter().any(|l| l.contains("etcd ") || l.ends_with("etcd")), "node01 runs no etcd: {log:?}");
            }
            // No flanneld binary: not started, and so docker is not started either.
            assert!(!log.iter().any(|l| l == "start flanneld" || l == "start docker"), "{name}: {log:?}");
        }
        let keys: Vec<_> = c.hosts["node01"].files.lock().unwrap().iter().filter(|(_, (_, m))| *m == 0o600).map(|(p, _)| p.clone()).collect();
        assert_eq!(keys, ["/opt/kubernetes/ssl/flanneld-key.pem"], "a node only gets flanneld's key");

        c.converge();
        let second = c.engine(&c.spec).apply(&ApplyOptions::default()).await;
        assert!(second.ok(), "{second:#?}");
        assert_eq!(second.change_count(), 0, "{:#?}", second.hosts.values().flat_map(|h| &h.changes).collect::<Vec<_>>());
        for h in c.hosts.values() {
            assert!(h.log().is_empty(), "{}: {:?}", h.name, h.log());
        }
    });
}

#[test]
fn a_no_op_apply_is_two_exchanges_per_host_and_a_plan_one() {
    let c = Cluster::new(SPEC);
    rt().block_on(async {
        c.applied().await;
        let count = || c.hosts.iter().map(|(n, h)| (n.clone(), h.runs.swap(0, Ordering::SeqCst))).collect::<BTreeMap<_, _>>();
        count();
        let r = c.engine(&c.spec).apply(&ApplyOptions::default()).await;
        assert!(r.ok() && r.change_count() == 0, "{r:#?}");
        // The lock and the facts in one exchange, then the lock given back.
        assert!(count().values().all(|n| *n == 2), "{:?}", count());
        let p = c.engine(&c.spec).plan(&ApplyOptions::default()).await;
        assert_eq!(p.change_count(), 0);
        assert!(count().values().all(|n| *n == 1), "a plan takes no lock: one probe");
    });
}

#[test]
fn a_changed_setting_restarts_only_what_depends_on_it() {
    let c = Cluster::new(SPEC);
    rt().block_on(async {
        c.applied().await;
        let mut spec = c.spec.clone();
        spec.etcd.token = "another-token".into();
        let r = c.engine(&spec).apply(&ApplyOptions::default()).await;
        assert!(r.ok(), "{r:#?}");
        for (name, h) in &c.hosts {
            let log = h.log();
            if name.starts_with("etcd") {
                assert_eq!(log, ["put /opt/etcd/cfg/etcd", "restart etcd"], "{name}");
            } else {
                assert!(log.is_empty(), "{name}: {log:?}");
            }
        }
        let why = &r.hosts["etcd02"].changes.last().unwrap().what;
        assert_eq!(why, "restart etcd (/opt/etcd/cfg/etcd changed)");
    });
}

#[test]
fn plan_changes_nothing_and_shows_redacted_diffs() {
    let c = Cluster::new(SPEC);
    rt().block_on(async {
        let plan = c.engine(&c.spec).plan(&ApplyOptions::default()).await;
        assert!(plan.dry_run && plan.ok(), "{plan:#?}");
        for h in c.hosts.values() {
            assert!(h.log().iter().all(|l| !l.starts_with("put") && !l.starts_with("start")), "{:?}", h.log());
            assert_eq!(h.files.lock().unwrap().len(), 1, "only /etc/os-release");
        }
        let changes = &plan.hosts["etcd01"].changes;
        let env = changes.iter().find(|c| c.what == "write /opt/etcd/cfg/etcd (created)").unwrap();
        assert!(env.diff.as_deref().unwrap().contains("+ETCD_NAME=\"etcd01\""));
        let key = changes.iter().find(|c| c.what == "write /opt/etcd/ssl/etcd01-peer-key.pem (created)").unwrap();
        assert!(!key.diff.as_deref().unwrap().contains("PRIVATE"), "key contents never shown");
        assert!(changes.iter().any(|c| c.what.starts_with("start etcd")));
        assert!(!format!("{plan:?}").contains("BEGIN PRIVATE KEY"));
    });
}

#[test]
fn unhealthy_etcd_stops_later_stages() {
    let c = Cluster::new(SPEC);
    for h in c.hosts.values() {
        h.healthy.store(false, Ordering::SeqCst);
    }
    rt().block_on(async {
        let opts = ApplyOptions { etcd_timeout: Duration::from_millis(300), ..ApplyOptions::default() };
        let r = c.engine(&c.spec).apply(&opts).await;
        assert!(!r.ok());
        let why = r.aborted.as_deref().unwrap();
        assert!(why.contains("not healthy") && why.contains("later stages not started"), "{why}");
        assert!(r.hosts.values().all(|h| h.changes.iter().all(|c| c.stage <= Stage::Etcd)));
    });
}

#[test]
fn only_and_until_limit_the_run() {
    let c = Cluster::new(SPEC);
    rt().block_on(async {
        let opts = ApplyOptions {
            only: Some(["node01".to_string()].into()),
            until: Some(Stage::Files),
            ..ApplyOptions::default()
        };
        let r = c.engine(&c.spec).apply(&opts).await;
        assert_eq!(r.hosts.keys().collect::<Vec<_>>(), ["node01"]);
        assert!(c.hosts["etcd01"].log().is_empty());
        assert!(r.hosts["node01"].changes.iter().all(|c| c.stage <= Stage::Files));
    });
}

/// Cancels the run, like a Ctrl-C would, at the first event it matches:
/// a stage done, or a stage announced (a Ctrl-C that lands between the
/// announcement and the stage's first steps).
struct CancelOn(fn(&Event) -> bool, Cancel);

impl Progress for CancelOn {
    fn event(&self, e: &Event) {
        if (self.0)(e) {
            self.1.cancel();
        }
    }
}

#[test]
fn cancel_stops_at_the_next_stage_and_a_rerun_converges() {
    let c = Cluster::new(SPEC);
    rt().block_on(async {
        let opts = ApplyOptions::default();
        let engine = c.engine(&c.spec).with_progress(Arc::new(CancelOn(|e| matches!(e, Event::StageDone(Stage::Files)), opts.cancel.clone())));
        let r = engine.apply(&opts).await;
        let why = r.aborted.as_deref().expect("aborted");
        assert!(why.contains("interrupted before stage install"), "{why}");
        assert!(r.change_count() > 0);
        assert!(r.hosts.values().all(|h| h.failed.is_none() && h.changes.iter().all(|c| c.stage <= Stage::Files)));
        let again = c.engine(&c.spec).apply(&ApplyOptions::default()).await;
        assert!(again.ok(), "{again:?}");
        assert!(again.hosts.values().any(|h| h.changes.iter().any(|c| c.stage > Stage::Files)));
    });
}

impl Cluster {
    /// Makes every member's etcdctl report `versions` (etcd01, etcd02, ...)
    /// with `leader` leading; a restart puts a member at `after`.
    fn running_etcd(&self, versions: &[&str], leader: &str, after: &str) -> Arc<FakeEtcd> {
        let etcd = Arc::new(FakeEtcd {
            versions: Mutex::new(versions.iter().enumerate().map(|(i, v)| (format!("etcd0{}", i + 1), v.to_string())).collect()),
            leader: leader.into(),
            after: after.into(),
            restarts: Mutex::new(Vec::new()),
        });
        for (name, h) in &self.hosts {
            if name.starts_with("etcd") {
                *h.etcd.lock().unwrap() = Some(etcd.clone());
                h.active.lock().unwrap().insert("etcd".into());
            }
        }
        etcd
    }
}

#[test]
fn a_jump_or_a_downgrade_is_refused_before_anything_changes() {
    let c = Cluster::new(SPEC);
    rt().block_on(async {
        c.applied().await;
        let etcd = c.running_etcd(&["3.4.23", "3.4.23", "3.4.23"], "etcd01", "3.6.16");
        for (wanted, says) in [
            ("3.6.16", "host etcd01: etcd 3.4.23 runs there and versions.etcd is 3.6.16: etcd upgrades one minor at a time; upgrade 3.4 -> 3.5 first, then 3.5 -> 3.6"),
            ("3.3.13", "host etcd01: etcd 3.4.23 runs there and versions.etcd is 3.3.13, an older minor: downgrades are refused"),
        ] {
            let spec = c.spec_at_etcd(wanted);
            for r in [c.engine(&spec).plan(&ApplyOptions::default()).await, c.engine(&spec).apply(&ApplyOptions::default()).await] {
                let why = r.aborted.as_deref().expect("refused");
                assert!(why.starts_with("etcd upgrade refused, nothing was changed: ") && why.contains(says), "{why}");
                assert_eq!(r.change_count(), 0, "{r:#?}");
            }
            for h in c.hosts.values() {
                assert!(h.log().iter().all(|l| !l.starts_with("put") && !l.contains("restart")), "{}: {:?}", h.name, h.log());
            }
        }
        assert!(etcd.restarts.lock().unwrap().is_empty());
    });
}

#[test]
fn one_minor_up_restarts_members_one_at_a_time_leader_last_and_resumes() {
    let c = Cluster::new(SPEC);
    rt().block_on(async {
        c.applied().await;
        let spec = c.spec_at_etcd("3.5.1");
        // Stopped midway (here: only etcd02 was upgraded): mixed N / N+1.
        let etcd = c.running_etcd(&["3.4.23", "3.4.23", "3.4.23"], "etcd01", "3.5.1");
        let only = ApplyOptions { only: Some(["etcd02".to_string()].into()), ..ApplyOptions::default() };
        assert!(c.engine(&spec).apply(&only).await.ok());
        assert_eq!(*etcd.restarts.lock().unwrap(), ["etcd02"]);
        etcd.restarts.lock().unwrap().clear();
        let plan = c.engine(&spec).plan(&ApplyOptions::default()).await;
        assert!(plan.ok(), "{plan:#?}");
        let restart = |r: &Report, host: &str| r.hosts[host].changes.iter().filter(|c| c.stage == Stage::Etcd).map(|c| c.what.clone()).collect::<Vec<_>>();
        assert_eq!(restart(&plan, "etcd03")[0].split(':').next().unwrap(), "upgrade etcd 3.4.23 -> 3.5.1 (1 of 2, one member at a time)");
        assert_eq!(restart(&plan, "etcd01")[0].split(':').next().unwrap(), "upgrade etcd 3.4.23 -> 3.5.1 (2 of 2, one member at a time)");
        assert!(restart(&plan, "etcd02").is_empty());
        assert!(etcd.restarts.lock().unwrap().is_empty(), "a plan restarts nothing");

        let r = c.engine(&spec).apply(&ApplyOptions::default()).await;
        assert!(r.ok(), "{r:#?}");
        assert_eq!(*etcd.restarts.lock().unwrap(), ["etcd03", "etcd01"], "the leader last, one at a time");
        assert!(etcd.versions.lock().unwrap().values().all(|v| v == "3.5.1"));
        // All at 3.5.1: the next apply changes nothing.
        let again = c.engine(&spec).apply(&ApplyOptions::default()).await;
        assert!(again.ok() && again.change_count() == 0, "{again:#?}");
    });
}

#[test]
fn a_member_still_on_the_old_version_restarts_although_its_files_are_current() {
    let c = Cluster::new(SPEC);
    rt().block_on(async {
        c.applied().await;
        let spec = c.spec_at_etcd("3.5.1");
        let etcd = c.running_etcd(&["3.5.1", "3.5.1", "3.5.1"], "etcd01", "3.5.1");
        assert!(c.engine(&spec).apply(&ApplyOptions::default()).await.ok()); // files at 3.5
        // etcd03 still runs 3.4 (its restart was lost), with the new files in place.
        etcd.versions.lock().unwrap().insert("etcd03".into(), "3.4.23".into());
        etcd.restarts.lock().unwrap().clear();
        let r = c.engine(&spec).apply(&ApplyOptions::default()).await;
        assert!(r.ok(), "{r:#?}");
        assert_eq!(*etcd.restarts.lock().unwrap(), ["etcd03"]);
        let what = &r.hosts["etcd03"].changes.last().unwrap().what;
        assert_eq!(what, "upgrade etcd 3.4.23 -> 3.5.1 (1 of 1, one member at a time): restart etcd (it runs an etcd other than versions.etcd 3.5.1)");
        assert_eq!(r.change_count(), 1, "{r:#?}");
    });
}

#[test]
fn a_node_without_dockerd_gets_the_engine_before_our_files_and_only_once() {
    let c = Cluster::new(SPEC);
    c.hosts["node01"].no_dockerd.store(true, Ordering::SeqCst);
    rt().block_on(async {
        let plan = c.engine(&c.spec).plan(&ApplyOptions::default()).await;
        assert!(plan.ok(), "{plan:#?}");
        let install = |r: &Report, host: &str| r.hosts[host].changes.iter().filter(|c| c.what.starts_with("install docker.io")).cloned().collect::<Vec<_>>();
        let planned = install(&plan, "node01");
        assert_eq!(planned.len(), 1);
        assert_eq!(planned[0].what, "install docker.io with apt-get from the host's apt sources (no dockerd at /usr/bin/dockerd)");
        assert_eq!(planned[0].stage, Stage::HostPrep);
        assert!(c.hosts["node01"].log().iter().all(|l| !l.starts_with("apt-get")), "a plan installs nothing");
        assert!(install(&plan, "etcd01").is_empty(), "a host with dockerd gets nothing");

        let r = c.engine(&c.spec).apply(&ApplyOptions::default()).await;
        assert!(r.ok(), "{r:#?}");
        let log = c.hosts["node01"].log();
        let apt = log.iter().position(|l| l == "apt-get install docker.io").expect("installed");
        let unit = log.iter().position(|l| l == "put /usr/lib/systemd/system/docker.service").unwrap();
        assert!(apt < unit, "the package first, then our unit over its own: {log:?}");
        assert!(c.hosts["etcd01"].log().iter().all(|l| !l.starts_with("apt-get")));

        c.converge();
        let again = c.engine(&c.spec).apply(&ApplyOptions::default()).await;
        assert_eq!(again.change_count(), 0, "{again:#?}");
        assert!(c.hosts["node01"].log().is_empty());
    });
}

#[test]
fn offline_install_uploads_the_folder_and_installs_those_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("docker.io_20.10.24_amd64.deb"), b"deb").unwrap();
    std::fs::write(dir.path().join("README"), b"not a package").unwrap();
    let c = Cluster::new(SPEC);
    c.hosts["node01"].no_dockerd.store(true, Ordering::SeqCst);
    let mut spec = c.spec.clone();
    spec.docker.install = crate::docker::DockerInstall::Offline(dir.path().display().to_string());
    rt().block_on(async {
        let r = c.engine(&spec).apply(&ApplyOptions { until: Some(Stage::HostPrep), ..Default::default() }).await;
        assert!(r.ok(), "{r:#?}");
        let remote = "/var/cache/k8s-bootstrap/docker-packages/docker.io_20.10.24_amd64.deb";
        let log = c.hosts["node01"].log();
        assert!(log.contains(&format!("put {remote}")), "{log:?}");
        assert!(log.contains(&format!("apt-get install {remote}")), "{log:?}");
        assert!(!log.iter().any(|l| l.contains("README")));
    });
    // An empty folder: the host fails, naming the folder and what to put there.
    let empty = tempfile::tempdir().unwrap();
    let c = Cluster::new(SPEC);
    c.hosts["node01"].no_dockerd.store(true, Ordering::SeqCst);
    let mut spec = c.spec.clone();
    spec.docker.install = crate::docker::DockerInstall::Offline(empty.path().display().to_string());
    rt().block_on(async {
        let r = c.engine(&spec).plan(&ApplyOptions::default()).await;
        let f = r.hosts["node01"].failed.as_ref().expect("fails");
        assert_eq!(f.stage, Stage::HostPrep);
        assert!(f.error.starts_with("node01: docker.install.offline = ") && f.error.contains("no .deb file"), "{}", f.error);
    });
}

#[test]
fn a_dockerd_elsewhere_installs_nothing_and_names_both_paths() {
    let c = Cluster::new(SPEC);
    c.hosts["node01"].no_dockerd.store(true, Ordering::SeqCst);
    c.hosts["node01"].elsewhere.store(true, Ordering::SeqCst);
    rt().block_on(async {
        let r = c.engine(&c.spec).apply(&ApplyOptions::default()).await;
        let f = r.hosts["node01"].failed.as_ref().expect("fails");
        assert_eq!(f.error, "node01: there is a dockerd at /usr/local/bin/dockerd, but layout.dockerd is /usr/bin/dockerd: nothing installed; set layout.dockerd to the host's dockerd");
        assert!(c.hosts["node01"].log().iter().all(|l| !l.starts_with("apt-get")));
    });
}

/// Another run's lock line, as `LockHolder` writes it.
fn other_holder() -> String {
    let h = LockHolder {
        user: "ops".into(),
        host: "ctl2".into(),
        pid: 4242,
        since: time::macros::datetime!(2026-12-04 12:01:03 UTC),
        command: "k8s-bootstrap apply".into(),
        id: "0123456789abcdef01234567".into(),
    };
    serde_json::to_string(&h).unwrap()
}

#[test]
fn a_lock_held_on_one_host_refuses_the_run_and_changes_nothing() {
    let c = Cluster::new(SPEC);
    *c.hosts["etcd02"].lock.lock().unwrap() = Some((other_holder(), 5));
    rt().block_on(async {
        let r = c.engine(&c.spec).apply(&ApplyOptions::default()).await;
        assert_eq!(r.aborted.as_deref(), Some("the cluster is locked by another run (on etcd02): nothing was changed"));
        let f = r.hosts["etcd02"].failed.as_ref().unwrap();
        assert_eq!((f.kind, f.step.as_str()), (FailureKind::Locked, "take the cluster lock"));
        assert_eq!(
            f.error,
            "etcd02 is locked by another run: held by ops@ctl2 since 2026-12-04 12:01:03 UTC, pid 4242 (k8s-bootstrap apply), refreshed 5 s ago; wait for that run to end"
        );
        assert_eq!(r.change_count(), 0);
        for (name, h) in &c.hosts {
            assert!(h.log().is_empty(), "{name}: {:?}", h.log());
            let lock = h.lock.lock().unwrap().clone();
            // The locks this run took were given back; the other run's stays.
            assert_eq!(lock.map(|(l, _)| l), (name == "etcd02").then(other_holder), "{name}");
        }
        // reset is refused the same way.
        let reset = c.engine(&c.spec).reset(&ApplyOptions::default(), true).await;
        assert_eq!(reset.hosts["etcd02"].failed.as_ref().map(|f| f.kind), Some(FailureKind::Locked));
        assert!(c.hosts.values().all(|h| h.log().is_empty()));
        // A plan takes no lock: it reads and changes nothing.
        let plan = c.engine(&c.spec).plan(&ApplyOptions::default()).await;
        assert!(plan.ok() && plan.change_count() > 20, "{plan:#?}");
    });
}

#[test]
fn a_stale_lock_is_refused_named_and_broken_only_when_asked() {
    let c = Cluster::new(SPEC);
    *c.hosts["etcd01"].lock.lock().unwrap() = Some((other_holder(), 75));
    rt().block_on(async {
        let r = c.engine(&c.spec).apply(&ApplyOptions::default()).await;
        let f = r.hosts["etcd01"].failed.as_ref().unwrap();
        assert!(f.error.ends_with("pid 4242 (k8s-bootstrap apply), not refreshed for 75 s: that run is gone (killed, or its machine lost); if so, break the lock (the break-lock option) and run again"), "{}", f.error);
        assert_eq!(r.change_count(), 0);
        let r = c.engine(&c.spec).apply(&ApplyOptions { break_lock: true, ..ApplyOptions::default() }).await;
        assert!(r.ok(), "{r:#?}");
        assert_eq!(
            r.hosts["etcd01"].notes[..1],
            ["broke a stale cluster lock (held by ops@ctl2 since 2026-12-04 12:01:03 UTC, pid 4242 (k8s-bootstrap apply), not refreshed for 75 s), as asked"]
        );
        // The run's own locks are gone once it ends.
        assert!(c.hosts.values().all(|h| h.lock.lock().unwrap().is_none()));
    });
}

#[test]
fn a_live_lock_is_not_broken_even_when_asked() {
    let c = Cluster::new(SPEC);
    *c.hosts["etcd03"].lock.lock().unwrap() = Some((other_holder(), 3));
    rt().block_on(async {
        let r = c
            .engine(&c.spec)
            .apply(&ApplyOptions {
                break_lock: true,
                ..ApplyOptions::default()
            })
            .await;
        assert_eq!(
            r.hosts["etcd03"].failed.as_ref().map(|f| f.kind),
            Some(FailureKind::Locked)
        );
        assert_eq!(
            c.hosts["etcd03"]
                .lock
                .lock()
                .unwrap()
                .clone()
                .map(|(l, _)| l),
            Some(other_holder())
        );
    });
}

#[test]
fn a_held_lock_is_refreshed_and_a_lost_one_is_reported() {
    let host = FakeHost::new("etcd01");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        let me = LockHolder::me();
        assert!(matches!(lock::acquire_one("etcd01", &*host, &me, false, None).await.0, lock::HostLockOutcome::Acquired));
        host.lock.lock().unwrap().as_mut().unwrap().1 = 30;
        let locks = lock::HostLocks::hold(me.clone(), vec![("etcd01".to_string(), host.clone() as Arc<dyn Transport>)], lock::ActiveRun::new(&me));
        tokio::time::sleep(REFRESH_EVERY + Duration::from_secs(1)).await;
        assert_eq!(host.lock.lock().unwrap().as_ref().map(|(_, idle)| *idle), Some(0), "refreshed");
        assert_eq!(locks.lost(), None);
        // Another run took it (ours was broken): the next refresh says so.
        *host.lock.lock().unwrap() = Some((other_holder(), 0));
        tokio::time::sleep(REFRESH_EVERY).await;
        assert_eq!(locks.lost().as_deref(), Some("etcd01: another run holds the cluster lock now (this run's lock was broken or removed)"));
        // Releasing never removes another run's lock.
        locks.release().await;
        assert_eq!(host.lock.lock().unwrap().clone().map(|(l, _)| l), Some(other_holder()));
    });
}

#[test]
fn temp_files_of_an_interrupted_upload_are_removed_by_the_next_apply() {
    let c = Cluster::new(SPEC);
    rt().block_on(async {
        c.applied().await;
        // What a connection lost in the middle of the batched upload leaves
        // beside the file it was writing (the file itself is whole).
        let litter = "/opt/etcd/cfg/.etcd.kbtmp.Qx81Za";
        c.hosts["etcd02"].files.lock().unwrap().insert(litter.into(), (b"half a file".to_vec(), 0o600));
        let plan = c.engine(&c.spec).plan(&ApplyOptions::default()).await;
        let files: Vec<&str> = plan.hosts["etcd02"].changes.iter().filter(|c| c.stage == Stage::Files).map(|c| c.what.as_str()).collect();
        assert_eq!(files, [format!("remove {litter} (left by an interrupted upload)")]);
        assert!(c.hosts["etcd02"].files.lock().unwrap().contains_key(litter), "a plan removes nothing");
        let r = c.engine(&c.spec).apply(&ApplyOptions::default()).await;
        assert!(r.ok(), "{r:#?}");
        assert_eq!(r.change_count(), 1);
        assert!(!c.hosts["etcd02"].files.lock().unwrap().contains_key(litter));
        assert_eq!(c.hosts["etcd02"].log(), [format!("rm {litter}")]);
        assert_eq!(c.engine(&c.spec).apply(&ApplyOptions::default()).await.change_count(), 0);
    });
}

#[test]
fn a_lock_left_by_an_ended_run_of_this_process_or_a_dead_one_of_this_machine() {
    let c = Cluster::new(SPEC);
    let mut ended = LockHolder::me(); // a run of this process, over (its id is no active run's)
    ended.command = "an earlier run".into();
    let mut dead = LockHolder::me();
    dead.pid = 4_194_304 + 1; // above Linux's pid_max: no such process
    dead.command = "killed".into();
    *c.hosts["etcd01"].lock.lock().unwrap() = Some((serde_json::to_string(&ended).unwrap(), 2));
    *c.hosts["etcd02"].lock.lock().unwrap() = Some((serde_json::to_string(&dead).unwrap(), 2));
    rt().block_on(async {
        let r = c.engine(&c.spec).apply(&ApplyOptions::default()).await;
        // The dead process of this machine: named as gone, broken only when asked.
        let f = r.hosts["etcd02"].failed.as_ref().unwrap();
        assert!(f.error.ends_with(&format!("pid {} (killed): that process no longer runs on this machine (its run was killed); break the lock (the break-lock option) and run again", dead.pid)), "{}", f.error);
        assert_eq!(r.change_count(), 0);
        let r = c.engine(&c.spec).apply(&ApplyOptions { break_lock: true, ..ApplyOptions::default() }).await;
        assert!(r.ok(), "{r:#?}");
        assert_eq!(r.hosts["etcd02"].notes[0], format!("broke a stale cluster lock (held by {dead}, its process no longer runs on this machine), as asked"));
    });
    // This process's own ended run: certain, broken without asking.
    let c = Cluster::new(SPEC);
    *c.hosts["etcd01"].lock.lock().unwrap() = Some((serde_json::to_string(&ended).unwrap(), 2));
    rt().block_on(async {
        let r = c.engine(&c.spec).apply(&ApplyOptions::default()).await;
        assert!(r.ok(), "{r:#?}");
        assert_eq!(r.hosts["etcd01"].notes[0], format!("broke a stale cluster lock (held by {ended}, an earlier run of this process, which ended without giving it back)"));
    });
}

/// `commands.sh` is the plan `apply` makes for hosts that have nothing:
/// the facts the engine reads from bare in-memory hosts (no file, no unit,
/// no dockerd) give, host by host, the very steps of [`BarePlan`], in the
/// same order; and each host's `commands.sh` is those steps, one comment
/// (the step's reason) and one command each.
#[test]
fn commands_sh_is_the_plan_apply_makes_for_bare_hosts() {
    let c = Cluster::new(SPEC);
    for h in c.hosts.values() {
        h.no_dockerd.store(true, Ordering::SeqCst);
    }
    let report = rt().block_on(c.engine(&c.spec).plan(&ApplyOptions::default()));
    assert!(report.ok(), "{report:#?}");
    // The spec leaves the OS to the host: the bare plan has every family's
    // steps, each marked; the engine read Debian from /etc/os-release.
    let bare = BarePlan::new(&c.spec).unwrap();
    for (host, r) in &report.hosts {
        let applied: Vec<&str> = r.changes.iter().map(|c| c.what.as_str()).collect();
        let debian: Vec<&str> = bare
            .plan()
            .steps()
            .filter(|(_, h, s)| h == host && !matches!(s.op, plan::Op::Run { os: Some(os), .. } | plan::Op::InstallEngine { os } if os != OsFamily::Debian))
            .map(|(_, _, s)| s.what.as_str())
            .collect();
        assert_eq!(applied, debian, "{host}");
        assert!(applied.iter().any(|w| w.starts_with("install docker.io")), "{host}: {applied:?}");
        // commands.sh: every step of the bare plan, in order, under its reason.
        let sh = bare.commands_sh(host);
        let body = &sh[sh.find("\n# === stage: ").unwrap()..];
        let reasons: Vec<&str> = body.lines().filter(|l| l.starts_with("# ") && !l.starts_with("# ===") && !l.starts_with("# wait until")).map(|l| &l[2..]).collect();
        let steps: Vec<&str> = bare.plan().steps().filter(|(_, h, _)| h == host).map(|(_, _, s)| s.what.as_str()).collect();
        assert_eq!(reasons, steps, "{host}");
    }
    // With the OS in the spec, the two plans are the same steps outright.
    let mut spec = c.spec.clone();
    for h in &mut spec.hosts {
        h.os = Some(OsFamily::Debian);
    }
    let report = rt().block_on(c.engine(&spec).plan(&ApplyOptions::default()));
    let bare = BarePlan::new(&spec).unwrap();
    for (host, r) in &report.hosts {
        let applied: Vec<&str> = r.changes.iter().map(|c| c.what.as_str()).collect();
        let planned: Vec<&str> = bare.plan().steps().filter(|(_, h, _)| h == host).map(|(_, _, s)| s.what.as_str()).collect();
        assert_eq!(applied, planned, "{host}");
        assert!(!bare.commands_sh(host).contains("os_family"), "no OS guard when the spec gives the OS");
    }
}

#[test]
fn an_interrupt_as_the_members_start_starts_them_all() {
    // The members of a new cluster start in one wave and its health gate
    // waits for all of them: an interrupt must not start some and skip
    // the others, or the gate waits for a member that never starts.
    let c = Cluster::new(SPEC);
    rt().block_on(async {
        let opts = ApplyOptions { etcd_timeout: Duration::from_secs(5), ..ApplyOptions::default() };
        let engine = c.engine(&c.spec).with_progress(Arc::new(CancelOn(|e| matches!(e, Event::StageStarted(Stage::Etcd)), opts.cancel.clone())));
        let r = engine.apply(&opts).await;
        let why = r.aborted.as_deref().expect("aborted");
        assert!(why.contains("interrupted before stage flannel-config"), "{why}");
        for m in ["etcd01", "etcd02", "etcd03"] {
            assert!(r.hosts[m].failed.is_none(), "{m}: {:?}", r.hosts[m].failed);
            assert!(r.hosts[m].changes.iter().any(|c| c.stage == Stage::Etcd && c.what.contains("start etcd")), "{m} did not start: {:?}", r.hosts[m].changes);
        }
    });
}

#[test]
fn an_interrupt_keeps_hosts_queued_behind_the_concurrency_limit_from_starting() {
    let c = Cluster::new(SPEC);
    rt().block_on(async {
        let opts = ApplyOptions::default().with_concurrency(1).unwrap();
        let engine = c.engine(&c.spec).with_progress(Arc::new(CancelOn(|e| matches!(e, Event::StageStarted(Stage::HostPrep)), opts.cancel.clone())));
        let r = engine.apply(&opts).await;
        let why = r.aborted.as_deref().expect("aborted");
        let acted: Vec<&String> = r.hosts.iter().filter(|(_, h)| !h.changes.is_empty()).map(|(n, _)| n).collect();
        assert_eq!(acted.len(), 1, "one host held the only permit when the interrupt came: {acted:?}");
        let rest: Vec<&str> = r.hosts.keys().filter(|n| !acted.contains(n)).map(String::as_str).collect();
        assert!(why.starts_with(&format!("interrupted during stage host-prep: {} did not start it", rest.join(", "))), "{why}");
        assert!(r.hosts.values().all(|h| h.failed.is_none()));
    });
}

#[test]
fn a_binary_unreadable_on_the_control_machine_fails_the_hosts_that_get_it() {
    // The binaries are hashed while the facts are read: a binary that
    // cannot be read still fails each host that gets it, before any change.
    let dir = tempfile::tempdir().unwrap();
    let (etcd, etcdctl) = (dir.path().join("etcd"), dir.path().join("etcdctl"));
    std::fs::write(&etcd, b"etcd").unwrap();
    std::fs::write(&etcdctl, b"etcdctl").unwrap();
    let yaml = format!("{SPEC}binaries: {{ etcd: {}, etcdctl: {} }}\n", etcd.display(), etcdctl.display());
    let c = Cluster::new(&yaml);
    let engine = c.engine(&c.spec);
    std::fs::remove_file(&etcd).unwrap();
    rt().block_on(async {
        let r = engine.apply(&ApplyOptions::default()).await;
        for m in ["etcd01", "etcd02", "etcd03"] {
            let f = r.hosts[m].failed.as_ref().unwrap_or_else(|| panic!("{m} did not fail: {:?}", r.hosts[m]));
            assert!(f.error.contains(&format!("{m}: reading {} on the control machine", etcd.display())), "{m}: {}", f.error);
            assert!(r.hosts[m].changes.is_empty(), "{m} changed: {:?}", r.hosts[m].changes);
        }
        assert!(r.hosts["node01"].failed.is_none(), "node01 gets no etcd: {:?}", r.hosts["node01"].failed);
    });
}
