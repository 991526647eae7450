//! Plan and apply: bring a [`ClusterSpec`] up on hosts through
//! [`Transport`]s, idempotently.
//!
//! An [`Engine`] takes the spec, the cluster's certificate bundle (see
//! [`crate::pki::CertBundle::for_cluster`]) and one transport per host. It
//! works in [`Stage`]s with a barrier between them; within a stage the hosts
//! run in parallel (bounded by [`ApplyOptions::concurrency`]):
//!
//! 1. host preparation (each step a check, then a change only if the check
//!    fails), and on a node without dockerd the engine's package, installed
//!    as `docker.install` says (see [`crate::docker::EngineInstall`]);
//! 2. files: certificates (each host only the ones it needs, keys 0600),
//!    binaries, every rendered file, written atomically; unchanged files are
//!    not touched;
//! 3. install: data dirs, `daemon-reload` (only when a unit changed), enabling units;
//! 4. etcd: members that are not running start together (a Type=notify
//!    member only reports ready once a quorum exists), running members whose
//!    unit, environment file, certificates or binary changed restart one at a
//!    time, then the cluster must report healthy over TLS. A change of
//!    `versions.etcd` is a rolling upgrade: before the first stage the
//!    engine reads each running member's version and the leader, and
//!    [`crate::etcd::upgrade::plan_upgrade`] decides (a jump of more than
//!    one minor or a downgrade aborts the run before any host is touched);
//!    the members then restart in that order, the leader last, each
//!    followed by the health gate and a wait until it reports the new
//!    version and has caught up with the leader;
//! 5. flannel's network config written into etcd through the API its version reads;
//! 6. flanneld, started or restarted when something it depends on changed;
//! 7. docker, likewise, once flannel has given it a subnet.
//!
//! Every run has two phases, as pyinfra's and Terraform's do. First the
//! **facts**: one probe per host, in one round trip, reads everything the
//! plan needs ([`facts::HostFacts`]: each file's digest, mode, owner and
//! mtime, the units' states, the OS, every rendered check's result, and on
//! a running member the cluster's members and versions). Then the
//! **plan** ([`plan::Plan`]) is a pure function of those facts and the
//! desired state (what the builders rendered, with explicit metadata: which
//! units a file restarts, which file is a secret): ordered, typed steps per
//! stage and host, each with its reason. [`Engine::plan`] reports it
//! (unified diffs, private keys redacted) and changes nothing;
//! [`Engine::apply`] executes exactly it; [`Engine::plan_saved`] and
//! [`Engine::apply_saved`] save it and execute it later, refusing when a
//! host changed since. A second apply of the same spec changes nothing and
//! restarts nothing.
//!
//! ```no_run
//! use std::collections::BTreeMap;
//! use std::sync::Arc;
//! use k8s_bootstrap_core::apply::{ApplyOptions, Engine};
//! use k8s_bootstrap_core::pki::CertBundle;
//! use k8s_bootstrap_core::spec::ClusterSpec;
//! use k8s_bootstrap_core::transport::{LocalTransport, Transport};
//! # async fn demo(yaml: &str) -> Result<(), Box<dyn std::error::Error>> {
//! let (spec, _warnings) = ClusterSpec::load(yaml)?;
//! let pki = CertBundle::for_cluster(&spec)?.generate()?;
//! let mut hosts: BTreeMap<String, Arc<dyn Transport>> = BTreeMap::new();
//! for h in &spec.hosts {
//!     hosts.insert(h.name.clone(), Arc::new(LocalTransport::rooted(format!("/tmp/out/{}", h.name))));
//! }
//! let engine = Engine::new(&spec, &pki, hosts)?;
//! let report = engine.apply(&ApplyOptions::default()).await;
//! println!("{} changes, ok: {}", report.change_count(), report.ok());
//! # Ok(()) }
//! ```

mod bare;
mod desired;
mod diff;
mod options;
mod report;
mod saved;
mod execute;
pub mod facts;
pub mod plan;
pub mod preflight;
mod hosts;
mod leases;
mod lock;
mod members;
mod membership;
mod open;
mod pki_dir;
mod snapshot;
mod releases;
mod restore;
mod status;
mod upgrade;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use crate::hostprep::OsFamily;
use crate::pki::Issued;
use crate::render::{HostRender, Phase, RenderedCluster};
use crate::spec::{ClusterSpec, Role};
use desired::DesiredFile;
use crate::transport::{Command, FileSource, Transport, TransportError};

#[cfg(feature = "ssh")]
pub use hosts::{connect, ssh_configs};
pub use hosts::{ConnectOptions, PkiDirError, Unreachable, sync_pki_dir};
#[cfg(feature = "ssh")]
pub use open::open;
pub use bare::{BarePlan, TreeWritten};
#[cfg(feature = "ssh")]
pub use membership::change_member;
pub use membership::MemberReports;
pub use snapshot::{SnapshotError, SnapshotInfo};
pub use restore::{RestoreError, RestoreReport};
pub use pki_dir::{CertExpiry, CertState, Renew, check_expiration, renew_certs};
pub use open::{OpenError, OpenOptions, Opened};
pub use releases::{ReleaseBinaries, ReleaseError, fetch_releases};
pub use lock::{HOST_LOCK_PATH, LockError, LockHolder, PKI_LOCK_FILE, PkiLock, REFRESH_EVERY, STALE_AFTER};
pub use options::{ApplyOptions, Cancel, Stage};
pub use plan::Plan;
pub use report::{ChangeRecord, Event, Failure, FailureKind, HostReport, NoProgress, Progress, Report};
pub use saved::SavedPlan;
pub use status::{ClusterStatus, DockerBridge, EtcdMemberStatus, HostStatus};

/// Errors that stop an engine before it acts on any host.
///
/// ```
/// use std::collections::BTreeMap;
/// use k8s_bootstrap_core::apply::{Engine, Error};
/// use k8s_bootstrap_core::pki::{CertBundle, Issued, KeyAlgorithm};
/// use k8s_bootstrap_core::spec::{ClusterSpec, HostSpec, Role, Version};
/// let mut spec = ClusterSpec::new(vec![HostSpec::new("etcd01", [192, 168, 1, 30].into(), &[Role::Etcd])], Version::new(3, 5, 17), Version::new(0, 26, 1));
/// spec.pki.key_algorithm = KeyAlgorithm::EcdsaP256;
/// let pki = CertBundle::for_cluster(&spec)?.generate()?;
/// let err = Engine::new(&spec, &pki, BTreeMap::new()).unwrap_err(); // no transport for etcd01
/// assert!(matches!(&err, Error::NoTransport { host } if host == "etcd01"));
/// // An empty PKI folder: the first certificate etcd01 needs is missing.
/// let empty = Issued { files: vec![], actions: vec![], warnings: vec![], unmanaged: vec![] };
/// # let hosts = BTreeMap::from([("etcd01".to_string(), std::sync::Arc::new(k8s_bootstrap_core::transport::RecordingTransport::new("etcd01")) as _)]);
/// let err = Engine::new(&spec, &empty, hosts).unwrap_err();
/// assert_eq!(err.to_string(), "host etcd01: certificate file ca.pem is not in the PKI bundle");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The spec does not render.
    #[error(transparent)]
    Render(#[from] crate::render::Error),
    /// A host of the spec has no transport.
    #[error("host {host}: no transport given for it")]
    NoTransport {
        /// The host.
        host: String,
    },
    /// A certificate a host needs is not in the bundle.
    #[error("host {host}: certificate file {file} is not in the PKI bundle")]
    MissingCert {
        /// The host.
        host: String,
        /// The bundle file.
        file: String,
    },
}


