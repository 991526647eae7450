//! Rolling upgrades of etcd, decided from facts: which members move to
//! the spec's version, in which order, or why the tool refuses.
//!
//! etcd supports upgrading one minor at a time (3.4 -> 3.5 -> 3.6 -> 3.7):
//! every member is restarted on the new binary, one after another, and the
//! cluster version only moves up once all members run the new minor. A
//! cluster with members at N and N+1 is the normal state in the middle of
//! such an upgrade, and a valid one to resume from. A jump of more than
//! one minor and a downgrade are refused. This module does no I/O: the
//! running versions are facts the engine reads from etcd itself
//! (`etcdctl endpoint status`), the decision is [`plan_upgrade`].
//!
//! ```
//! use k8s_bootstrap_core::etcd::upgrade::{plan_upgrade, RunningMember};
//! use k8s_bootstrap_core::spec::Version;
//! let at = |name: &str, v: Version, leader: bool| RunningMember { name: name.into(), version: Some(v), leader };
//! let members = [at("etcd01", Version::new(3, 4, 23), true), at("etcd02", Version::new(3, 4, 23), false), at("etcd03", Version::new(3, 4, 23), false)];
//! let plan = plan_upgrade(Version::new(3, 5, 1), &members)?;
//! assert_eq!(plan.order, ["etcd02", "etcd03", "etcd01"]); // one at a time, the leader last
//! let err = plan_upgrade(Version::new(3, 6, 16), &members).unwrap_err();
//! assert!(err.to_string().contains("upgrade 3.4 -> 3.5 first, then 3.5 -> 3.6"));
//! # Ok::<(), k8s_bootstrap_core::etcd::upgrade::UpgradeError>(())
//! ```

use crate::model::Version;

/// One etcd member as the running cluster reports it.
///
/// ```
/// use k8s_bootstrap_core::etcd::upgrade::RunningMember;
/// use k8s_bootstrap_core::spec::Version;
/// // A member that did not answer: its version is not known.
/// let down = RunningMember { name: "etcd03".into(), version: None, leader: false };
/// let up = RunningMember { name: "etcd01".into(), version: Some(Version::new(3, 5, 1)), leader: true };
/// assert!(down.version.is_none() && up.leader);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningMember {
    /// The spec's host name of the member.
    pub name: String,
    /// The version its server reports; `None` when it did not answer.
    pub version: Option<Version>,
    /// Whether it is the raft leader.
    pub leader: bool,
}

/// What an apply does to bring the running members to the spec's version.
///
/// ```
/// use k8s_bootstrap_core::etcd::upgrade::{plan_upgrade, RunningMember};
/// use k8s_bootstrap_core::spec::Version;
/// // Resuming: etcd01 and etcd02 already run 3.6, etcd03 still 3.5, etcd02 leads.
/// let m = |name: &str, minor, patch, leader| RunningMember { name: name.into(), version: Some(Version::new(3, minor, patch)), leader };
/// let plan = plan_upgrade(Version::new(3, 6, 16), &[m("etcd01", 6, 16, false), m("etcd02", 6, 16, true), m("etcd03", 5, 1, false)])?;
/// assert_eq!(plan.order, ["etcd03"]);
/// assert_eq!(plan.current, ["etcd01", "etcd02"]);
/// assert_eq!(plan.from("etcd03"), Some(Version::new(3, 5, 1)));
/// assert!(plan.is_upgrade());
/// # Ok::<(), k8s_bootstrap_core::etcd::upgrade::UpgradeError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpgradePlan {
    /// The members to restart onto the wanted version, one at a time, in
    /// this order (non-leaders first, the leader last), each with the
    /// version it runs now.
    pub steps: Vec<(String, Version)>,
    /// Their names, in the same order.
    pub order: Vec<String>,
    /// Members already at the wanted version.
    pub current: Vec<String>,
    /// Members whose version is not known (they did not answer): they get
    /// the wanted version when they start.
    pub unknown: Vec<String>,
}

impl UpgradePlan {
    /// Whether a running member moves to another minor (not only a
    /// patch level).
    ///
    /// ```
    /// use k8s_bootstrap_core::etcd::upgrade::UpgradePlan;
    /// assert!(!UpgradePlan::default().is_upgrade()); // nothing runs yet, or all at the wanted version
    /// ```
    pub fn is_upgrade(&self) -> bool {
        !self.steps.is_empty()
    }

