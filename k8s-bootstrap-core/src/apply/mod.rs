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
//! [`Engine::plan`] runs the same stages reading only (checks, file reads)
//! and reports what would change with unified diffs (private keys
//! redacted); [`Engine::apply`] changes things and reports what changed. A
//! second apply of the same spec changes nothing and restarts nothing.
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

mod desired;
mod diff;
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

use serde::Serialize;
use tokio::sync::Semaphore;

use crate::hostprep::OsFamily;
use crate::pki::Issued;
use crate::render::{HostRender, Phase, RenderedCluster};
use crate::shell::join_argv;
use crate::docker::DockerMode;
use crate::spec::{ClusterSpec, Role};
use desired::DesiredFile;
use crate::transport::{Command, FileSource, PutOptions, Transport, TransportError};

#[cfg(feature = "ssh")]
pub use hosts::{connect, ssh_configs};
pub use hosts::{ConnectOptions, PkiDirError, Unreachable, sync_pki_dir};
#[cfg(feature = "ssh")]
pub use open::open;
#[cfg(feature = "ssh")]
pub use membership::change_member;
pub use membership::MemberReports;
pub use snapshot::{SnapshotError, SnapshotInfo};
pub use restore::{RestoreError, RestoreReport};
pub use pki_dir::{CertExpiry, CertState, Renew, check_expiration, renew_certs};
pub use open::{OpenError, OpenOptions, Opened};
pub use releases::{ReleaseBinaries, ReleaseError, fetch_releases};
pub use lock::{HOST_LOCK_PATH, LockError, LockHolder, PKI_LOCK_FILE, PkiLock, REFRESH_EVERY, STALE_AFTER};
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

/// A stage of an apply; every host finishes a stage before the next starts.
///
/// ```
/// use k8s_bootstrap_core::apply::Stage;
/// let s: Stage = "flannel-config".parse().unwrap(); // as `apply --phase flannel-config`
/// assert_eq!(s, Stage::FlannelConfig);
/// assert!(Stage::Etcd < s && s < Stage::Flanneld);
/// assert_eq!("etcd-start".parse::<Stage>().unwrap_err(),
///     "unknown stage \"etcd-start\" (one of host-prep, files, install, etcd, flannel-config, flanneld, docker)");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    /// Hostname, SELinux, firewall, time sync, swap, modules, sysctls; and
    /// on a node without dockerd, the engine's package (`docker.install`).
    HostPrep,
    /// Certificates, binaries, rendered files.
    Files,
    /// Data dirs, daemon-reload, enabling units.
    Install,
    /// Starting/restarting etcd members and waiting for a healthy cluster.
    Etcd,
    /// flannel's network config in etcd.
    FlannelConfig,
    /// flanneld.
    Flanneld,
    /// docker.
    Docker,
}

impl Stage {
    /// Every stage, in order.
    ///
    /// ```
    /// use k8s_bootstrap_core::apply::Stage;
    /// assert_eq!((Stage::ALL[0], Stage::ALL[6]), (Stage::HostPrep, Stage::Docker));
    /// assert!(Stage::ALL.windows(2).all(|w| w[0] < w[1])); // in run order
    /// ```
    pub const ALL: [Stage; 7] =
        [Stage::HostPrep, Stage::Files, Stage::Install, Stage::Etcd, Stage::FlannelConfig, Stage::Flanneld, Stage::Docker];

    /// The stage's name (`host-prep`, `files`, ...).
    ///
    /// ```
    /// use k8s_bootstrap_core::apply::Stage;
    /// assert_eq!(Stage::HostPrep.as_str(), "host-prep");
    /// assert_eq!(serde_json::to_string(&Stage::HostPrep).unwrap(), r#""host-prep""#); // JSON reports agree
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::HostPrep => "host-prep",
            Stage::Files => "files",
            Stage::Install => "install",
            Stage::Etcd => "etcd",
            Stage::FlannelConfig => "flannel-config",
            Stage::Flanneld => "flanneld",
            Stage::Docker => "docker",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Stage {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Stage::ALL.into_iter().find(|st| st.as_str() == s).ok_or_else(|| {
            format!("unknown stage {s:?} (one of {})", Stage::ALL.map(Stage::as_str).join(", "))
        })
    }
}

/// Options of [`Engine::apply`].
///
/// ```
/// use std::collections::BTreeSet;
/// use std::time::Duration;
/// use k8s_bootstrap_core::apply::{ApplyOptions, Stage};
/// let d = ApplyOptions::default();
/// assert_eq!((d.concurrency, d.etcd_timeout, d.only, d.until), (ApplyOptions::DEFAULT_CONCURRENCY, Duration::from_secs(90), None, None));
/// // `apply --only etcd03 --phase files`: a new member's files, nothing started yet.
/// let opts = ApplyOptions {
///     only: Some(BTreeSet::from(["etcd03".to_string()])),
///     until: Some(Stage::Files),
///     ..ApplyOptions::default()
/// };
/// assert!(!opts.cancel.is_cancelled());
/// ```
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Hosts acted on at once within a stage (default [`ApplyOptions::DEFAULT_CONCURRENCY`], 16).
    pub concurrency: usize,
    /// How long to wait for a healthy etcd cluster (default 90 s).
    pub etcd_timeout: Duration,
    /// Only these hosts (default: all). etcd's health gate still checks the whole cluster.
    pub only: Option<BTreeSet<String>>,
    /// Stop after this stage (default: run every stage).
    pub until: Option<Stage>,
    /// Set from outside (a Ctrl-C handler) to stop early: steps already
    /// running finish, no new stage or host step starts, and the report says
    /// where it stopped (`aborted`). A rerun converges.
    pub cancel: Cancel,
    /// Break a stale cluster lock on the hosts: one not refreshed for
    /// [`STALE_AFTER`], left by a run that is gone (killed, its machine
    /// lost). A lock that is being refreshed is never broken (see
    /// [`LockError`]). Default `false`: a stale lock is refused, named.
    pub break_lock: bool,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            concurrency: Self::DEFAULT_CONCURRENCY,
            etcd_timeout: Duration::from_secs(90),
            only: None,
            until: None,
            cancel: Cancel::default(),
            break_lock: false,
        }
    }
}

impl ApplyOptions {
    /// Hosts acted on at once within a stage unless said otherwise: the
    /// default of [`ApplyOptions::concurrency`], of the CLI's `--concurrency`
    /// and of Python's `concurrency=`.
    ///
    /// ```
    /// use k8s_bootstrap_core::apply::ApplyOptions;
    /// assert_eq!(ApplyOptions::default().concurrency, ApplyOptions::DEFAULT_CONCURRENCY);
    /// ```
    pub const DEFAULT_CONCURRENCY: usize = 16;

    /// These options acting on at most `n` hosts at once within a stage;
    /// `n` must be at least 1.
    ///
    /// ```
    /// use k8s_bootstrap_core::apply::ApplyOptions;
    /// assert_eq!(ApplyOptions::default().with_concurrency(4).unwrap().concurrency, 4);
    /// let p = ApplyOptions::default().with_concurrency(0).unwrap_err();
    /// assert_eq!((p.path.as_str(), p.value.as_str()), ("concurrency", "0"));
    /// ```
    ///
    /// # Errors
    /// A [`crate::spec::Problem`] with path `concurrency` when `n` is 0.
    pub fn with_concurrency(mut self, n: usize) -> Result<Self, crate::spec::Problem> {
        if n == 0 {
            return Err(crate::spec::Problem::new("concurrency", n, "at least one host must be acted on at once").fix("use 1 or more"));
        }
        self.concurrency = n;
        Ok(self)
    }