/// What the engine knows of a host before a run.
struct HostDef {
    name: String,
    transport: Arc<dyn Transport>,
    render: HostRender,
    items: Vec<DesiredFile>,
    roles: BTreeSet<Role>,
    os: Option<OsFamily>,
}

/// Plans and applies a cluster spec on hosts. See the [module docs](self).
///
/// ```no_run
/// use std::collections::BTreeSet;
/// use k8s_bootstrap_core::apply::{open, ApplyOptions, OpenOptions, Stage};
/// # async fn run(spec: k8s_bootstrap_core::spec::ClusterSpec) -> Result<(), Box<dyn std::error::Error>> {
/// let engine = open(&spec, &OpenOptions::beside_spec("cluster.yaml")).await?.engine;
/// // Only etcd02, and stop after etcd is up (like `apply --only etcd02 --phase etcd`).
/// let opts = ApplyOptions {
///     only: Some(BTreeSet::from(["etcd02".to_string()])),
///     until: Some(Stage::Etcd),
///     ..ApplyOptions::default()
/// };
/// let plan = engine.plan(&opts).await;
/// for (host, r) in &plan.hosts {
///     for c in &r.changes {
///         println!("{host}: {} {}", c.stage, c.what);
///         if let Some(diff) = &c.diff { print!("{diff}"); } // private keys are redacted
///     }
/// }
/// let report = engine.apply(&opts).await;
/// if let Some((host, f)) = report.hosts.iter().find_map(|(h, r)| r.failed.as_ref().map(|f| (h, f))) {
///     eprintln!("{host} failed in {} at {}: {}\n{}", f.stage, f.step, f.error, f.log.as_deref().unwrap_or(""));
/// }
/// # Ok(()) }
/// ```
pub struct Engine {
    spec: ClusterSpec,
    rendered: RenderedCluster,
    hosts: Vec<HostDef>,
    progress: Arc<dyn Progress>,
    /// The PKI folder's lock, when [`open`] took it: held while the engine lives.
    pki_lock: Option<PkiLock>,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine").field("hosts", &self.hosts.iter().map(|h| &h.name).collect::<Vec<_>>()).finish()
    }
}


/// The systemd units the engine manages, in start order.
const UNITS: [&str; 3] = ["etcd", "flanneld", "docker"];

impl Engine {
    /// An engine for `spec` with the cluster's certificates `pki` and one
    /// transport per host (by host name).
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use std::sync::Arc;
    /// use k8s_bootstrap_core::apply::Engine;
    /// use k8s_bootstrap_core::pki::{CertBundle, KeyAlgorithm};
    /// use k8s_bootstrap_core::spec::{ClusterSpec, Skeleton};
    /// use k8s_bootstrap_core::transport::{RecordingTransport, Transport};
    /// let (mut spec, _) = ClusterSpec::load(&Skeleton::Tutorial.to_yaml())?;
    /// spec.pki.key_algorithm = KeyAlgorithm::EcdsaP256;
    /// let pki = CertBundle::for_cluster(&spec)?.generate()?;
    /// let hosts: BTreeMap<String, Arc<dyn Transport>> = spec.hosts.iter()
    ///     .map(|h| (h.name.clone(), Arc::new(RecordingTransport::new(&h.name)) as _)) // or SshTransport, ...
    ///     .collect();
    /// let engine = Engine::new(&spec, &pki, hosts)?; // nothing is touched yet
    /// assert_eq!(format!("{engine:?}"), r#"Engine { hosts: ["etcd01", "etcd02", "etcd03"] }"#);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Render`] when the spec does not validate or render;
    /// [`Error::NoTransport`] for a host without transport;
    /// [`Error::MissingCert`] when the bundle lacks a certificate a host needs.
    pub fn new(spec: &ClusterSpec, pki: &Issued, mut transports: BTreeMap<String, Arc<dyn Transport>>) -> Result<Self, Error> {
        let rendered = spec.render()?;
        let mut hosts = Vec::new();
        for h in &spec.hosts {
            let transport = transports.remove(&h.name).ok_or_else(|| Error::NoTransport { host: h.name.clone() })?;
            let render = rendered.hosts.get(&h.name).cloned().unwrap_or_default();
            let items = desired::host_files(spec, h, &render, Some(pki))?;
            hosts.push(HostDef {
                name: h.name.clone(),
                transport,
                render,
                items,
                roles: h.roles.iter().copied().collect(),
                os: h.os,
            });
        }
        Ok(Engine { spec: spec.clone(), rendered, hosts, progress: Arc::new(NoProgress), pki_lock: None })
    }

    /// Installs the binaries taken from release tarballs (see
    /// [`fetch_releases`]): etcd and etcdctl on etcd members, flanneld and
    /// mk-docker-opts.sh on nodes, like `binaries.etcd` and friends.
    ///
    /// ```no_run
    /// use k8s_bootstrap_core::apply::{fetch_releases, ApplyOptions, Engine, Stage};
    /// use k8s_bootstrap_core::transport::LocalTransport;
    /// # async fn run(spec: k8s_bootstrap_core::spec::ClusterSpec, engine: Engine) -> Result<(), Box<dyn std::error::Error>> {
    /// // spec.binaries.etcd_release: { url: https://github.com/etcd-io/etcd/releases/download/..., sha256: ... }
    /// let releases = fetch_releases(&spec, &LocalTransport::new(), ".k8s-bootstrap-cache").await?;
    /// let engine = engine.with_releases(&releases);
    /// let plan = engine.plan(&ApplyOptions { until: Some(Stage::Files), ..Default::default() }).await;
    /// assert!(plan.hosts["etcd01"].changes.iter().any(|c| c.what.starts_with("write /opt/etcd/bin/etcd ")));
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn with_releases(mut self, releases: &ReleaseBinaries) -> Self {
        for h in &mut self.hosts {
            desired::add_release_binaries(&self.spec, &h.roles, &mut h.items, &releases.files);
        }
        self
    }

