//! An etcd membership change brought to the hosts in one call: the new spec
//! applied (the engine adds or removes the member), then a host that left
//! the spec reset with the spec it was part of.

#[cfg(feature = "ssh")]
use std::{collections::BTreeSet, sync::Arc};

use serde::Serialize;

#[cfg(feature = "ssh")]
use super::{ApplyOptions, Engine, OpenError, OpenOptions, Progress};
use super::Report;
#[cfg(feature = "ssh")]
use crate::spec::{MemberAction, MemberChange};

/// What [`change_member`] did: the apply of the new spec and, when the host
/// left the spec, its cleanup. As JSON, `{"apply": ..., "cleanup": ...}`
/// (no `cleanup` key when there was none).
///
/// ```
/// use k8s_bootstrap_core::apply::{MemberReports, Report};
/// let r = MemberReports { apply: Report::default(), cleanup: None, warnings: vec![] };
/// assert!(r.ok());
/// assert_eq!(serde_json::to_value(&r).unwrap()["apply"]["dry_run"], false);
/// assert!(serde_json::to_value(&r).unwrap().get("cleanup").is_none());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MemberReports {
    /// The apply of the spec after the change.
    pub apply: Report,
    /// The reset (with `purge`) of a host that left the spec, run with the
    /// spec before the change once the apply went well; `None` otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cleanup: Option<Report>,
    /// Warnings for people met while getting ready (each once), as
    /// [`super::Opened::warnings`].
    #[serde(skip)]
    pub warnings: Vec<String>,
}

impl MemberReports {
    /// The apply and the cleanup, if any, went well.
    ///
    /// ```
    /// use k8s_bootstrap_core::apply::{MemberReports, Report};
    /// let aborted = Report { aborted: Some("interrupted".into()), ..Report::default() };
    /// let r = MemberReports { apply: Report::default(), cleanup: Some(aborted), warnings: vec![] };
    /// assert!(!r.ok());
    /// ```
    pub fn ok(&self) -> bool {
        self.apply.ok() && self.cleanup.as_ref().is_none_or(Report::ok)
    }
}

/// Brings the hosts to a membership change: opens the engine for
/// [`MemberChange::after`] ([`super::open`] with `opts`) and applies it with
/// `run` (a new member joins the running cluster; a removed one leaves it and
/// its etcd data is wiped). When the host left the spec
/// ([`MemberAction::HostRemoved`]) and the apply went well, the host is then
/// reset with `purge`, through the spec it was part of
/// ([`MemberChange::before`], opened without writing the PKI folder).
/// `progress` receives the events of both runs; `run.cancel` stops both.
///
/// The spec file is the caller's: write [`MemberChange::yaml`] to it first,
/// so that a run stopped half-way is resumed by `apply`.
///
/// ```no_run
/// use k8s_bootstrap_core::apply::{change_member, ApplyOptions, OpenOptions};
/// use k8s_bootstrap_core::spec::MemberChange;
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let yaml = std::fs::read_to_string("cluster.yaml")?;
/// let change = MemberChange::remove(&yaml, "etcd03")?;
/// std::fs::write("cluster.yaml", &change.yaml)?;
/// let reports = change_member(&change, &OpenOptions::beside_spec("cluster.yaml"), &ApplyOptions::default(), None).await?;
/// assert!(reports.ok(), "{reports:#?}");
/// # Ok(()) }
/// ```
///
/// # Errors
/// [`OpenError`] from either open; nothing was done on any host by the one
/// that failed.
#[cfg(feature = "ssh")]
pub async fn change_member(
    change: &MemberChange,
    opts: &OpenOptions,
    run: &ApplyOptions,
    progress: Option<Arc<dyn Progress>>,
) -> Result<MemberReports, OpenError> {
    let with = |e: Engine| match &progress {
        Some(p) => e.with_progress(p.clone()),
        None => e,
    };
    let opened = super::open(&change.after, opts).await?;
    let mut warnings = opened.warnings;
    // The engine (and with it the PKI folder's lock) lives until the cleanup is done.
    let engine = with(opened.engine);
    let apply = engine.apply(run).await;
    let mut cleanup = None;
    if change.action == MemberAction::HostRemoved && apply.ok() {
        let old_opts = OpenOptions { dry_run: true, ..opts.clone() };
        let old = super::open(&change.before, &old_opts).await?;
        for w in old.warnings {
            if !warnings.contains(&w) {
                warnings.push(w);
            }
        }
        let only = ApplyOptions { only: Some(BTreeSet::from([change.name.clone()])), until: None, ..run.clone() };
        cleanup = Some(with(old.engine).reset(&only, true).await);
    }
    drop(engine);
    Ok(MemberReports { apply, cleanup, warnings })
}