    /// These options limited to the hosts `only` (names of `spec`; `None`:
    /// all) and stopping after stage `phase`, both checked, as the CLI's
    /// `--only` / `--phase` and the Python `only=` / `phase=` take them.
    ///
    /// ```
    /// use k8s_bootstrap_core::apply::{ApplyOptions, Stage};
    /// use k8s_bootstrap_core::spec::{ClusterSpec, Skeleton};
    /// let (spec, _) = ClusterSpec::load(&Skeleton::Tutorial.to_yaml()).unwrap();
    /// let o = ApplyOptions::default().limit(&spec, Some(&["etcd02".into()]), Some("etcd")).unwrap();
    /// assert_eq!((o.only.unwrap().len(), o.until), (1, Some(Stage::Etcd)));
    /// let p = ApplyOptions::default().limit(&spec, Some(&["etcd09".into()]), None).unwrap_err();
    /// assert_eq!((p.path.as_str(), p.value.as_str()), ("only", "etcd09"));
    /// assert!(p.rule.contains("etcd01, etcd02, etcd03"));
    /// ```
    ///
    /// # Errors
    /// A [`crate::spec::Problem`] with path `only` or `phase` and the value.
    pub fn limit(mut self, spec: &ClusterSpec, only: Option<&[String]>, phase: Option<&str>) -> Result<Self, crate::spec::Problem> {
        if let Some(names) = only {
            if let Some(bad) = names.iter().find(|n| !spec.hosts.iter().any(|h| &h.name == *n)) {
                let hosts: Vec<&str> = spec.hosts.iter().map(|h| h.name.as_str()).collect();
                return Err(crate::spec::Problem::new("only", bad, format!("no host {bad:?} in the spec (hosts: {})", hosts.join(", "))));
            }
            self.only = Some(names.iter().cloned().collect());
        }
        if let Some(p) = phase {
            self.until = Some(p.parse::<Stage>().map_err(|e| crate::spec::Problem::new("phase", p, e))?);
        }
        Ok(self)
    }
}

/// A flag that asks a running plan, apply or reset to stop at the next step
/// boundary. Clones share the flag.
///
/// ```
/// use k8s_bootstrap_core::apply::{ApplyOptions, Cancel};
/// let opts = ApplyOptions::default();
/// let handle: Cancel = opts.cancel.clone(); // give this to a signal handler
/// handle.cancel();
/// assert!(opts.cancel.is_cancelled());
/// ```
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<std::sync::atomic::AtomicBool>);

impl Cancel {
    /// Asks the run to stop.
    ///
    /// ```
    /// use k8s_bootstrap_core::apply::Cancel;
    /// let flag = Cancel::default();
    /// let for_ctrl_c = flag.clone();
    /// for_ctrl_c.cancel();
    /// assert!(flag.is_cancelled()); // clones share the flag
    /// ```
    pub fn cancel(&self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
    /// Whether stopping was asked.
    ///
    /// ```
    /// use k8s_bootstrap_core::apply::Cancel;
    /// let flag = Cancel::default();
    /// assert!(!flag.is_cancelled());
    /// flag.cancel();
    /// flag.cancel(); // asking twice is harmless
    /// assert!(flag.is_cancelled());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// What happened (or would happen) on a host.
///
/// ```
/// use k8s_bootstrap_core::apply::{ChangeRecord, Stage};
/// let c = ChangeRecord { stage: Stage::Etcd, what: "restart etcd".into(), diff: None };
/// // As in `apply --output json`: no "diff" key outside plans.
/// assert_eq!(serde_json::to_string(&c).unwrap(), r#"{"stage":"etcd","what":"restart etcd"}"#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangeRecord {
    /// The stage.
    pub stage: Stage,
    /// What changed, for people (`write /opt/etcd/cfg/etcd (updated)`, `restart etcd`).
    pub what: String,
    /// A unified diff (plan only; private keys redacted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
}

/// Why a host failed.
///
/// ```
/// use std::collections::BTreeMap;
/// use std::sync::Arc;
/// use k8s_bootstrap_core::apply::{ApplyOptions, Engine, FailureKind, Stage, Unreachable};
/// use k8s_bootstrap_core::transport::{Transport, TransportError};
/// # use k8s_bootstrap_core::spec::{ClusterSpec, HostSpec, Role, Version};
/// # let mut spec = ClusterSpec::new(vec![HostSpec::new("etcd01", [192, 168, 1, 30].into(), &[Role::Etcd, Role::Node])], Version::new(3, 5, 17), Version::new(0, 26, 1));
/// # spec.pki.key_algorithm = k8s_bootstrap_core::pki::KeyAlgorithm::EcdsaP256;
/// # let pki = k8s_bootstrap_core::pki::CertBundle::for_cluster(&spec).unwrap().generate().unwrap();
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let down = TransportError::Connect { host: "etcd01".into(), reason: "connection refused".into() };
/// let hosts: BTreeMap<String, Arc<dyn Transport>> = BTreeMap::from([("etcd01".into(), Arc::new(Unreachable::new("etcd01", &down)) as _)]);
/// let report = Engine::new(&spec, &pki, hosts).unwrap().plan(&ApplyOptions::default()).await;
/// let f = report.hosts["etcd01"].failed.as_ref().unwrap();
/// assert_eq!((f.stage, f.kind), (Stage::HostPrep, FailureKind::Connect));
/// assert!(f.error.contains("etcd01: connect failed: connection refused"));
/// # });
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// The stage.
    pub stage: Stage,
    /// The step (`write /opt/etcd/cfg/etcd`, `start etcd`).
    pub step: String,
    /// What kind of failure this is (host key, authentication, connection,
    /// command, ...), for callers that act on it.
    pub kind: FailureKind,
    /// The error, with host and command in it.
    pub error: String,
    /// The last lines of the unit's journal, when starting a unit failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
}

/// The kind of a [`Failure`].
///
/// ```
/// use k8s_bootstrap_core::apply::FailureKind;
/// use k8s_bootstrap_core::transport::TransportError;
/// let e = TransportError::HostKeyMismatch {
///     host: "etcd02".into(),
///     fingerprint: "SHA256:Zm9vYmFy".into(),
///     expected: "known_hosts line 3".into(),
/// };
/// let kind = FailureKind::of(&e);
/// assert_eq!(kind, FailureKind::HostKey); // a front end might offer `--accept-new-host-keys`
/// assert_eq!(serde_json::to_string(&kind).unwrap(), r#""host-key""#);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum FailureKind {
    /// The host key is unknown, differs from the recorded one, or is refused (revoked, a bad host certificate).
    HostKey,
    /// The SSH server accepted none of the keys offered.
    Auth,
    /// The host could not be reached (refused, timed out, connection lost).
    Connect,
    /// A command on the host failed or timed out.
    Command,
    /// A file could not be written or read on the host.
    Transfer,
    /// Another run holds the cluster lock on the host (see [`LockError`]);
    /// nothing was changed.
    Locked,
    /// Anything else (invalid input, a local error).
    Other,
}