    /// Sends progress events to `p`.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use k8s_bootstrap_core::apply::{ApplyOptions, Engine, Event, Progress, Unreachable};
    /// use k8s_bootstrap_core::transport::TransportError;
    /// # use k8s_bootstrap_core::spec::{ClusterSpec, HostSpec, Role, Version};
    /// # let mut spec = ClusterSpec::new(vec![HostSpec::new("etcd01", [192, 168, 1, 30].into(), &[Role::Etcd, Role::Node])], Version::new(3, 5, 17), Version::new(0, 26, 1));
    /// # spec.pki.key_algorithm = k8s_bootstrap_core::pki::KeyAlgorithm::EcdsaP256;
    /// # let pki = k8s_bootstrap_core::pki::CertBundle::for_cluster(&spec).unwrap().generate().unwrap();
    /// #[derive(Default)]
    /// struct Log(Mutex<Vec<String>>);
    /// impl Progress for Log {
    ///     fn event(&self, e: &Event) {
    ///         if let Event::Failed { host, failure } = e { self.0.lock().unwrap().push(format!("{host}: {:?}", failure.kind)) }
    ///     }
    /// }
    /// let down = TransportError::Connect { host: "etcd01".into(), reason: "no route to host".into() };
    /// let log = Arc::new(Log::default());
    /// let engine = Engine::new(&spec, &pki, [("etcd01".to_string(), Arc::new(Unreachable::new("etcd01", &down)) as _)].into())
    ///     .unwrap()
    ///     .with_progress(log.clone());
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// engine.plan(&ApplyOptions::default()).await;
    /// # });
    /// assert_eq!(*log.0.lock().unwrap(), ["etcd01: Connect"]);
    /// ```
    #[must_use]
    pub fn with_progress(mut self, p: Arc<dyn Progress>) -> Self {
        self.progress = p;
        self
    }

