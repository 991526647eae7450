//! What a run is asked to do: its stages, its options, its cancellation.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::spec::ClusterSpec;

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize)]
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

/// Options of [`Engine::apply`](super::Engine::apply).
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
    /// [`STALE_AFTER`](super::STALE_AFTER), left by a run that is gone (killed, its machine
    /// lost). A lock that is being refreshed is never broken (see
    /// [`LockError`](super::LockError)). Default `false`: a stale lock is refused, named.
    pub break_lock: bool,
    /// Preflight checks whose findings do not stop the run (they are
    /// still reported). Default: none.
    pub waive: BTreeSet<super::preflight::Check>,
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
            waive: BTreeSet::new(),
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

impl ApplyOptions {
    /// These options waiving the preflight checks `names` (as the CLI's
    /// `--waive` and Python's `waive=` take them), checked.
    ///
    /// ```
    /// use k8s_bootstrap_core::apply::ApplyOptions;
    /// use k8s_bootstrap_core::apply::preflight::Check;
    /// let o = ApplyOptions::default().waiving(&["clock-skew".into()]).unwrap();
    /// assert!(o.waive.contains(&Check::ClockSkew));
    /// let p = ApplyOptions::default().waiving(&["clock".into()]).unwrap_err();
    /// assert_eq!((p.path.as_str(), p.value.as_str()), ("waive", "clock"));
    /// assert!(p.rule.contains("clock-skew"));
    /// ```
    ///
    /// # Errors
    /// A [`crate::spec::Problem`] with path `waive` naming an unknown check.
    pub fn waiving(mut self, names: &[String]) -> Result<Self, crate::spec::Problem> {
        for n in names {
            self.waive.insert(n.parse().map_err(|e: String| crate::spec::Problem::new("waive", n, e))?);
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
