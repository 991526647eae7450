//! How another tool embeds k8s-bootstrap: the tutorial's cluster built
//! entirely in Rust (no YAML), validated, planned and applied over SSH with
//! the tool's own progress reporting, then read back with `status`.
//!
//! ```text
//! # the tutorial's three machines (192.168.1.30-32), keys from ssh-agent / ~/.ssh:
//! cargo run -p k8s-bootstrap-examples --example embed -- --user vagrant
//!
//! # the local test hosts (as root, after `k8s-bootstrap-testbed up 3`):
//! cargo run -p k8s-bootstrap-examples --example embed -- --testbed \
//!     --hosts 10.77.0.11,10.77.0.12,10.77.0.13 \
//!     --identity /run/k8s-bootstrap-testbed/id_ed25519 \
//!     --known-hosts /run/k8s-bootstrap-testbed/known_hosts \
//!     --flanneld /var/cache/k8s-bootstrap/bin/flanneld   # built by scripts/setup
//! # ... and again with --expect-unchanged: the second apply must change nothing.
//! ```
//!
//! Every option can also come from the environment (`K8SB_HOSTS`,
//! `K8SB_USER`, `K8SB_IDENTITY`, `K8SB_KNOWN_HOSTS`, `K8SB_PKI_DIR`,
//! `K8SB_FLANNELD`); a flag wins over its variable.
//! Exit code 0 when the apply succeeded and etcd is healthy, 1 otherwise,
//! 2 for bad arguments.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use k8s_bootstrap_core::apply::{
    self, ApplyOptions, ConnectOptions, Event, OpenOptions, Progress, Report,
};
use k8s_bootstrap_core::hostprep::TimeSync;
use k8s_bootstrap_core::spec::{ClusterSpec, HostSpec, Role, SshSpec, Version};

/// What the command line (or the environment) asked for.
#[derive(Debug)]
struct Args {
    hosts: Vec<Ipv4Addr>,
    user: String,
    identity: Option<String>,
    known_hosts: Option<PathBuf>,
    accept_new_host_keys: bool,
    pki_dir: PathBuf,
    testbed: bool,
    flanneld: Option<String>,
    plan_only: bool,
    expect_unchanged: bool,
}

const USAGE: &str = "usage: embed [--hosts A,B,C] [--user USER] [--identity KEY] [--known-hosts FILE]
             [--accept-new-host-keys] [--pki-dir DIR] [--testbed]
             [--flanneld PATH] [--plan-only] [--expect-unchanged]";