    /// The rendered cluster the engine works from.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use k8s_bootstrap_core::apply::Engine;
    /// use k8s_bootstrap_core::transport::RecordingTransport;
    /// # use k8s_bootstrap_core::spec::{ClusterSpec, HostSpec, Role, Version};
    /// # let mut spec = ClusterSpec::new(vec![HostSpec::new("etcd01", [192, 168, 1, 30].into(), &[Role::Etcd, Role::Node])], Version::new(3, 5, 17), Version::new(0, 26, 1));
    /// # spec.pki.key_algorithm = k8s_bootstrap_core::pki::KeyAlgorithm::EcdsaP256;
    /// # let pki = k8s_bootstrap_core::pki::CertBundle::for_cluster(&spec).unwrap().generate().unwrap();
    /// let engine = Engine::new(&spec, &pki, [("etcd01".to_string(), Arc::new(RecordingTransport::new("etcd01")) as _)].into())?;
    /// // The same render as `ClusterSpec::render`: what apply will write.
    /// assert_eq!(engine.rendered(), &spec.render()?);
    /// assert!(engine.rendered().hosts["etcd01"].file("/usr/lib/systemd/system/etcd.service").is_some());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn rendered(&self) -> &RenderedCluster {
        &self.rendered
    }

    /// What an apply would change, changing nothing: checks and file reads
    /// only, with unified diffs of every file that would change.
    ///
    /// ```no_run
    /// use k8s_bootstrap_core::apply::{open, ApplyOptions, OpenOptions};
    /// # async fn run(spec: k8s_bootstrap_core::spec::ClusterSpec) -> Result<(), Box<dyn std::error::Error>> {
    /// let mut opts = OpenOptions::beside_spec("cluster.yaml");
    /// opts.dry_run = true; // not even the PKI folder is written
    /// let plan = open(&spec, &opts).await?.engine.plan(&ApplyOptions::default()).await;
    /// assert!(plan.dry_run);
    /// for (host, r) in &plan.hosts {
    ///     for c in &r.changes {
    ///         println!("{host}: [{}] {}\n{}", c.stage, c.what, c.diff.as_deref().unwrap_or(""));
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn plan(&self, opts: &ApplyOptions) -> Report {
        self.run(opts, true).await
    }

    /// Brings every host to the spec and reports what changed.
    ///
    /// ```no_run
    /// use k8s_bootstrap_core::apply::{open, ApplyOptions, OpenOptions};
    /// # async fn run(spec: k8s_bootstrap_core::spec::ClusterSpec) -> Result<(), Box<dyn std::error::Error>> {
    /// let engine = open(&spec, &OpenOptions::beside_spec("cluster.yaml")).await?.engine;
    /// let first = engine.apply(&ApplyOptions::default()).await;
    /// assert!(first.ok(), "{:?}", first.aborted);
    /// let second = engine.apply(&ApplyOptions::default()).await;
    /// assert_eq!(second.change_count(), 0); // idempotent: nothing written, nothing restarted
    /// # Ok(()) }
    /// ```
    pub async fn apply(&self, opts: &ApplyOptions) -> Report {
        self.run(opts, false).await
    }

    fn ctx(&self, opts: &ApplyOptions) -> Ctx<'_> {
        Ctx {
            spec: &self.spec,
            progress: self.progress.clone(),
            sem: Arc::new(Semaphore::new(opts.concurrency.max(1))),
            cancel: opts.cancel.clone(),
        }
    }

    fn views(&self, opts: &ApplyOptions) -> Vec<HostView<'_>> {
        self.hosts
            .iter()
            .map(|h| HostView {
                name: h.name.clone(),
                transport: h.transport.clone(),
                render: &h.render,
                items: &h.items,
                roles: h.roles.clone(),
                os: h.os,
                report: HostReport::default(),
                selected: opts.only.as_ref().is_none_or(|o| o.contains(&h.name)),
            })
            .collect()
    }

    async fn run(&self, opts: &ApplyOptions, dry: bool) -> Report {
        self.run_checked(opts, dry, None).await.0
    }

    /// Plans like [`Engine::plan`] and also returns the plan as a value to
    /// save (`plan --out FILE`): the steps, the facts they were made from
    /// and a fingerprint of the desired state. [`Engine::apply_saved`]
    /// executes exactly it, or refuses.
    ///
    /// ```no_run
    /// use k8s_bootstrap_core::apply::{open, ApplyOptions, OpenOptions, SavedPlan};
    /// # async fn run(spec: k8s_bootstrap_core::spec::ClusterSpec) -> Result<(), Box<dyn std::error::Error>> {
    /// let engine = open(&spec, &OpenOptions::beside_spec("cluster.yaml")).await?.engine;
    /// let (report, saved) = engine.plan_saved(&ApplyOptions::default()).await;
    /// std::fs::write("plan.json", serde_json::to_vec(&saved)?)?; // reviewed, then:
    /// let saved: SavedPlan = serde_json::from_slice(&std::fs::read("plan.json")?)?;
    /// let applied = engine.apply_saved(&saved, &ApplyOptions::default()).await;
    /// assert!(applied.ok(), "{:?}", applied.aborted); // or: the host and the fact that changed since
    /// # Ok(()) }
    /// ```
    pub async fn plan_saved(&self, opts: &ApplyOptions) -> (Report, SavedPlan) {
        let (report, saved) = self.run_checked(opts, true, None).await;
        (report, saved.expect("a plan run returns its plan"))
    }

    /// Executes a plan saved by [`Engine::plan_saved`]: takes the lock,
    /// reads the facts again and refuses, changing nothing, when the desired
    /// state (spec, certificates, binaries) or any host's facts differ from
    /// the ones the plan was made from, naming the host and the fact.
    pub async fn apply_saved(&self, saved: &SavedPlan, opts: &ApplyOptions) -> Report {
        let opts = ApplyOptions { only: saved.only.clone(), until: saved.until, ..opts.clone() };
        self.run_checked(&opts, false, Some(saved)).await.0
    }

    /// A run: the lock (an apply), the facts, the plan, then its execution
    /// (an apply) or its report (a plan). With `saved`, the facts and the
    /// desired state must be the saved ones.
    async fn run_checked(&self, opts: &ApplyOptions, dry: bool, saved: Option<&SavedPlan>) -> (Report, Option<SavedPlan>) {
        let start = Instant::now();
        let mut hosts = self.views(opts);
        let ctx = self.ctx(opts);
        // The cluster lock, before any fact is read (an apply only: a plan
        // changes nothing).
        // The lock, then the facts, in one exchange per host (an apply);
        // the facts alone (a plan: it changes nothing, it takes no lock).
        // Every desired file's sha256, once per run: the plan and the
        // fingerprint read them. The binaries' (tens of MB read and
        // hashed) are computed while the lock and the facts are read:
        // the probe compares only the small files' digests (it sends
        // back the text of one that differs), which it gets at once.
        let items: Vec<(String, &[DesiredFile])> = hosts.iter().map(|h| (h.name.clone(), h.items)).collect();
        let mut wants = BTreeMap::new();
        for (name, items) in &items {
            wants.insert(name.clone(), Ctx::small_digests(name, items).await);
        }
        let all_digests = async {
            let mut digests = BTreeMap::new();
            for (name, items) in &items {
                let small = wants.get(name).cloned().expect("every host's small files were hashed");
                digests.insert(name.clone(), match small {
                    Ok(s) => Ctx::with_binaries(name, items, s).await,
                    Err(f) => Err(f),
                });
            }
            digests
        };
        let probes = self.probes(&hosts, &wants);
        let read = async {
            let (locks, mut early) = if dry {
                (None, BTreeMap::new())
            } else {
                let then = probes.iter().filter_map(|(h, p)| p.as_ref().ok().map(|(p, _)| (h.clone(), p.command()))).collect();
                match self.lock_hosts_then(&mut hosts, opts, &then).await {
                    Ok((l, outs)) => (Some(l), outs),
                    Err(why) => return Err(why),
                }
            };
            let facts = self.facts(&hosts, probes, &mut early).await;
            Ok((locks, facts))
        };
        let (read, digests) = tokio::join!(read, all_digests);
        let (locks, mut facts) = match read {
            Ok(r) => r,
            Err(why) => return (self.report(hosts, false, Some(why), start), None),
        };
        // A host whose binary could not be read on this machine fails, as
        // when its digests were taken before its facts.
        for (name, d) in &digests {
            if let (Err(f), Some(fact)) = (d, facts.get_mut(name)) {
                *fact = Err(f.clone());
            }
        }
        let plan = self.make_plan(&ctx, &hosts, &digests, &facts, opts).await;
        let desired = self.fingerprint(&hosts, &digests);
        let stale = saved.and_then(|s| s.stale(&desired, &facts, &plan));
        if stale.is_none() {
            self.record_plan(&mut hosts, &plan);
        }
        let aborted = if let Some(why) = stale {
            Some(why)
        } else if let Some(refused) = &plan.refused {
            Some(refused.clone())
        } else if dry {
            self.show(&mut hosts, &plan, opts);
            None
        } else {
            let lost = || locks.as_ref().and_then(lock::HostLocks::lost);
            ctx.execute(&plan, &mut hosts, opts, &lost).await.err()
        };
        if let Some(why) = &aborted
            && plan.refused.is_none()
        {
            self.progress.event(&Event::Note { host: None, message: why.clone() });
        }
        if let Some(l) = locks {
            l.release().await;
        }
        let findings = plan.preflight.clone();
        let saved = dry.then(|| SavedPlan {
            format: SavedPlan::FORMAT,
            desired,
            facts: facts.into_iter().filter_map(|(h, f)| f.ok().map(|f| (h, f))).collect(),
            only: opts.only.clone(),
            until: opts.until,
            plan,
        });
        let mut report = self.report(hosts, dry, aborted, start);
        report.preflight = findings;
        (report, saved)
    }

    /// A fingerprint of the desired state: the spec, and every file each
    /// host gets (path, sha256, mode, owner).
    fn fingerprint(&self, hosts: &[HostView<'_>], digests: &BTreeMap<String, Result<Sums, Failure>>) -> String {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(serde_json::to_vec(&self.spec).unwrap_or_default());
        for v in hosts {
            h.update(v.name.as_bytes());
            let digests = digests.get(&v.name).and_then(|d| d.as_ref().ok()).map(|d| d.sha.as_slice()).unwrap_or_default();
            for (f, d) in v.items.iter().zip(digests) {
                h.update(format!("\n{} {d} {:o} {}", f.path, f.mode, f.owner).as_bytes());
            }
        }
        hex::encode(h.finalize())
    }

    /// The probe of every host of the run and of every etcd member (their
    /// cluster's membership and versions), with the digests it compares.
    fn probes<'a>(&self, hosts: &[HostView<'a>], digests: &BTreeMap<String, Result<Sums, Failure>>) -> BTreeMap<String, Result<(facts::Probe<'a>, usize), Failure>> {
        let mut out = BTreeMap::new();
        for (i, h) in hosts.iter().enumerate().filter(|(_, h)| h.selected || h.roles.contains(&Role::Etcd)) {
            let probe = match &digests[&h.name] {
                Ok(d) => Ok((self.probe(h, d.sha.clone()), i)),
                Err(e) => Err(e.clone()),
            };
            out.insert(h.name.clone(), probe);
        }
        out
    }

    /// The facts of each probed host: from the output its lock's exchange
    /// brought (`early`), else read now, all hosts at once.
    async fn facts(&self, hosts: &[HostView<'_>], probes: BTreeMap<String, Result<(facts::Probe<'_>, usize), Failure>>, early: &mut BTreeMap<String, crate::transport::Output>) -> BTreeMap<String, Result<facts::HostFacts, Failure>> {
        let fail = |e: TransportError| Failure { stage: Stage::HostPrep, step: "read the host's facts".into(), kind: FailureKind::of(&e), error: e.to_string(), log: None };
        let reads = probes.into_iter().map(|(name, probe)| {
            let out = early.remove(&name);
            async move {
                let (probe, i) = match probe {
                    Ok(p) => p,
                    Err(f) => return (name, Err(f)),
                };
                let h = &hosts[i];
                let r = match out {
                    Some(out) if out.success() => probe.parse(&h.name, &out),
                    Some(out) => Err(TransportError::command_failed(&h.name, &probe.command(), &out)),
                    None => probe.gather(&h.name, &*h.transport).await,
                };
                (name, r.map_err(fail))
            }
        });
        futures::future::join_all(reads).await.into_iter().collect()
    }

    /// What the probe of `h` asks.
    fn probe<'p>(&self, h: &HostView<'p>, digests: Vec<String>) -> facts::Probe<'p> {
        let spec = &self.spec;
        let units: Vec<String> = UNITS.iter().filter(|u| h.render.file(&plan::unit_path(spec, u)).is_some()).map(|u| u.to_string()).collect();
        let checks = h
            .render
            .commands
            .iter()
            .filter(|c| matches!(c.phase, Phase::HostPrep | Phase::Install | Phase::FlannelConfig))
            .filter_map(|c| c.check.clone().map(|k| (facts::check_key(c), c.phase, c.os, k)))
            .collect();
        let install = crate::docker::EngineInstall::from_spec(spec);
        let dockerd_check = (units.iter().any(|u| u == "docker") && install.source != crate::docker::DockerInstall::None).then(|| install.check());
        let etcdctl = (h.roles.contains(&Role::Etcd) && units.iter().any(|u| u == "etcd")).then(|| plan::etcdctl_admin(spec));
        let bin = plan::flanneld_bin(spec);
        let extra = if units.iter().any(|u| u == "flanneld") && !h.items.iter().any(|f| f.path == bin) { vec![bin] } else { Vec::new() };
        let preflight = match spec.hosts.iter().find(|s| s.name == h.name) {
            Some(host) => {
                let prep = crate::hostprep::HostPrep::from_spec(spec, host);
                let ports = prep.tcp_ports.iter().map(|p| ("tcp", *p)).chain(prep.udp_ports.iter().map(|p| ("udp", *p))).collect();
                let etcd = h.roles.contains(&Role::Etcd).then(|| (crate::etcd::EtcdCluster::from_spec(spec).env_file(), spec.etcd.data_dir.clone()));
                let dirs: BTreeSet<String> = h.items.iter().filter_map(|f| f.path.rsplit_once('/').map(|(d, _)| d.to_string())).filter(|d| !d.is_empty()).collect();
                facts::PreflightProbe { etcd, ports, modules: prep.modules.clone(), dirs: dirs.into_iter().collect() }
            }
            None => facts::PreflightProbe::default(),
        };
        facts::Probe { files: h.items, extra, units, checks, os: h.os, dockerd_check, etcdctl, digests, preflight }
    }

    /// The plan from the facts: a pure function of them and the desired state.
    async fn make_plan(&self, ctx: &Ctx<'_>, hosts: &[HostView<'_>], digests: &BTreeMap<String, Result<Sums, Failure>>, facts: &BTreeMap<String, Result<facts::HostFacts, Failure>>, opts: &ApplyOptions) -> plan::Plan {
        let packages = ctx.packages().await;
        let desired = plan::Desired {
            spec: &self.spec,
            hosts: hosts
                .iter()
                .map(|h| plan::DesiredHost {
                    name: &h.name,
                    roles: &h.roles,
                    os: h.os,
                    render: h.render,
                    files: h.items,
                    digests: digests.get(&h.name).and_then(|d| d.as_ref().ok()).map(|d| d.sha.as_slice()).unwrap_or_default(),
                    sizes: digests.get(&h.name).and_then(|d| d.as_ref().ok()).map(|d| d.size.clone()).unwrap_or_default(),
                    selected: h.selected,
                })
                .collect(),
            packages: packages.clone().unwrap_or_default(),
            until: opts.until,
            bare: false,
            waive: opts.waive.clone(),
        };
        let mut plan = plan::make(&desired, facts);
        if let Err(e) = packages {
            plan.notes.push(plan::Note { host: None, message: e });
        }
        plan
    }

    /// The plan's failed hosts fail, its notes and unchanged counts go to
    /// the hosts' reports.
    fn record_plan(&self, hosts: &mut [HostView<'_>], plan: &plan::Plan) {
        // A waived finding goes on (the report's `preflight` has it) and is
        // said where the run's notes are.
        let waived = plan.preflight.iter().filter(|f| f.waived).map(|f| plan::Note { host: Some(f.host.clone()), message: format!("{}{} ({}); fix: {}", plan::WAIVED, f.found, f.check, f.fix) });
        for note in plan.notes.iter().cloned().chain(waived).collect::<Vec<_>>().iter() {
            self.progress.event(&Event::Note { host: note.host.clone(), message: note.message.clone() });
            if let Some(h) = note.host.as_ref().and_then(|n| hosts.iter_mut().find(|h| h.name == *n)) {
                h.report.notes.push(note.message.clone());
            }
        }
        for h in hosts.iter_mut() {
            h.report.unchanged += plan.unchanged.get(&h.name).copied().unwrap_or(0);
            if let Some(f) = plan.failed.get(&h.name)
                && h.selected
            {
                self.progress.event(&Event::Failed { host: h.name.clone(), failure: f.clone() });
                h.report.failed = Some(f.clone());
            }
        }
    }

    /// A plan's report: every step as a change, changing nothing.
    fn show(&self, hosts: &mut [HostView<'_>], plan: &plan::Plan, opts: &ApplyOptions) {
        let last = opts.until.unwrap_or(Stage::Docker);
        for stage in Stage::ALL.into_iter().take_while(|s| *s <= last) {
            self.progress.event(&Event::StageStarted(stage));
            for sp in plan.stages.iter().filter(|s| s.stage == stage) {
                for wave in &sp.waves {
                    for (name, steps) in &wave.hosts {
                        let Some(h) = hosts.iter_mut().find(|h| h.name == *name) else { continue };
                        for st in steps {
                            let change = ChangeRecord { stage, what: st.what.clone(), diff: st.diff.clone() };
                            self.progress.event(&Event::Changed { host: h.name.clone(), change: change.clone() });
                            h.report.changes.push(change);
                        }
                    }
                }
            }
            self.progress.event(&Event::StageDone(stage));
        }
    }

    fn report(&self, hosts: Vec<HostView<'_>>, dry_run: bool, aborted: Option<String>, start: Instant) -> Report {
        Report {
            dry_run,
            hosts: hosts.into_iter().filter(|h| h.selected).map(|h| (h.name, h.report)).collect(),
            aborted,
            elapsed_ms: start.elapsed().as_millis() as u64,
            preflight: Vec::new(),
        }
    }

    /// Takes the cluster lock on every host (see [`LockError`]) before a
    /// run changes anything. A host that cannot be reached is not locked:
    /// it fails its first step with that error, as without a lock. When any
    /// host is held by another run, the locks taken are given back, each
    /// such host fails with [`FailureKind::Locked`] and the run stops with
    /// nothing changed.
    async fn lock_hosts(&self, hosts: &mut [HostView<'_>], opts: &ApplyOptions) -> Result<lock::HostLocks, String> {
        self.lock_hosts_then(hosts, opts, &BTreeMap::new()).await.map(|(l, _)| l)
    }

    /// [`Self::lock_hosts`], running on each host of `then` its command in
    /// the same exchange once its lock is taken (the facts probe): their
    /// outputs, by host.
    async fn lock_hosts_then(&self, hosts: &mut [HostView<'_>], opts: &ApplyOptions, then: &BTreeMap<String, Command>) -> Result<(lock::HostLocks, BTreeMap<String, crate::transport::Output>), String> {
        use lock::HostLockOutcome as O;
        let holder = LockHolder::me();
        let active = lock::ActiveRun::new(&holder);
        let answers = futures::future::join_all(hosts.iter().map(|h| lock::acquire_one(&h.name, &*h.transport, &holder, opts.break_lock, then.get(&h.name)))).await;
        let mut outputs = BTreeMap::new();
        let mut outcomes = Vec::new();
        for (h, (outcome, out)) in hosts.iter().zip(answers) {
            if let Some(out) = out {
                outputs.insert(h.name.clone(), out);
            }
            outcomes.push(outcome);
        }
        let fail = |h: &mut HostView<'_>, kind: FailureKind, error: String| {
            let failure = Failure { stage: Stage::HostPrep, step: "take the cluster lock".into(), kind, error, log: None };
            self.progress.event(&Event::Failed { host: h.name.clone(), failure: failure.clone() });
            h.report.failed = Some(failure);
        };
        let mut held = Vec::new();
        let mut refused = Vec::new();
        for (h, outcome) in hosts.iter_mut().zip(outcomes) {
            match outcome {
                O::Acquired => held.push((h.name.clone(), h.transport.clone())),
                O::Broken { previous, why, asked } => {
                    let who = previous.map_or_else(|| "a run that left no details".to_string(), |p| p.to_string());
                    let message = format!("broke a stale cluster lock (held by {who}, {why}){}", if asked { ", as asked" } else { "" });
                    self.progress.event(&Event::Note { host: Some(h.name.clone()), message: message.clone() });
                    h.report.notes.push(message);
                    held.push((h.name.clone(), h.transport.clone()));
                }
                O::Held(e) => refused.push((h, e)),
                O::Failed(e) => match FailureKind::of(&e) {
                    kind if kind.unreached() => {}
                    kind => fail(h, kind, e.to_string()),
                },
            }
        }
        let locks = lock::HostLocks::hold(holder, held, active);
        if refused.is_empty() {
            return Ok((locks, outputs));
        }
        locks.release().await;
        let names: Vec<String> = refused.iter().map(|(h, _)| h.name.clone()).collect();
        for (h, e) in refused {
            fail(h, FailureKind::Locked, e.to_string());
        }
        Err(format!("the cluster is locked by another run (on {}): nothing was changed", names.join(", ")))
    }

    /// Undoes an apply on every host (or `opts.only`): stops and disables
    /// docker, flanneld and etcd, removes every file apply installs
    /// (certificates, binaries, configs, units, wrappers) and the
    /// directories left empty, and reloads systemd. etcd's data directory
    /// and flannel's runtime files are removed only with `purge` (which also
    /// releases each reset node's flannel lease in etcd first): without it,
    /// applying again brings the same cluster back with its data.
    /// Host preparation (hostname, sysctls in effect, SELinux, firewall) is
    /// not reverted. A second reset changes nothing.
    ///
    /// ```no_run
    /// use std::collections::BTreeSet;
    /// use k8s_bootstrap_core::apply::{open, ApplyOptions, OpenOptions};
    /// # async fn run(spec: k8s_bootstrap_core::spec::ClusterSpec) -> Result<(), Box<dyn std::error::Error>> {
    /// let engine = open(&spec, &OpenOptions::beside_spec("cluster.yaml")).await?.engine;
    /// // Take node01 back to a bare host, its flannel state included.
    /// let opts = ApplyOptions { only: Some(BTreeSet::from(["node01".to_string()])), ..Default::default() };
    /// let report = engine.reset(&opts, true).await;
    /// assert!(report.ok());
    /// assert_eq!(engine.reset(&opts, true).await.change_count(), 0); // a second reset changes nothing
    /// # Ok(()) }
    /// ```
    pub async fn reset(&self, opts: &ApplyOptions, purge: bool) -> Report {
        let start = Instant::now();
        let mut hosts = self.views(opts);
        let ctx = self.ctx(opts);
        let locks = match self.lock_hosts(&mut hosts, opts).await {
            Ok(l) => l,
            Err(why) => return self.report(hosts, false, Some(why), start),
        };
        self.progress.event(&Event::StageStarted(Stage::Files));
        if purge {
            ctx.release_leases(&mut hosts).await;
        }
        ctx.per_host(&mut hosts, Stage::Files, |c, h| {
            Box::pin(async move {
                if let Err(e) = c.reset_host(h, purge).await {
                    c.fail_with_log(h, Stage::Files, e);
                }
            })
        })
        .await;
        self.progress.event(&Event::StageDone(Stage::Files));
        locks.release().await;
        self.report(hosts, false, None, start)
    }

    /// Reads the cluster's state: units per host, etcd health and members
    /// over TLS (with the admin certificate, through etcdctl on a member),
    /// and flannel's network config read back through the API its version uses.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use k8s_bootstrap_core::apply::{Engine, Unreachable};
    /// use k8s_bootstrap_core::transport::TransportError;
    /// # use k8s_bootstrap_core::spec::{ClusterSpec, HostSpec, Role, Version};
    /// # let mut spec = ClusterSpec::new(vec![HostSpec::new("etcd01", [192, 168, 1, 30].into(), &[Role::Etcd, Role::Node])], Version::new(3, 5, 17), Version::new(0, 26, 1));
    /// # spec.pki.key_algorithm = k8s_bootstrap_core::pki::KeyAlgorithm::EcdsaP256;
    /// # let pki = k8s_bootstrap_core::pki::CertBundle::for_cluster(&spec).unwrap().generate().unwrap();
    /// let down = TransportError::Connect { host: "etcd01".into(), reason: "connection refused".into() };
    /// let engine = Engine::new(&spec, &pki, [("etcd01".to_string(), Arc::new(Unreachable::new("etcd01", &down)) as _)].into()).unwrap();
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let status = engine.status().await;
    /// assert!(!status.hosts["etcd01"].reachable && !status.etcd_healthy);
    /// assert_eq!(status.flannel_api, "v3"); // flannel 0.26 reads its config through etcd's v3 API
    /// assert_eq!(status.problems, ["no etcd member is running: etcd health and flannel config not read"]);
    /// # });
    /// ```
    pub async fn status(&self) -> ClusterStatus {
        status::collect(&self.spec, self.hosts.iter().map(|h| (h.name.as_str(), &h.transport, &h.roles))).await
    }
}

/// Per-run view of a host (the engine itself stays immutable, so that plan
/// and apply can run from `&self`).
struct HostView<'a> {
    name: String,
    transport: Arc<dyn Transport>,
    render: &'a HostRender,
    items: &'a [DesiredFile],
    roles: BTreeSet<Role>,
    os: Option<OsFamily>,
    report: HostReport,
    selected: bool,
}

impl HostView<'_> {
    fn active(&self) -> bool {
        self.selected && self.report.failed.is_none()
    }
}