impl FailureKind {
    /// The kind of a transport error.
    ///
    /// ```
    /// use k8s_bootstrap_core::apply::FailureKind;
    /// use k8s_bootstrap_core::transport::TransportError;
    /// let e = TransportError::Auth { host: "etcd01".into(), user: "root".into(), tried: "agent".into() };
    /// assert_eq!(FailureKind::of(&e), FailureKind::Auth);
    /// ```
    pub fn of(e: &TransportError) -> Self {
        match e {
            TransportError::HostKeyUnknown { .. } | TransportError::HostKeyMismatch { .. } | TransportError::HostKeyRejected { .. } => Self::HostKey,
            TransportError::Auth { .. } => Self::Auth,
            TransportError::Connect { .. } | TransportError::ConnectTimeout { .. } | TransportError::Ssh { .. } => Self::Connect,
            TransportError::CommandFailed { .. } | TransportError::Timeout { .. } => Self::Command,
            TransportError::Transfer { .. } | TransportError::Io { .. } => Self::Transfer,
            _ => Self::Other,
        }
    }

    /// The kebab-case name (`host-key`, `auth`, ...), as in JSON reports.
    ///
    /// ```
    /// use k8s_bootstrap_core::apply::FailureKind;
    /// assert_eq!(FailureKind::HostKey.as_str(), "host-key");
    /// assert_eq!(FailureKind::Transfer.as_str(), serde_json::to_value(FailureKind::Transfer).unwrap());
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HostKey => "host-key",
            Self::Auth => "auth",
            Self::Connect => "connect",
            Self::Command => "command",
            Self::Transfer => "transfer",
            Self::Locked => "locked",
            Self::Other => "other",
        }
    }
}

/// The report of one host.
///
/// ```
/// use k8s_bootstrap_core::apply::{ChangeRecord, HostReport, Stage};
/// let mut r = HostReport::default();
/// r.changes.push(ChangeRecord { stage: Stage::Files, what: "write /opt/etcd/cfg/etcd (updated)".into(), diff: None });
/// r.unchanged = 12;
/// r.stage_ms.insert(Stage::Files, 140);
/// let json = serde_json::to_value(&r).unwrap();
/// assert_eq!(json["stage_ms"], serde_json::json!({ "files": 140 }));
/// assert!(json.get("failed").is_none()); // only present when the host failed
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HostReport {
    /// Changes made (apply) or that would be made (plan).
    pub changes: Vec<ChangeRecord>,
    /// Steps that found nothing to do.
    pub unchanged: usize,
    /// Things worth knowing that are neither changes nor failures.
    pub notes: Vec<String>,
    /// Set when the host failed; it then takes no part in later stages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed: Option<Failure>,
    /// Time spent per stage, in milliseconds.
    pub stage_ms: BTreeMap<Stage, u64>,
}

/// The report of a plan or an apply.
///
/// ```
/// use k8s_bootstrap_core::apply::{ChangeRecord, HostReport, Report, Stage};
/// let change = |what: &str| ChangeRecord { stage: Stage::Etcd, what: what.into(), diff: None };
/// let mut report = Report::default();
/// report.hosts.insert("etcd01".into(), HostReport { changes: vec![change("start etcd")], ..Default::default() });
/// report.hosts.insert("etcd02".into(), HostReport { unchanged: 30, ..Default::default() });
/// assert!(report.ok() && !report.dry_run);
/// assert_eq!(report.change_count(), 1);
/// report.aborted = Some("etcd did not become healthy within 90s".into());
/// assert!(!report.ok());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Whether this was a plan (nothing was changed).
    pub dry_run: bool,
    /// Per host.
    pub hosts: BTreeMap<String, HostReport>,
    /// Set when a cluster-wide gate stopped the run (e.g. etcd never became healthy).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aborted: Option<String>,
    /// Wall time in milliseconds.
    pub elapsed_ms: u64,
}

impl Report {
    /// Total number of changes.
    ///
    /// ```
    /// use k8s_bootstrap_core::apply::{ChangeRecord, HostReport, Report, Stage};
    /// let host = |n| HostReport {
    ///     changes: (0..n).map(|i| ChangeRecord { stage: Stage::Files, what: format!("write file {i}"), diff: None }).collect(),
    ///     ..Default::default()
    /// };
    /// let report = Report { hosts: [("etcd01".into(), host(3)), ("etcd02".into(), host(2))].into(), ..Default::default() };
    /// assert_eq!(report.change_count(), 5);
    /// assert_eq!(Report::default().change_count(), 0); // a second apply: nothing to do
    /// ```
    pub fn change_count(&self) -> usize {
        self.hosts.values().map(|h| h.changes.len()).sum()
    }
    /// No host failed and nothing was aborted.
    ///
    /// ```
    /// use k8s_bootstrap_core::apply::{Failure, FailureKind, HostReport, Report, Stage};
    /// let failed = Failure {
    ///     stage: Stage::Etcd, step: "start etcd".into(), kind: FailureKind::Command,
    ///     error: "etcd02: `systemctl start etcd` failed with exit code Some(1): ".into(), log: None,
    /// };
    /// let mut report = Report { hosts: [("etcd01".into(), HostReport::default())].into(), ..Default::default() };
    /// assert!(report.ok());
    /// report.hosts.insert("etcd02".into(), HostReport { failed: Some(failed), ..Default::default() });
    /// assert!(!report.ok());
    /// ```
    pub fn ok(&self) -> bool {
        self.aborted.is_none() && self.hosts.values().all(|h| h.failed.is_none())
    }
}

/// A progress event, for front ends that show progress.
///
/// ```
/// use k8s_bootstrap_core::apply::{ChangeRecord, Event, Stage};
/// fn line(e: &Event) -> Option<String> {
///     match e {
///         Event::StageStarted(s) => Some(format!("== {s}")),
///         Event::Changed { host, change } => Some(format!("{host}: {}", change.what)),
///         Event::Failed { host, failure } => Some(format!("{host}: FAILED {}", failure.step)),
///         Event::Note { host, message } => Some(format!("{}: {message}", host.as_deref().unwrap_or("*"))),
///         Event::StageDone(_) => None,
///     }
/// }
/// let e = Event::Changed { host: "etcd01".into(), change: ChangeRecord { stage: Stage::Etcd, what: "start etcd".into(), diff: None } };
/// assert_eq!(line(&e).as_deref(), Some("etcd01: start etcd"));
/// assert_eq!(line(&Event::StageStarted(Stage::FlannelConfig)).as_deref(), Some("== flannel-config"));
/// ```
#[derive(Debug, Clone)]
pub enum Event {
    /// A stage starts.
    StageStarted(Stage),
    /// A host changed something (or would, in a plan).
    Changed {
        /// The host.
        host: String,
        /// The change.
        change: ChangeRecord,
    },
    /// A host failed.
    Failed {
        /// The host.
        host: String,
        /// Why.
        failure: Failure,
    },
    /// A note (e.g. a skipped service).
    Note {
        /// The host, if any.
        host: Option<String>,
        /// The note.
        message: String,
    },
    /// A stage ended on every host.
    StageDone(Stage),
}