fn parse_args() -> anyhow::Result<Args> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let mut hosts = env("K8SB_HOSTS").unwrap_or_else(|| "192.168.1.30,192.168.1.31,192.168.1.32".into());
    let mut a = Args {
        hosts: Vec::new(),
        user: env("K8SB_USER").unwrap_or_else(|| "root".into()),
        identity: env("K8SB_IDENTITY"),
        known_hosts: env("K8SB_KNOWN_HOSTS").map(PathBuf::from),
        accept_new_host_keys: false,
        pki_dir: env("K8SB_PKI_DIR").map_or_else(|| PathBuf::from("embed-pki"), PathBuf::from),
        testbed: false,
        flanneld: env("K8SB_FLANNELD"),
        plan_only: false,
        expect_unchanged: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value\n{USAGE}"));
        match flag.as_str() {
            "--hosts" => hosts = value()?,
            "--user" => a.user = value()?,
            "--identity" => a.identity = Some(value()?),
            "--known-hosts" => a.known_hosts = Some(value()?.into()),
            "--accept-new-host-keys" => a.accept_new_host_keys = true,
            "--pki-dir" => a.pki_dir = value()?.into(),
            "--testbed" => a.testbed = true,
            "--flanneld" => a.flanneld = Some(value()?),
            "--plan-only" => a.plan_only = true,
            "--expect-unchanged" => a.expect_unchanged = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    for h in hosts.split(',').map(str::trim).filter(|h| !h.is_empty()) {
        a.hosts.push(h.parse().with_context(|| format!("--hosts: {h:?} is not an IPv4 address"))?);
    }
    // Binaries are uploaded from this machine: make their paths absolute so
    // that the example works from any directory.
    if let Some(p) = a.flanneld.as_mut() {
        *p = std::path::absolute(&*p)?.to_string_lossy().into_owned();
    }
    Ok(a)
}

/// The tutorial's cluster, in Rust: three machines, each an etcd member and
/// a flannel + docker node, with the tutorial's registry mirror. Everything
/// not set here keeps its secure default (per-member certificates,
/// https-only etcd with client cert auth, pod network 10.244.0.0/16, ...).
fn tutorial_cluster(a: &Args) -> ClusterSpec {
    let ssh = SshSpec { user: Some(a.user.clone()), identity: a.identity.clone(), ..SshSpec::default() };
    let hosts = a
        .hosts
        .iter()
        .enumerate()
        .map(|(i, addr)| {
            let mut h = HostSpec::new(format!("etcd{:02}", i + 1), *addr, &[Role::Etcd, Role::Node]);
            h.ssh = Some(ssh.clone());
            h
        })
        .collect();
    // The tutorial's versions: etcd 3.3.13 and flannel 0.11.0 (which reads
    // its network config through etcd's v2 API, so v2 is enabled for it).
    let mut spec = ClusterSpec::new(hosts, Version::new(3, 3, 13), Version::new(0, 11, 0));
    spec.docker.registry_mirrors.push("http://f1361db2.m.daocloud.io".into());

    if a.testbed {
        // What the local test hosts need (see examples/testbed-cluster.yaml):
        // etcd from this machine (Debian's etcd-server 3.4), the version
        // of the flanneld scripts/setup builds, Debian's dockerd path, docker on vfs (its root is
        // an overlay), and the machine's clock and swap left alone.
        spec.versions.etcd = Version::new(3, 4, 23);
        spec.versions.flannel = Version::new(0, 28, 10);
        spec.binaries.etcd = Some("/usr/bin/etcd".into());
        spec.binaries.etcdctl = Some("/usr/bin/etcdctl".into());
        spec.layout.dockerd = "/usr/sbin/dockerd".into();
        spec.docker.storage_driver = Some("vfs".into());
        spec.docker.data_root = Some("/var/lib/docker-testbed".into());
        spec.docker.registry_mirrors.clear();
        spec.hostprep.time_sync = TimeSync::Leave;
        spec.hostprep.swap_off = false;
    }
    spec.binaries.flanneld = a.flanneld.clone();
    spec
}

/// Our own progress reporting: one timestamped line per event, and a count
/// of changes per host for the summary.
struct Lines {
    start: Instant,
    changes: Mutex<BTreeMap<String, usize>>,
}

impl Lines {
    fn new() -> Self {
        Lines { start: Instant::now(), changes: Mutex::default() }
    }
    fn at(&self) -> String {
        format!("[{:6.1}s]", self.start.elapsed().as_secs_f64())
    }
}

impl Progress for Lines {
    fn event(&self, event: &Event) {
        let at = self.at();
        match event {
            Event::StageStarted(stage) => println!("{at} == {stage}"),
            Event::Changed { host, change } => {
                *self.changes.lock().expect("progress lock").entry(host.clone()).or_default() += 1;
                println!("{at} {host}: {}", change.what);
            }
            Event::Failed { host, failure } => {
                eprintln!("{at} {host}: FAILED in {} at {:?} ({}): {}", failure.stage, failure.step, failure.kind.as_str(), failure.error);
                if let Some(log) = &failure.log {
                    eprintln!("{at} {host}: journal:\n{log}");
                }
            }
            Event::Note { host, message } => println!("{at} {}note: {message}", host.as_ref().map(|h| format!("{h}: ")).unwrap_or_default()),
            Event::StageDone(stage) => println!("{at} -- {stage} done"),
        }
    }
}

fn summary(what: &str, r: &Report) {
    println!("{what}: {} change(s) in {} ms, ok: {}", r.change_count(), r.elapsed_ms, r.ok());
    for (host, h) in &r.hosts {
        let state = match &h.failed {
            Some(f) => format!("FAILED ({}: {})", f.stage, f.step),
            None => "ok".into(),
        };
        println!("  {host:<8} {:>3} changed {:>3} unchanged  {state}", h.changes.len(), h.unchanged);
    }
    if let Some(why) = &r.aborted {
        println!("  aborted: {why}");
    }
}

async fn run(a: Args) -> anyhow::Result<bool> {
    // 1. The spec, in code. Validation reports every problem at once.
    let spec = tutorial_cluster(&a);
    for w in spec.validate()? {
        println!("warning: {w}");
    }

    // 2. One call from spec to engine: the PKI folder reconciled (kept when
    //    still right), every host connected over SSH in parallel.
    let mut opts = OpenOptions::new(&a.pki_dir);
    opts.connect = ConnectOptions {
        known_hosts: a.known_hosts.clone(),
        accept_new_host_keys: a.accept_new_host_keys,
        connect_timeout: Some(Duration::from_secs(10)),
        ssh_config: None,
    };
    opts.dry_run = a.plan_only;
    let opened = apply::open(&spec, &opts).await.context("opening the cluster")?;
    for w in &opened.warnings {
        println!("warning: {w}");
    }
    let progress = Arc::new(Lines::new());
    let engine = opened.engine.with_progress(progress.clone());

    // 3. Plan: what would change, changing nothing.
    let plan = engine.plan(&ApplyOptions::default()).await;
    summary("plan", &plan);
    if a.plan_only || !plan.ok() {
        return Ok(plan.ok());
    }

    // 4. Apply, then read the cluster back.
    let report = engine.apply(&ApplyOptions::default()).await;
    summary("apply", &report);
    let status = engine.status().await;
    println!(
        "status: etcd healthy: {}, members {:?}, flannel config ({}): {}",
        status.etcd_healthy,
        status.etcd_members,
        status.flannel_api,
        status.flannel_config.as_deref().unwrap_or("-")
    );
    for (host, s) in &status.hosts {
        let units: Vec<String> = s.units.iter().map(|(u, st)| format!("{u}={st}")).collect();
        let bridge = s.docker_bridge.as_ref().and_then(|b| b.docker0.clone()).unwrap_or_else(|| "-".into());
        println!("  {host:<8} {} docker0={bridge}", units.join(" "));
    }
    let counted: usize = progress.changes.lock().expect("progress lock").values().sum();
    // The plan's events were counted too: the apply's are the rest.
    let applied = counted - plan.change_count();
    assert_eq!(applied, report.change_count(), "every change was reported as an event");

    let mut ok = report.ok() && status.etcd_healthy;
    if a.expect_unchanged && report.change_count() != 0 {
        eprintln!("expected a second apply to change nothing, it made {} change(s)", report.change_count());
        ok = false;
    }
    Ok(ok)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    match rt.block_on(run(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