type StageFuture<'f> = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'f>>;

/// The sha256 and the size of each of a host's desired files, in order.
#[derive(Clone)]
struct Sums {
    sha: Vec<String>,
    size: Vec<u64>,
}

struct Ctx<'s> {
    spec: &'s ClusterSpec,
    progress: Arc<dyn Progress>,
    sem: Arc<Semaphore>,
    /// Checked before each host's step of a stage starts.
    cancel: Cancel,
}

impl Ctx<'_> {
    /// The sha256 and size of each of a host's desired files but the
    /// binaries, whose are left empty: what the facts probe needs (it
    /// compares only the small files; [`Self::with_binaries`] adds the rest).
    async fn small_digests(name: &str, items: &[DesiredFile]) -> Result<Sums, Failure> {
        let mut out = Sums { sha: Vec::with_capacity(items.len()), size: Vec::with_capacity(items.len()) };
        for f in items {
            let (sha, size) = if f.binary { (String::new(), 0) } else { Self::digest(name, f).await? };
            out.sha.push(sha);
            out.size.push(size);
        }
        Ok(out)
    }

    /// `small` ([`Self::small_digests`]) with the binaries' digests filled
    /// in (a local binary is read once: [`FileSource::sha256`] keeps its
    /// digest).
    async fn with_binaries(name: &str, items: &[DesiredFile], mut small: Sums) -> Result<Sums, Failure> {
        for (i, f) in items.iter().enumerate().filter(|(_, f)| f.binary) {
            (small.sha[i], small.size[i]) = Self::digest(name, f).await?;
        }
        Ok(small)
    }

    async fn digest(name: &str, f: &DesiredFile) -> Result<(String, u64), Failure> {
        f.source.sha256().await.map_err(|e| Failure {
            stage: Stage::Files,
            step: format!("write {}", f.path),
            kind: FailureKind::Other,
            // only a local file can fail to be read
            error: match &f.source {
                FileSource::Path(p) => format!("{name}: reading {} on the control machine: {e}", p.display()),
                FileSource::Bytes(_) => format!("{name}: {e}"),
            },
            log: None,
        })
    }

    fn unit_path(&self, unit: &str) -> String {
        plan::unit_path(self.spec, unit)
    }

    fn changed(&self, h: &mut HostView<'_>, stage: Stage, what: String, diff: Option<String>) {
        let change = ChangeRecord { stage, what, diff };
        self.progress.event(&Event::Changed { host: h.name.clone(), change: change.clone() });
        h.report.changes.push(change);
    }

    fn note(&self, h: &mut HostView<'_>, message: String) {
        self.progress.event(&Event::Note { host: Some(h.name.clone()), message: message.clone() });
        h.report.notes.push(message);
    }

    fn fail_with_log(&self, h: &mut HostView<'_>, stage: Stage, e: StepError) {
        let failure = Failure { stage, step: e.step, kind: e.kind, error: e.error, log: e.log };
        self.progress.event(&Event::Failed { host: h.name.clone(), failure: failure.clone() });
        h.report.failed = Some(failure);
    }

    /// Runs `f` on every active host, at most `concurrency` at once.
    async fn per_host<'h, 'a, F>(&'h self, hosts: &'h mut [HostView<'a>], stage: Stage, f: F)
    where
        F: for<'x> Fn(&'x Self, &'x mut HostView<'a>) -> StageFuture<'x>,
    {
        let futs = hosts.iter_mut().filter(|h| h.active()).map(|h| {
            let sem = self.sem.clone();
            let f = &f;
            async move {
                let _permit = sem.acquire_owned().await.expect("semaphore never closed");
                if self.cancel.is_cancelled() {
                    return;
                }
                let t = Instant::now();
                f(self, h).await;
                *h.report.stage_ms.entry(stage).or_default() += t.elapsed().as_millis() as u64;
            }
        });
        futures::future::join_all(futs).await;
    }

    /// Which of `paths` exist on `h` (a file, or a link in its place), in
    /// one exchange: reset removes what is there, and needs no digest
    /// (hashing the binaries again only to learn they exist).
    async fn remote_present(&self, h: &HostView<'_>, paths: &[String]) -> Result<Vec<bool>, (String, TransportError)> {
        let mut argv = vec!["sh".to_string(), "-c".into(), PRESENT.into(), "sh".into()];
        argv.extend(paths.iter().cloned());
        let step = "read which files are there".to_string();
        let out = h.transport.run_ok(&Command::new(argv)).await.map_err(|e| (step.clone(), e))?;
        let text = out.stdout_str();
        let present: Vec<bool> = text.lines().map(|l| l == "1").collect();
        if present.len() != paths.len() {
            let e = TransportError::CommandFailed { host: h.name.clone(), command: step.clone(), code: out.exit_code, stderr_tail: format!("{} lines for {} paths", present.len(), paths.len()) };
            return Err((step, e));
        }
        Ok(present)
    }

    async fn reset_host(&self, h: &mut HostView<'_>, purge: bool) -> StepResult {
        for unit in UNITS.iter().rev() {
            if h.render.file(&self.unit_path(unit)).is_none() {
                continue;
            }
            let active = h.transport.is_active(unit).await.map_err(|e| (format!("systemctl is-active {unit}"), e))?;
            let enabled = h
                .transport
                .run(&Command::new(["systemctl", "is-enabled", "--quiet", unit]))
                .await
                .map_err(|e| (format!("systemctl is-enabled {unit}"), e))?
                .success();
            if active || enabled {
                h.transport
                    .run_ok(&Command::new(["systemctl", "disable", "--now", unit]).timeout(Duration::from_secs(120)))
                    .await
                    .map_err(|e| (format!("stop {unit}"), e))?;
                self.changed(h, Stage::Files, format!("stop and disable {unit}"), None);
            } else {
                h.report.unchanged += 1;
            }
        }
        let paths: Vec<String> = h.items.iter().map(|i| i.path.clone()).collect();
        let present: Vec<String> = self.remote_present(h, &paths).await?.into_iter().zip(paths).filter_map(|(there, p)| there.then_some(p)).collect();
        let mut gone: Vec<String> = present.clone();
        if purge {
            for dir in [self.spec.etcd.data_dir.clone(), "/run/flannel".to_string()] {
                if h.transport.stat(&dir).await.map_err(|e| (format!("stat {dir}"), e))?.is_some() {
                    gone.push(dir);
                }
            }
        }
        if !gone.is_empty() {
            let mut argv = vec!["rm".to_string(), "-rf".into(), "--".into()];
            argv.extend(gone.iter().cloned());
            h.transport.run_ok(&Command::new(argv)).await.map_err(|e| ("remove installed files".to_string(), e))?;
            for p in &gone {
                self.changed(h, Stage::Files, format!("remove {p}"), None);
            }
            // Directories apply created, when nothing else is in them.
            let mut dirs: BTreeSet<String> = BTreeSet::new();
            for p in &present {
                let mut d = std::path::Path::new(p).parent();
                while let Some(x) = d.filter(|x| x.components().count() > 2) {
                    dirs.insert(x.to_string_lossy().into_owned());
                    d = x.parent();
                }
            }
            let mut dirs: Vec<String> = dirs.into_iter().filter(|d| d.starts_with(&self.spec.layout.etcd_dir) || d.starts_with(&self.spec.layout.kubernetes_dir)).collect();
            dirs.sort_by_key(|d| std::cmp::Reverse(d.len()));
            if !dirs.is_empty() {
                let mut argv = vec!["rmdir".to_string(), "--ignore-fail-on-non-empty".into(), "--".into()];
                argv.extend(dirs);
                h.transport.run(&Command::new(argv)).await.map_err(|e| ("remove empty directories".to_string(), e))?;
            }
            h.transport.daemon_reload().await.map_err(|e| ("systemctl daemon-reload".to_string(), e))?;
        }
        Ok(())
    }

    /// Polls the rendered health command on a member until the cluster can
    /// go on: every member whose host is still in the run is healthy and
    /// the healthy ones are a quorum of all members (a member whose host
    /// failed earlier is reported, not waited for). Gives up after
    /// `timeout`; later stages then do not start.
    async fn wait_healthy(&self, hosts: &mut [HostView<'_>], timeout: Duration, pending: &BTreeSet<String>) -> Result<(), String> {
        let etcd_unit = self.unit_path("etcd");
        let members: Vec<(String, String, bool)> = self
            .spec
            .hosts_with(Role::Etcd)
            .filter(|m| !pending.contains(&m.name))
            .map(|m| {
                let up = hosts.iter().any(|h| h.name == m.name && h.report.failed.is_none());
                (m.name.clone(), format!("://{}:{}", m.address, self.spec.etcd.client_port), up)
            })
            .collect();
        let probe = hosts
            .iter()
            .filter(|h| h.report.failed.is_none() && h.render.file(&etcd_unit).is_some() && !pending.contains(&h.name))
            .find_map(|h| h.render.commands.iter().find(|c| c.phase == Phase::EtcdHealthy).map(|c| (h.name.clone(), h.transport.clone(), c.argv.clone())));
        let Some((probe_host, transport, argv)) = probe else {
            return Err("no reachable etcd member to check the cluster's health on; later stages not started".into());
        };
        let deadline = Instant::now() + timeout;
        let mut last = String::new();
        while Instant::now() < deadline {
            match transport.run(&Command::new(argv.clone()).timeout(Duration::from_secs(15))).await {
                Ok(out) => {
                    last = format!("{}{}", out.stdout_str(), out.stderr_str());
                    let healthy = |ep: &str| last.lines().any(|l| l.contains(ep) && l.contains(" is healthy"));
                    let n_healthy = members.iter().filter(|(_, ep, _)| healthy(ep)).count();
                    let expected_up = members.iter().filter(|(_, _, up)| *up).all(|(_, ep, _)| healthy(ep));
                    // Counted from the endpoints, not from the exit code: with
                    // --cluster etcdctl only checks the members that have
                    // published their client URLs, and a member that just
                    // started may not have yet.
                    if expected_up && n_healthy * 2 > members.len() {
                        for (name, _, _) in members.iter().filter(|(_, ep, _)| !healthy(ep)) {
                            let note = format!("etcd member {name} is not healthy (its host failed); the cluster goes on with a quorum of {n_healthy}/{}", members.len());
                            self.progress.event(&Event::Note { host: None, message: note.clone() });
                            if let Some(h) = hosts.iter_mut().find(|h| h.name == *probe_host) {
                                h.report.notes.push(note);
                            }
                        }
                        return Ok(());
                    }
                }
                Err(e) => last = e.to_string(),
            }
            // A poll is one exchange on the open session (tens of ms, most
            // of it etcdctl); members that start together are healthy
            // within a second or so, and every tick waited past that is
            // the apply's time.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let tail: String = last.lines().rev().take(6).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
        Err(format!("etcd cluster not healthy after {timeout:?} (checked on {probe_host}): {tail}; later stages not started"))
    }
}

/// `systemctl VERB UNIT` (`start`, `restart`), after `reset-failed`: units
/// restarted with a dependency (docker with flanneld) count towards
/// systemd's StartLimitBurst, and a run right after another one must not be
/// refused with "start of the service was attempted too often".
/// Restart=on-failure loops stay limited between runs. Without `block`,
/// `--no-block`.
fn unit_command(unit: &str, verb: &str, block: bool) -> Command {
    Command::new(plan::unit_command(unit, verb, block))
}

/// The script of `remote_present`: one line per path, `1` when it is there.
const PRESENT: &str = r#"for f; do if [ -e "$f" ] || [ -L "$f" ]; then echo 1; else echo 0; fi; done"#;

/// The package files (`.deb`, `.rpm`) of `docker.install: { offline: DIR }`
/// on the control machine, sorted (empty for other sources). A small
/// folder, read once per run.
fn offline_packages(spec: &ClusterSpec) -> Result<Vec<String>, String> {
    let install = crate::docker::EngineInstall::from_spec(spec);
    let crate::docker::DockerInstall::Offline(dir) = &install.source else { return Ok(Vec::new()) };
    let exts: Vec<String> = [OsFamily::Debian, OsFamily::Rhel].iter().map(|os| format!(".{}", crate::docker::EngineInstall::package_ext(*os))).collect();
    let read = || -> std::io::Result<Vec<String>> {
        let mut names = Vec::new();
        for e in std::fs::read_dir(dir)? {
            let e = e?;
            let name = e.file_name().to_string_lossy().into_owned();
            if exts.iter().any(|x| name.ends_with(x.as_str())) && !name.contains('\n') && e.file_type()?.is_file() {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    };
    read().map_err(|e| format!("reading the folder {dir} (docker.install.offline) on the control machine: {e}"))
}

/// A failed step: what was being done, the error, and the unit's journal
/// when a unit failed to start.
struct StepError {
    step: String,
    kind: FailureKind,
    error: String,
    log: Option<String>,
}

impl From<(String, TransportError)> for StepError {
    fn from((step, e): (String, TransportError)) -> Self {
        StepError { step, kind: FailureKind::of(&e), error: e.to_string(), log: None }
    }
}

type StepResult = Result<(), StepError>;

/// The units the engine manages (`etcd`, `flanneld`, `docker`).
///
/// ```
/// use k8s_bootstrap_core::apply::managed_units;
/// assert_eq!(managed_units(), ["etcd", "flanneld", "docker"]); // start order
/// ```
pub fn managed_units() -> &'static [&'static str] {
    &UNITS
}

#[cfg(test)]
mod tests;