/// Receives [`Event`]s while an engine runs.
///
/// ```
/// use std::sync::Mutex;
/// use k8s_bootstrap_core::apply::{Event, Progress};
/// #[derive(Default)]
/// struct Counter(Mutex<usize>);
/// impl Progress for Counter {
///     fn event(&self, e: &Event) {
///         if let Event::Changed { .. } = e {
///             *self.0.lock().unwrap() += 1;
///         }
///     }
/// }
/// // engine.with_progress(std::sync::Arc::new(Counter::default()))
/// # let _ = Counter::default();
/// ```
pub trait Progress: Send + Sync {
    /// Called for each event, from any task.
    fn event(&self, event: &Event);
}

/// A [`Progress`] that ignores everything.
///
/// ```
/// use std::sync::Arc;
/// use k8s_bootstrap_core::apply::{Event, NoProgress, Progress, Stage};
/// let quiet: Arc<dyn Progress> = Arc::new(NoProgress); // what an engine uses until `with_progress`
/// quiet.event(&Event::StageStarted(Stage::Files));
/// assert_eq!(format!("{NoProgress:?}"), "NoProgress");
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn event(&self, _event: &Event) {}
}

/// A file to put on a host.
#[derive(Clone)]
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

/// What [`Ctx::remote_state`] reads: per path (mode, uid, gid, sha256) or
/// `None` when absent, and the temporary files left in their folders.
type FileState = (Vec<Option<(u32, u32, u32, String)>>, Vec<String>);

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
            let items = desired::host_files(spec, h, &render, pki)?;
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

    fn ctx(&self, opts: &ApplyOptions, dry: bool) -> Ctx<'_> {
        Ctx {
            spec: &self.spec,
            digests: Default::default(),
            dry,
            progress: self.progress.clone(),
            sem: Arc::new(Semaphore::new(opts.concurrency.max(1))),
            cancel: opts.cancel.clone(),
            upgrade: Default::default(),
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
                changed_paths: BTreeSet::new(),
                report: HostReport::default(),
                selected: opts.only.as_ref().is_none_or(|o| o.contains(&h.name)),
            })
            .collect()
    }

    async fn run(&self, opts: &ApplyOptions, dry: bool) -> Report {
        let start = Instant::now();
        let mut hosts = self.views(opts);
        let mut ctx = self.ctx(opts, dry);
        let mut aborted = None;
        // The cluster lock, before any fact is read (an apply only: a plan
        // changes nothing).
        let locks = if dry {
            None
        } else {
            match self.lock_hosts(&mut hosts, opts).await {
                Ok(l) => Some(l),
                Err(why) => return self.report(hosts, false, Some(why), start),
            }
        };
        // Facts first: the versions the running members report. A jump of
        // more than one minor or a downgrade stops the run here, before
        // any host is touched (in a plan as in an apply).
        match ctx.read_upgrade(&hosts).await {
            Ok(plan) => {
                ctx.upgrade_notes(&mut hosts, &plan);
                ctx.upgrade = plan;
            }
            Err(refusal) => {
                let why = refusal.to_string();
                self.progress.event(&Event::Note { host: None, message: why.clone() });
                aborted = Some(why);
            }
        }
        for stage in Stage::ALL {
            if aborted.is_some() {
                break;
            }
            if opts.cancel.is_cancelled() {
                let why = format!("interrupted before stage {stage}: steps already started finished; run apply again to converge");
                self.progress.event(&Event::Note { host: None, message: why.clone() });
                aborted = Some(why);
                break;
            }
            if let Some(lost) = locks.as_ref().and_then(lock::HostLocks::lost) {
                let why = format!("{lost}: stopped before stage {stage}");
                self.progress.event(&Event::Note { host: None, message: why.clone() });
                aborted = Some(why);
                break;
            }
            self.progress.event(&Event::StageStarted(stage));
            let result = match stage {
                Stage::Etcd => ctx.etcd_stage(&mut hosts, opts).await,
                _ => {
                    ctx.per_host(&mut hosts, stage, |c, h| Box::pin(c.host_stage(stage, h))).await;
                    Ok(())
                }
            };
            if let Err(why) = result {
                self.progress.event(&Event::Note { host: None, message: why.clone() });
                aborted = Some(why);
            }
            self.progress.event(&Event::StageDone(stage));
            if opts.until == Some(stage) {
                break;
            }
        }
        if let Some(l) = locks {
            l.release().await;
        }
        self.report(hosts, dry, aborted, start)
    }

    fn report(&self, hosts: Vec<HostView<'_>>, dry_run: bool, aborted: Option<String>, start: Instant) -> Report {
        Report {
            dry_run,
            hosts: hosts.into_iter().filter(|h| h.selected).map(|h| (h.name, h.report)).collect(),
            aborted,
            elapsed_ms: start.elapsed().as_millis() as u64,
        }
    }

    /// Takes the cluster lock on every host (see [`LockError`]) before a
    /// run changes anything. A host that cannot be reached is not locked:
    /// it fails its first step with that error, as without a lock. When any
    /// host is held by another run, the locks taken are given back, each
    /// such host fails with [`FailureKind::Locked`] and the run stops with
    /// nothing changed.
    async fn lock_hosts(&self, hosts: &mut [HostView<'_>], opts: &ApplyOptions) -> Result<lock::HostLocks, String> {
        use lock::HostLockOutcome as O;
        let holder = LockHolder::me();
        let active = lock::ActiveRun::new(&holder);
        let outcomes = futures::future::join_all(hosts.iter().map(|h| lock::acquire_one(&h.name, &*h.transport, &holder, opts.break_lock))).await;
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
                    FailureKind::Connect | FailureKind::HostKey | FailureKind::Auth => {}
                    kind => fail(h, kind, e.to_string()),
                },
            }
        }
        let locks = lock::HostLocks::hold(holder, held, active);
        if refused.is_empty() {
            return Ok(locks);
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
        let ctx = self.ctx(opts, false);
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
    changed_paths: BTreeSet<String>,
    report: HostReport,
    selected: bool,
}

impl HostView<'_> {
    fn active(&self) -> bool {
        self.selected && self.report.failed.is_none()
    }
}

type StageFuture<'f> = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'f>>;

struct Ctx<'s> {
    spec: &'s ClusterSpec,
    /// SHA-256 of local binaries, computed once per run (not once per host).
    digests: std::sync::Mutex<BTreeMap<std::path::PathBuf, String>>,
    dry: bool,
    progress: Arc<dyn Progress>,
    sem: Arc<Semaphore>,
    /// Checked before each host's step of a stage starts.
    cancel: Cancel,
    /// The rolling upgrade decided from the running members' versions
    /// before the first stage (empty when there is none).
    upgrade: crate::etcd::upgrade::UpgradePlan,
}