    /// The version `member` runs now, when it is one of the steps.
    ///
    /// ```
    /// use k8s_bootstrap_core::etcd::upgrade::UpgradePlan;
    /// use k8s_bootstrap_core::spec::Version;
    /// let plan = UpgradePlan { steps: vec![("etcd02".into(), Version::new(3, 4, 23))], order: vec!["etcd02".into()], ..Default::default() };
    /// assert_eq!(plan.from("etcd02"), Some(Version::new(3, 4, 23)));
    /// assert_eq!(plan.from("etcd01"), None);
    /// ```
    pub fn from(&self, member: &str) -> Option<Version> {
        self.steps.iter().find(|(n, _)| n == member).map(|(_, v)| *v)
    }
}

/// Why an upgrade is refused; nothing has been changed on any host.
///
/// ```
/// use k8s_bootstrap_core::etcd::upgrade::{plan_upgrade, RunningMember, UpgradeError};
/// use k8s_bootstrap_core::spec::Version;
/// let m = RunningMember { name: "etcd01".into(), version: Some(Version::new(3, 6, 16)), leader: true };
/// let err = plan_upgrade(Version::new(3, 5, 1), &[m]).unwrap_err();
/// assert!(matches!(&err, UpgradeError::Downgrade { host, .. } if host == "etcd01"));
/// assert!(err.to_string().contains("downgrades are refused"));
/// // For front ends: bad input, about versions.etcd, on etcd01.
/// use k8s_bootstrap_core::error::{describe, ErrorKind};
/// let info = describe(&err).unwrap();
/// assert_eq!((info.kind, info.problems[0].path.as_str(), info.details.host.as_deref()), (ErrorKind::Invalid, "versions.etcd", Some("etcd01")));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UpgradeError {
    /// The wanted version is more than one minor above a running member's.
    #[error(
        "host {host}: etcd {running} runs there and versions.etcd is {wanted}: etcd upgrades one minor at a time; {}",
        path_text(*running, *wanted)
    )]
    Jump {
        /// The member.
        host: String,
        /// What it runs.
        running: Version,
        /// What the spec wants.
        wanted: Version,
        /// The minors to go through, in order, the wanted one last (`3.5`, `3.6`).
        path: Vec<Version>,
    },
    /// The wanted version is of an older minor than a running member's.
    #[error(
        "host {host}: etcd {running} runs there and versions.etcd is {wanted}, an older minor: downgrades are refused \
         (etcd 3.6 and later have a separate downgrade procedure, `etcdctl downgrade`, which this tool does not run); \
         keep versions.etcd at {}.{} or later",
        running.major, running.minor
    )]
    Downgrade {
        /// The member.
        host: String,
        /// What it runs.
        running: Version,
        /// What the spec wants.
        wanted: Version,
    },
    /// The wanted version is of another major version.
    #[error("host {host}: etcd {running} runs there and versions.etcd is {wanted}: upgrades across major versions are not supported")]
    Major {
        /// The member.
        host: String,
        /// What it runs.
        running: Version,
        /// What the spec wants.
        wanted: Version,
    },
}

/// "upgrade 3.4 -> 3.5 first, then 3.5 -> 3.6: ..."
fn path_text(running: Version, wanted: Version) -> String {
    let minors: Vec<Version> = (running.minor..=wanted.minor).map(|m| Version::minor(running.major, m)).collect();
    let hops: Vec<String> = minors.windows(2).map(|w| format!("{} -> {}", w[0], w[1])).collect();
    let mut text = format!("upgrade {} first", hops[0]);
    if hops.len() > 1 {
        text.push_str(&format!(", then {}", hops[1..].join(", then ")));
    }
    let sets: Vec<String> = minors[1..].iter().map(|v| format!("to a {v} release and apply")).collect();
    format!("{text}: set versions.etcd {}", sets.join(", then "))
}

