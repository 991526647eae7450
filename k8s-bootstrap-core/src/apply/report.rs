//! What a run reports: changes, failures, notes, per host; and the live
//! events of a run as it goes.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::transport::TransportError;

use super::Stage;

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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
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
    /// Another run holds the cluster lock on the host (see [`LockError`](super::LockError));
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

    /// The host was never reached: no connection, or its key or our login
    /// refused. Nothing ran there, so the run may go on without it where a
    /// quorum allows, and a membership change must not count on it.
    ///
    /// ```
    /// use k8s_bootstrap_core::apply::FailureKind;
    /// assert!(FailureKind::Connect.unreached() && FailureKind::HostKey.unreached() && FailureKind::Auth.unreached());
    /// assert!(!FailureKind::Command.unreached());
    /// ```
    pub fn unreached(self) -> bool {
        matches!(self, Self::Connect | Self::HostKey | Self::Auth)
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
    /// What preflight found before anything changed (see
    /// [`super::preflight`]); a finding not waived refused the run
    /// (`aborted` lists them).
    #[serde(default)]
    pub preflight: Vec<super::preflight::Finding>,
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