impl Ctx<'_> {
    fn unit_path(&self, unit: &str) -> String {
        format!("{}/{unit}.service", self.spec.layout.systemd_dir)
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

    fn fail(&self, h: &mut HostView<'_>, stage: Stage, step: String, e: &TransportError) {
        self.fail_with_log(h, stage, StepError { step, kind: FailureKind::of(e), error: e.to_string(), log: None });
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

    async fn host_stage(&self, stage: Stage, h: &mut HostView<'_>) {
        let r = match stage {
            Stage::HostPrep => self.host_prep(h).await,
            Stage::Files => self.files(h).await,
            Stage::Install => self.install(h).await,
            Stage::FlannelConfig => self.commands(h, Stage::FlannelConfig, Phase::FlannelConfig).await,
            Stage::Flanneld => self.flanneld(h).await,
            Stage::Docker => self.docker(h).await,
            Stage::Etcd => Ok(()),
        };
        if let Err(e) = r {
            self.fail_with_log(h, stage, e);
        }
    }

    async fn host_prep(&self, h: &mut HostView<'_>) -> StepResult {
        if h.os.is_none() {
            let text = h.transport.read_file("/etc/os-release").await.map_err(|e| ("read /etc/os-release".to_string(), e))?;
            h.os = text.and_then(|t| OsFamily::from_os_release(&String::from_utf8_lossy(&t)));
            if h.os.is_none() {
                self.note(h, "OS family not recognised from /etc/os-release: OS-specific steps are skipped".into());
            }
        }
        // The fact "has an engine" is read beside the host preparation's
        // round trip (a channel of its own), not after it.
        let install = crate::docker::EngineInstall::from_spec(self.spec);
        let wanted = h.render.file(&self.unit_path("docker")).is_some() && install.source != crate::docker::DockerInstall::None;
        let transport = h.transport.clone();
        let argv = install.check();
        let fact = async move { if wanted { Some(transport.run(&Command::new(argv)).await) } else { None } };
        let (prep, fact) = tokio::join!(self.commands(h, Stage::HostPrep, Phase::HostPrep), fact);
        prep?;
        match fact {
            Some(fact) => self.engine_install(h, &install, fact).await,
            None => Ok(()),
        }
    }

    /// A node without dockerd gets the engine from `docker.install`:
    /// before the files stage, so that our docker.service and daemon.json
    /// replace what the package installs, and docker first starts in the
    /// docker stage with our config. A host with an engine gets nothing.
    /// `fact`: the output of [`crate::docker::EngineInstall::check`].
    async fn engine_install(&self, h: &mut HostView<'_>, install: &crate::docker::EngineInstall, fact: Result<crate::transport::Output, TransportError>) -> StepResult {
        let step = "look for dockerd".to_string();
        let fact = fact.map_err(|e| (step.clone(), e))?;
        match fact.exit_code {
            Some(0) => {
                h.report.unchanged += 1;
                return Ok(());
            }
            Some(1) => {}
            Some(code) if code == crate::docker::CHECK_ELSEWHERE => {
                let error = format!(
                    "{}: there is a dockerd at {}, but layout.dockerd is {}: nothing installed",
                    h.name,
                    fact.stdout_str().trim(),
                    install.dockerd
                );
                return Err(StepError { step, kind: FailureKind::Other, error: format!("{error}; set layout.dockerd to the host's dockerd"), log: None });
            }
            other => {
                let error = format!("{}: `{}` exited with {other:?}: {}", h.name, join_argv(&install.check()), fact.stderr_str().trim_end());
                return Err(StepError { step, kind: FailureKind::Command, error, log: None });
            }
        }
        let Some(os) = h.os else {
            let error = format!("{}: no dockerd at {}, and the OS family is unknown: no package manager to install it with", h.name, install.dockerd);
            return Err(StepError { step: "install the container engine".into(), kind: FailureKind::Other, error: format!("{error}; set hosts[].os, or install docker and set docker.install: none"), log: None });
        };
        let files = match &install.source {
            crate::docker::DockerInstall::Offline(dir) => package_files(dir, crate::docker::EngineInstall::package_ext(os))
                .await
                .map_err(|e| StepError { step: format!("list the package files of {dir}"), kind: FailureKind::Other, error: format!("{}: reading the folder {dir} (docker.install.offline) on the control machine: {e}", h.name), log: None })?,
            _ => Vec::new(),
        };
        let steps = install.steps(os, &files).map_err(|p| StepError {
            step: "install the container engine".into(),
            kind: FailureKind::Other,
            error: format!("{}: {p}", h.name),
            log: None,
        })?;
        let what = format!("{} (no dockerd at {})", steps.description, install.dockerd);
        if self.dry {
            self.changed(h, Stage::HostPrep, what, None);
            return Ok(());
        }
        if !steps.uploads.is_empty() {
            let specs: Vec<(String, FileSource, PutOptions)> =
                steps.uploads.iter().map(|(local, remote)| (remote.clone(), FileSource::Path(local.clone()), PutOptions::new(0o644))).collect();
            for ((local, remote), outcome) in steps.uploads.iter().zip(h.transport.put_files(&specs).await) {
                outcome.map_err(|e| (format!("upload {} to {remote}", local.display()), e))?;
            }
        }
        let cmd = Command::new(steps.argv.clone()).timeout(Duration::from_secs(900));
        let out = h.transport.run(&cmd).await.map_err(|e| (steps.description.clone(), e))?;
        if !out.success() {
            let tail = |s: String| s.lines().rev().take(12).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
            let error = format!(
                "{}: {} failed with exit code {}:\n{}\nto fix: {}",
                h.name,
                steps.description,
                out.exit_code.map_or("none (killed)".to_string(), |c| c.to_string()),
                tail(format!("{}{}", out.stdout_str(), out.stderr_str())),
                steps.hint
            );
            return Err(StepError { step: steps.description, kind: FailureKind::Command, error, log: None });
        }
        self.changed(h, Stage::HostPrep, what, None);
        Ok(())
    }

    /// Runs the rendered commands of `phase`: a command whose check passes
    /// (or whose OS guard does not match) has nothing to do.
    async fn commands(&self, h: &mut HostView<'_>, stage: Stage, phase: Phase) -> StepResult {
        let cmds: Vec<_> = h
            .render
            .commands
            .iter()
            .filter(|c| c.phase == phase)
            // the engine reloads systemd itself, only when a unit changed
            .filter(|c| c.argv != ["systemctl", "daemon-reload"])
            .filter(|c| c.os.is_none() || c.os == h.os)
            .cloned()
            .collect();
        if cmds.is_empty() {
            return Ok(());
        }
        // The whole stage in one round trip: each command runs right after
        // its own check fails (as in commands.sh), one result line each; the
        // first failing command stops the script and its output comes back
        // on stderr. A plan runs only the checks.
        let mut script = String::from("o=$(mktemp) || exit 97\ntrap 'rm -f -- \"$o\"' EXIT\n");
        for c in &cmds {
            let run = if self.dry {
                "echo ran".to_string()
            } else {
                format!(
                    "if {} >\"$o\" 2>&1 </dev/null; then echo ran; else rc=$?; echo \"fail $rc\"; tail -c 3000 \"$o\" >&2; exit 0; fi",
                    join_argv(&c.argv)
                )
            };
            match &c.check {
                Some(check) => script.push_str(&format!("if {} >/dev/null 2>&1 </dev/null; then echo skip; else {run}; fi\n", join_argv(check))),
                None => script.push_str(&format!("{run}\n")),
            }
        }
        let step = format!("{stage} commands");
        let out = h.transport.run_ok(&Command::new(["sh", "-c", script.as_str()])).await.map_err(|e| (step.clone(), e))?;
        let text = out.stdout_str();
        let mut lines = text.lines();
        for c in cmds {
            match lines.next().map(str::trim) {
                Some("skip") => h.report.unchanged += 1,
                Some("ran") => self.changed(h, stage, c.description.clone(), None),
                Some(fail) if fail.starts_with("fail ") => {
                    let error = format!(
                        "{}: `{}` failed with exit code {}: {}",
                        h.name,
                        join_argv(&c.argv),
                        fail.trim_start_matches("fail "),
                        out.stderr_str().trim_end()
                    );
                    return Err(StepError { step: c.description.clone(), kind: FailureKind::Command, error, log: None });
                }
                other => {
                    let error = format!("{}: no result for `{}` ({other:?}): {}", h.name, join_argv(&c.argv), out.stderr_str().trim_end());
                    return Err(StepError { step: c.description.clone(), kind: FailureKind::Command, error, log: None });
                }
            }
        }
        Ok(())
    }

    /// One round trip: mode, owner and SHA-256 of every path on the host
    /// (`None` for an absent path), in order.
    async fn remote_digests(&self, h: &HostView<'_>, paths: &[String]) -> Result<Vec<Option<(u32, u32, u32, String)>>, (String, TransportError)> {
        Ok(self.remote_state(h, paths).await?.0)
    }

    /// Each file's mode, owner and sha256 (`None`: absent), and, in the same
    /// round trip, the temporary files an upload that was killed left in
    /// their folders (`.NAME.kbtmp.XXXXXX`, as the batched upload names them).
    async fn remote_state(&self, h: &HostView<'_>, paths: &[String]) -> Result<FileState, (String, TransportError)> {
        const SCRIPT: &str = r#"while [ $# -gt 0 ] && [ "$1" != -- ]; do f=$1; shift; if [ -f "$f" ] && [ ! -L "$f" ]; then printf '%s %s\n' "$(stat -c %a:%u:%g "$f")" "$(sha256sum < "$f" | cut -d' ' -f1)"; else echo -; fi; done
[ $# -gt 0 ] && shift
for d; do for t in "$d"/.*.kbtmp.*; do if [ -f "$t" ] && [ ! -L "$t" ]; then printf 'tmp %s\n' "$t"; fi; done; done"#;
        let mut argv = vec!["sh".to_string(), "-c".into(), SCRIPT.into(), "sh".into()];
        argv.extend(paths.iter().cloned());
        argv.push("--".into());
        let dirs: BTreeSet<&str> = paths.iter().filter_map(|p| p.rsplit_once('/').map(|(d, _)| d)).filter(|d| !d.is_empty()).collect();
        argv.extend(dirs.into_iter().map(str::to_string));
        let step = "read the state of the files".to_string();
        let out = h.transport.run_ok(&Command::new(argv)).await.map_err(|e| (step.clone(), e))?;
        let text = out.stdout_str();
        let lines: Vec<&str> = text.lines().collect();
        if lines.len() < paths.len() {
            let e = TransportError::Connect { host: h.name.clone(), reason: format!("file state: {} lines for {} paths", lines.len(), paths.len()) };
            return Err((step, e));
        }
        let (files, rest) = lines.split_at(paths.len());
        let digests = files
            .iter()
            .map(|l| {
                let (meta, sum) = l.split_once(' ')?;
                let mut m = meta.split(':');
                let mode = u32::from_str_radix(m.next()?, 8).ok()?;
                Some((mode, m.next()?.parse().ok()?, m.next()?.parse().ok()?, sum.to_string()))
            })
            .collect();
        let litter = rest.iter().filter_map(|l| l.strip_prefix("tmp ")).map(str::to_string).collect();
        Ok((digests, litter))
    }

    async fn files(&self, h: &mut HostView<'_>) -> StepResult {
        let items: Vec<DesiredFile> = h.items.to_vec();
        let paths: Vec<String> = items.iter().map(|i| i.path.clone()).collect();
        let (remote, litter) = self.remote_state(h, &paths).await?;
        // Temporary files of an upload that was killed (the connection
        // lost mid-write): the files they were for are whole (writes are
        // atomic renames), the litter goes. The cluster lock rules out
        // another run's upload in flight.
        if !litter.is_empty() {
            if !self.dry {
                let mut rm = vec!["rm".to_string(), "-f".into(), "--".into()];
                rm.extend(litter.iter().cloned());
                h.transport.run_ok(&Command::new(rm)).await.map_err(|e| ("remove temporary files of an interrupted upload".to_string(), e))?;
            }
            for t in litter {
                self.changed(h, Stage::Files, format!("remove {t} (left by an interrupted upload)"), None);
            }
        }
        let mut to_put = Vec::new();
        for (it, remote) in items.into_iter().zip(remote) {
            let step = format!("write {}", it.path);
            let local = match &it.source {
                FileSource::Bytes(b) => crate::transport::sha256_hex(b),
                FileSource::Path(p) => {
                    let cached = self.digests.lock().expect("digest cache").get(p).cloned();
                    match cached {
                        Some(d) => d,
                        None => {
                            let d = it.source.sha256().await.map_err(|e| (step.clone(), TransportError::io(&h.name, "read local binary", e)))?.0;
                            self.digests.lock().expect("digest cache").insert(p.clone(), d.clone());
                            d
                        }
                    }
                }
            };
            let root_owned = it.owner == "root:root" || it.owner == "root";
            let (same_content, same_meta) = match &remote {
                Some((mode, uid, gid, sum)) => (*sum == local, *mode == it.mode && (!root_owned || (*uid == 0 && *gid == 0))),
                None => (false, false),
            };
            if same_content && same_meta && root_owned {
                h.report.unchanged += 1;
                continue;
            }
            if self.dry {
                if same_content {
                    self.changed(h, Stage::Files, format!("chmod/chown {:o} {}", it.mode, it.path), None);
                    continue;
                }
                let diff = match &it.source {
                    FileSource::Bytes(new) if !it.binary => {
                        let old = if remote.is_some() { h.transport.read_file(&it.path).await.map_err(|e| (step.clone(), e))? } else { None };
                        diff::unified(&it.path, old.as_deref(), new, it.secret)
                    }
                    _ => format!("binary {}: sha256 {local}\n", it.path),
                };
                h.changed_paths.insert(it.path.clone());
                self.changed(h, Stage::Files, step, Some(diff));
                continue;
            }
            to_put.push(it);
        }
        // One call for all writes: exec-based transports send every
        // in-memory file in one round trip (each still atomic on its own).
        let specs: Vec<(String, FileSource, PutOptions)> = to_put
            .iter()
            .map(|it| {
                (it.path.clone(), it.source.clone(), PutOptions::new(it.mode).owner(it.owner.clone()))
            })
            .collect();
        let outcomes = h.transport.put_files(&specs).await;
        let mut first_error = None;
        for (it, outcome) in to_put.iter().zip(outcomes) {
            let step = format!("write {}", it.path);
            use crate::transport::PutOutcome::*;
            match outcome {
                Err(e) => {
                    first_error.get_or_insert((step, e));
                }
                Ok(Unchanged) => h.report.unchanged += 1,
                Ok(MetadataUpdated) => self.changed(h, Stage::Files, format!("{step} (mode/owner)"), None),
                Ok(outcome @ (Created | Updated)) => {
                    h.changed_paths.insert(it.path.clone());
                    let how = if outcome == Created { "created" } else { "updated" };
                    self.changed(h, Stage::Files, format!("{step} ({how})"), None);
                }
            }
        }
        match first_error {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
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
        let present: Vec<String> = self
            .remote_digests(h, &paths)
            .await?
            .into_iter()
            .zip(paths)
            .filter_map(|(d, p)| d.map(|_| p))
            .collect();
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

    async fn install(&self, h: &mut HostView<'_>) -> StepResult {
        let unit_changed = h.items.iter().any(|i| i.unit.is_some() && h.changed_paths.contains(&i.path));
        // A unit written by an earlier, interrupted run: systemd says so.
        let pending = if unit_changed {
            false
        } else {
            let mut argv = vec!["systemctl".to_string(), "show".into(), "-P".into(), "NeedDaemonReload".into()];
            argv.extend(UNITS.iter().map(|u| format!("{u}.service")));
            let out = h.transport.run(&Command::new(argv)).await.map_err(|e| ("systemctl show NeedDaemonReload".to_string(), e))?;
            out.stdout_str().lines().any(|l| l.trim() == "yes")
        };
        if unit_changed || pending {
            if !self.dry {
                h.transport.daemon_reload().await.map_err(|e| ("systemctl daemon-reload".to_string(), e))?;
            }
            let why = if unit_changed { "a unit changed" } else { "systemd has not read a unit written earlier" };
            self.changed(h, Stage::Install, format!("systemctl daemon-reload ({why})"), None);
        }
        self.commands(h, Stage::Install, Phase::Install).await
    }

    /// The files on this host that restart `unit` when they change, as
    /// their builders said (its unit file, env file, binary, certificates).
    fn deps_of(&self, h: &HostView<'_>, unit: &str) -> Vec<String> {
        h.items.iter().filter(|i| i.restarts.iter().any(|u| u == unit)).map(|i| i.path.clone()).collect()
    }

    /// A dependency of `unit` that this run changed.
    fn deps_changed(&self, h: &HostView<'_>, unit: &str) -> Option<String> {
        self.deps_of(h, unit).into_iter().find(|p| h.changed_paths.contains(p))
    }

    /// Why a running `unit` must restart, if it must: a dependency changed
    /// in this run, or one is newer than the unit's start (an earlier run
    /// wrote it and stopped before the restart).
    async fn restart_reason(&self, h: &HostView<'_>, unit: &str) -> Result<Option<String>, StepError> {
        if let Some(p) = self.deps_changed(h, unit) {
            return Ok(Some(format!("{p} changed")));
        }
        const SCRIPT: &str = r#"u=$1; shift; t=$(systemctl show -P ActiveEnterTimestamp --timestamp=unix "$u"); t=${t#@}; [ -n "$t" ] || exit 0; for f; do m=$(stat -c %Y "$f" 2>/dev/null) || continue; [ "$m" -gt "$t" ] && echo "$f"; done; true"#;
        let mut argv = vec!["sh".to_string(), "-c".into(), SCRIPT.into(), "sh".into(), format!("{unit}.service")];
        argv.extend(self.deps_of(h, unit));
        let out = h
            .transport
            .run_ok(&Command::new(argv))
            .await
            .map_err(|e| StepError::from((format!("compare {unit}'s start with its files"), e)))?;
        Ok(out
            .stdout_str()
            .lines()
            .next()
            .map(|p| format!("{p} is newer than the running {unit}: an earlier apply stopped before restarting it")))
    }

    /// Starts `unit` if it is not running, restarts it if something it
    /// depends on changed. `block`: wait for the unit to report ready.
    async fn ensure_unit(&self, h: &mut HostView<'_>, stage: Stage, unit: &str, block: bool) -> StepResult {
        self.ensure_unit_as(h, stage, unit, block, None, None).await
    }

    /// [`Self::ensure_unit`], reported as `label` when it (re)starts the
    /// unit; a running unit restarts for `force` (why) even when none of
    /// its files is newer (a member of an upgrade still on the old binary).
    async fn ensure_unit_as(&self, h: &mut HostView<'_>, stage: Stage, unit: &str, block: bool, label: Option<&str>, force: Option<&str>) -> StepResult {
        let active = h.transport.is_active(unit).await.map_err(|e| (format!("systemctl is-active {unit}"), e))?;
        let reason = if active { self.restart_reason(h, unit).await?.or_else(|| force.map(str::to_string)) } else { None };
        let (verb, why) = if !active {
            ("start", "not running".to_string())
        } else if let Some(why) = reason {
            ("restart", why)
        } else {
            h.report.unchanged += 1;
            return Ok(());
        };
        if !self.dry
            && let Err(e) = h.transport.run_ok(&unit_command(unit, verb, block).timeout(Duration::from_secs(120))).await
        {
            // --sync first: the unit's last words (dockerd's fatal error)
            // may not be in the journal yet right after it exited.
            let journal = Command::new(["sh", "-c", "journalctl --sync 2>/dev/null; exec journalctl -u \"$1\" -n 25 --no-pager -o cat", "sh", unit]);
            let log = match h.transport.run(&journal).await {
                Ok(out) => Some(out.stdout_str().trim_end().to_string()).filter(|l| !l.is_empty()),
                Err(_) => None,
            };
            return Err(StepError { step: format!("{verb} {unit}"), kind: FailureKind::of(&e), error: e.to_string(), log });
        }
        let what = match label {
            Some(l) => format!("{l}: {verb} {unit} ({why})"),
            None => format!("{verb} {unit} ({why})"),
        };
        self.changed(h, stage, what, None);
        Ok(())
    }

    async fn etcd_stage<'a>(&self, hosts: &mut [HostView<'a>], opts: &ApplyOptions) -> Result<(), String> {
        let etcd_unit = self.unit_path("etcd");
        let is_member = |h: &HostView<'_>| h.roles.contains(&Role::Etcd) && h.render.file(&etcd_unit).is_some();
        // Members that are down start together; running ones that changed
        // restart one at a time, each waiting for the cluster to be healthy.
        let mut down = Vec::new();
        let mut changed = Vec::new();
        for (i, h) in hosts.iter_mut().enumerate().filter(|(_, h)| h.active() && is_member(h)) {
            match h.transport.is_active("etcd").await {
                Ok(false) => down.push(i),
                Ok(true) => match self.restart_reason(h, "etcd").await {
                    Ok(Some(why)) => changed.push((i, why)),
                    Ok(None) if self.upgrade.order.contains(&h.name) => {
                        changed.push((i, format!("it runs an etcd other than versions.etcd {}", self.spec.versions.etcd)));
                    }
                    Ok(None) => h.report.unchanged += 1,
                    Err(e) => self.fail_with_log(h, Stage::Etcd, e),
                },
                Err(e) => self.fail(h, Stage::Etcd, "systemctl is-active etcd".into(), &e),
            }
        }
        // An upgrade goes in the decided order (the leader last); other
        // restarts (a changed config or certificate) first, in host order.
        let upgrade_pos = |name: &str| self.upgrade.order.iter().position(|n| n == name).map_or(0, |p| p + 1);
        changed.sort_by_key(|(i, _)| upgrade_pos(&hosts[*i].name));
        let t = Instant::now();
        // A member that is down and not in the running cluster's member
        // list joins it: `member add` first, then it starts with initial
        // state `existing`, one at a time.
        let running: Option<usize> = hosts
            .iter()
            .enumerate()
            .find(|(i, h)| h.active() && is_member(h) && !down.contains(i))
            .map(|(i, _)| i);
        let mut joining: Vec<(usize, Option<members::Member>)> = Vec::new();
        if let (Some(probe), false) = (running, down.is_empty()) {
            let list = self.member_list(&hosts[probe]).await?;
            let mut returning = Vec::new();
            for i in down {
                let peer = self.peer_url(&hosts[i].name);
                match list.iter().find(|m| m.peer == peer) {
                    Some(m) if m.started => returning.push(i),
                    Some(m) => joining.push((i, Some(m.clone()))),
                    None => joining.push((i, None)),
                }
            }
            down = returning;
        }
        let pending: BTreeSet<String> = joining.iter().map(|(i, _)| hosts[*i].name.clone()).collect();
        let starts = hosts.iter_mut().enumerate().filter(|(i, _)| down.contains(i)).map(|(_, h)| async move {
            if let Err(e) = self.ensure_unit(h, Stage::Etcd, "etcd", false).await {
                self.fail_with_log(h, Stage::Etcd, e);
            }
        });
        futures::future::join_all(starts).await;
        if self.dry {
            for (i, _) in joining {
                let h = &mut hosts[i];
                self.changed(h, Stage::Etcd, "add etcd member (member add, then start with initial state existing)".into(), None);
            }
            for (i, why) in changed {
                let h = &mut hosts[i];
                let what = match self.upgrade_label(&h.name) {
                    Some(l) => format!("{l}: restart etcd ({why})"),
                    None => format!("restart etcd ({why})"),
                };
                self.changed(h, Stage::Etcd, what, None);
            }
            if let Some(probe) = running {
                self.remove_members(hosts, probe, opts, true).await?;
            }
            return Ok(());
        }
        let any_member = hosts.iter().any(|h| h.selected && is_member(h));
        if !any_member {
            return Ok(());
        }
        self.wait_healthy(hosts, opts.etcd_timeout, &pending).await?;
        let mut pending = pending;
        for (i, known) in joining {
            let probe = running.expect("joining implies a running member");
            self.join(hosts, probe, i, known).await?;
            pending.remove(&hosts[i].name);
            self.wait_healthy(hosts, opts.etcd_timeout, &pending).await?;
            let join_file = self.join_file();
            hosts[i]
                .transport
                .run_ok(&Command::new(["rm", "-f", "--", join_file.as_str()]))
                .await
                .map_err(|e| format!("{}: removing {join_file}: {e}", hosts[i].name))?;
        }
        // One member at a time, each followed by the gate: every member
        // healthy and, for an upgrade, the restarted one at the wanted
        // version and caught up with the leader. Never more than one down.
        for (i, why) in changed {
            let name = hosts[i].name.clone();
            let label = self.upgrade_label(&name);
            let force = label.as_ref().map(|_| why);
            let h = &mut hosts[i];
            if let Err(e) = self.ensure_unit_as(h, Stage::Etcd, "etcd", true, label.as_deref(), force.as_deref()).await {
                self.fail_with_log(h, Stage::Etcd, e);
                let what = if label.is_some() { "upgraded" } else { "restarted" };
                return Err(format!("{name}: etcd restart failed; later members were not {what} (apply again to resume)"));
            }
            self.wait_healthy(hosts, opts.etcd_timeout, &BTreeSet::new()).await?;
            if label.is_some() {
                self.wait_caught_up(hosts, &name, opts.etcd_timeout).await?;
            }
        }
        if let Some(probe) = running.or_else(|| hosts.iter().position(|h| h.active() && is_member(h))) {
            self.remove_members(hosts, probe, opts, false).await?;
        }
        let ms = t.elapsed().as_millis() as u64;
        for h in hosts.iter_mut().filter(|h| h.active() && is_member(h)) {
            *h.report.stage_ms.entry(Stage::Etcd).or_default() += ms;
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
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let tail: String = last.lines().rev().take(6).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
        Err(format!("etcd cluster not healthy after {timeout:?} (checked on {probe_host}): {tail}; later stages not started"))
    }

    async fn flanneld(&self, h: &mut HostView<'_>) -> StepResult {
        if h.render.file(&self.unit_path("flanneld")).is_none() {
            return Ok(());
        }
        let bin = format!("{}/bin/flanneld", self.spec.layout.kubernetes_dir);
        let present = self.dry && h.changed_paths.contains(&bin)
            || h.transport.stat(&bin).await.map_err(|e| (format!("stat {bin}"), e))?.is_some();
        if !present {
            self.note(h, format!("{bin} is absent (give binaries.flanneld): the flanneld unit is installed but not started"));
            return Ok(());
        }
        self.ensure_unit(h, Stage::Flanneld, "flanneld", true).await
    }

    async fn docker(&self, h: &mut HostView<'_>) -> StepResult {
        if h.render.file(&self.unit_path("docker")).is_none() {
            return Ok(());
        }
        if self.spec.docker.mode == DockerMode::FlannelEnv {
            let flannel_up = h.transport.is_active("flanneld").await.map_err(|e| ("systemctl is-active flanneld".to_string(), e))?;
            if !flannel_up && !self.dry {
                self.note(h, "docker not started: flanneld is not running, and docker takes its bridge from flannel's subnet".into());
                return Ok(());
            }
        }
        self.ensure_unit(h, Stage::Docker, "docker", true).await
    }
}

/// `systemctl VERB UNIT` (`start`, `restart`), after `reset-failed`: units
/// restarted with a dependency (docker with flanneld) count towards
/// systemd's StartLimitBurst, and a run right after another one must not be
/// refused with "start of the service was attempted too often".
/// Restart=on-failure loops stay limited between runs. Without `block`,
/// `--no-block`.
fn unit_command(unit: &str, verb: &str, block: bool) -> Command {
    let script = "u=$1; shift; systemctl reset-failed -- \"$u\" 2>/dev/null; exec systemctl \"$@\" -- \"$u\"";
    let mut argv = vec!["sh", "-c", script, "sh", unit, verb];
    if !block {
        argv.push("--no-block");
    }
    Command::new(argv)
}

/// The names of the `.{ext}` files in `dir` on the control machine, sorted.
async fn package_files(dir: &str, ext: &str) -> std::io::Result<Vec<String>> {
    let mut names = Vec::new();
    let mut rd = tokio::fs::read_dir(dir).await?;
    while let Some(e) = rd.next_entry().await? {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(&format!(".{ext}")) && !name.contains('\n') && e.file_type().await?.is_file() {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
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