/// Decides the rolling upgrade from the spec's `wanted` version and the
/// `members` as they run (in the spec's host order).
///
/// Every running member must be at the wanted minor or one below it; the
/// ones not at the wanted version restart one at a time, non-leaders
/// first and the leader last (one leader election in all). A patch-level
/// change (3.5.1 -> 3.5.17) rolls the same way.
///
/// ```
/// use k8s_bootstrap_core::etcd::upgrade::{plan_upgrade, RunningMember, UpgradeError};
/// use k8s_bootstrap_core::spec::Version;
/// let m = RunningMember { name: "etcd01".into(), version: Some(Version::new(3, 4, 23)), leader: true };
/// let Err(UpgradeError::Jump { path, .. }) = plan_upgrade(Version::new(3, 7, 3), &[m]) else { panic!() };
/// assert_eq!(path, [Version::minor(3, 5), Version::minor(3, 6), Version::minor(3, 7)]);
/// // Nothing runs yet (a first apply): nothing to decide.
/// assert!(!plan_upgrade(Version::new(3, 7, 3), &[])?.is_upgrade());
/// # Ok::<(), UpgradeError>(())
/// ```
///
/// # Errors
/// [`UpgradeError::Downgrade`] when a member runs a newer minor than
/// wanted, [`UpgradeError::Jump`] when one runs a minor more than one
/// below it, [`UpgradeError::Major`] across major versions. Downgrades are
/// checked first: a cluster is never moved further away from a version it
/// cannot reach.
pub fn plan_upgrade(wanted: Version, members: &[RunningMember]) -> Result<UpgradePlan, UpgradeError> {
    let known: Vec<(&RunningMember, Version)> = members.iter().filter_map(|m| m.version.map(|v| (m, v))).collect();
    for (m, v) in &known {
        if v.major != wanted.major {
            return Err(UpgradeError::Major { host: m.name.clone(), running: *v, wanted });
        }
    }
    if let Some((m, v)) = known.iter().find(|(_, v)| v.minor > wanted.minor) {
        return Err(UpgradeError::Downgrade { host: m.name.clone(), running: *v, wanted });
    }
    if let Some((m, v)) = known.iter().filter(|(_, v)| v.minor + 1 < wanted.minor).min_by_key(|(_, v)| v.minor) {
        let path = (v.minor + 1..=wanted.minor).map(|minor| Version::minor(wanted.major, minor)).collect();
        return Err(UpgradeError::Jump { host: m.name.clone(), running: *v, wanted, path });
    }
    let at_wanted = |v: Version| v.major_minor() == wanted.major_minor() && wanted.patch.is_none_or(|p| v.patch == Some(p));
    let mut plan = UpgradePlan::default();
    let (mut followers, mut leaders) = (Vec::new(), Vec::new());
    for m in members {
        match m.version {
            None => plan.unknown.push(m.name.clone()),
            Some(v) if at_wanted(v) => plan.current.push(m.name.clone()),
            Some(v) if m.leader => leaders.push((m.name.clone(), v)),
            Some(v) => followers.push((m.name.clone(), v)),
        }
    }
    plan.steps = followers.into_iter().chain(leaders).collect();
    plan.order = plan.steps.iter().map(|(n, _)| n.clone()).collect();
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(name: &str, v: Option<(u32, u32)>, leader: bool) -> RunningMember {
        RunningMember { name: name.into(), version: v.map(|(minor, patch)| Version::new(3, minor, patch)), leader }
    }

    fn three(minor: u32, patch: u32, leader: usize) -> Vec<RunningMember> {
        (0..3).map(|i| m(&format!("etcd0{}", i + 1), Some((minor, patch)), i == leader)).collect()
    }

    #[test]
    fn one_minor_up_goes_one_member_at_a_time_leader_last() {
        for (from, to) in [((4, 23), Version::new(3, 5, 1)), ((5, 1), Version::new(3, 6, 16)), ((6, 16), Version::new(3, 7, 3))] {
            let plan = plan_upgrade(to, &three(from.0, from.1, 0)).unwrap();
            assert_eq!(plan.order, ["etcd02", "etcd03", "etcd01"], "{from:?} -> {to}");
            assert!(plan.current.is_empty() && plan.unknown.is_empty());
            assert!(plan.steps.iter().all(|(_, v)| *v == Version::new(3, from.0, from.1)));
        }
        // The leader in the middle of the host list still goes last.
        assert_eq!(plan_upgrade(Version::new(3, 5, 1), &three(4, 23, 1)).unwrap().order, ["etcd01", "etcd03", "etcd02"]);
    }

    #[test]
    fn jump_of_more_than_one_minor_is_refused_with_the_path() {
        let err = plan_upgrade(Version::new(3, 6, 16), &three(4, 23, 0)).unwrap_err();
        let UpgradeError::Jump { host, running, wanted, path } = &err else { panic!("{err:?}") };
        assert_eq!((host.as_str(), *running, *wanted), ("etcd01", Version::new(3, 4, 23), Version::new(3, 6, 16)));
        assert_eq!(path, &[Version::minor(3, 5), Version::minor(3, 6)]);
        assert_eq!(
            err.to_string(),
            "host etcd01: etcd 3.4.23 runs there and versions.etcd is 3.6.16: etcd upgrades one minor at a time; \
             upgrade 3.4 -> 3.5 first, then 3.5 -> 3.6: set versions.etcd to a 3.5 release and apply, then to a 3.6 release and apply"
        );
        let err = plan_upgrade(Version::new(3, 7, 3), &three(4, 23, 2)).unwrap_err();
        assert!(err.to_string().contains("upgrade 3.4 -> 3.5 first, then 3.5 -> 3.6, then 3.6 -> 3.7"), "{err}");
    }

    #[test]
    fn downgrade_is_refused_also_from_a_mixed_cluster() {
        let err = plan_upgrade(Version::new(3, 4, 23), &three(5, 1, 0)).unwrap_err();
        assert!(matches!(&err, UpgradeError::Downgrade { host, .. } if host == "etcd01"), "{err:?}");
        assert!(err.to_string().contains("`etcdctl downgrade`, which this tool does not run"), "{err}");
        assert!(err.to_string().contains("keep versions.etcd at 3.5 or later"), "{err}");
        // Halfway from 3.5 to 3.6: going back to 3.5 is a downgrade of etcd02.
        let mixed = [m("etcd01", Some((5, 1)), true), m("etcd02", Some((6, 16)), false), m("etcd03", Some((5, 1)), false)];
        let err = plan_upgrade(Version::new(3, 5, 1), &mixed).unwrap_err();
        assert!(matches!(&err, UpgradeError::Downgrade { host, running, .. } if host == "etcd02" && *running == Version::new(3, 6, 16)));
        // A downgrade wins over a jump: 3.4 and 3.6 members with 3.5 wanted.
        let odd = [m("etcd01", Some((4, 23)), true), m("etcd02", Some((6, 16)), false)];
        assert!(matches!(plan_upgrade(Version::new(3, 5, 1), &odd), Err(UpgradeError::Downgrade { .. })));
        // Another major.
        assert!(matches!(plan_upgrade(Version::new(4, 0, 0), &three(7, 3, 0)), Err(UpgradeError::Major { .. })));
    }

    #[test]
    fn mixed_n_and_n_plus_one_resumes_with_the_rest() {
        let mixed = [m("etcd01", Some((6, 16)), false), m("etcd02", Some((5, 1)), true), m("etcd03", Some((5, 1)), false)];
        let plan = plan_upgrade(Version::new(3, 6, 16), &mixed).unwrap();
        assert_eq!(plan.order, ["etcd03", "etcd02"]);
        assert_eq!(plan.current, ["etcd01"]);
        // ... and going on to 3.7 from there is a jump for the 3.5 members.
        let err = plan_upgrade(Version::new(3, 7, 3), &mixed).unwrap_err();
        assert!(matches!(&err, UpgradeError::Jump { host, .. } if host == "etcd02"), "{err:?}");
    }

    #[test]
    fn unknown_members_and_patch_levels() {
        // A member that did not answer is neither refused nor ordered.
        let some_down = [m("etcd01", Some((4, 23)), true), m("etcd02", None, false), m("etcd03", Some((4, 23)), false)];
        let plan = plan_upgrade(Version::new(3, 5, 1), &some_down).unwrap();
        assert_eq!((plan.order.as_slice(), plan.unknown.as_slice()), (&["etcd03".to_string(), "etcd01".into()][..], &["etcd02".to_string()][..]));
        // All at the wanted version: nothing to do; a spec without a patch level matches any.
        assert!(!plan_upgrade(Version::new(3, 5, 1), &three(5, 1, 0)).unwrap().is_upgrade());
        assert!(!plan_upgrade(Version::minor(3, 5), &three(5, 1, 0)).unwrap().is_upgrade());
        // A patch change within a minor rolls too, either way.
        assert_eq!(plan_upgrade(Version::new(3, 5, 17), &three(5, 1, 2)).unwrap().order, ["etcd01", "etcd02", "etcd03"]);
        assert_eq!(plan_upgrade(Version::new(3, 5, 1), &three(5, 17, 2)).unwrap().order.len(), 3);
    }
}
