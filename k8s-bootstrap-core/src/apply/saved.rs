//! A plan saved to a file (`plan --out FILE`) and the check that it still
//! fits the hosts before `apply FILE` runs it.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::{Failure, Stage, facts, plan};

/// A plan saved by `plan --out FILE` (see [`Engine::plan_saved`](super::Engine::plan_saved)): the
/// steps, the facts of every host they were made from, the run's limits,
/// and a fingerprint of the desired state. JSON with serde.
///
/// ```
/// use k8s_bootstrap_core::apply::SavedPlan;
/// let text = r#"{"format":1,"desired":"9f2c","facts":{},"only":null,"until":"etcd",
///   "plan":{"stages":[],"notes":[],"unchanged":{},"failed":{},"refused":null}}"#;
/// let saved: SavedPlan = serde_json::from_str(text).unwrap();
/// assert_eq!((saved.format, saved.plan.change_count()), (SavedPlan::FORMAT, 0));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct SavedPlan {
    /// [`SavedPlan::FORMAT`].
    pub format: u32,
    /// sha256 of the spec and of every file the hosts get.
    pub desired: String,
    /// The facts, by host.
    pub facts: BTreeMap<String, facts::HostFacts>,
    /// `--only`.
    pub only: Option<BTreeSet<String>>,
    /// `--phase`.
    pub until: Option<Stage>,
    /// The plan.
    pub plan: plan::Plan,
}

impl SavedPlan {
    /// The format this version writes and reads.
    pub const FORMAT: u32 = 1;

    /// Why this plan may not run on hosts whose facts are `facts` now
    /// (`None`: it may).
    pub(super) fn stale(&self, desired: &str, facts: &BTreeMap<String, Result<facts::HostFacts, Failure>>, plan: &plan::Plan) -> Option<String> {
        if self.format != Self::FORMAT {
            return Some(format!("the plan file is of format {}, this version reads {}: make the plan again", self.format, Self::FORMAT));
        }
        if self.desired != desired {
            return Some("the spec, the certificates or the binaries changed since the plan was made: nothing was changed; make the plan again".into());
        }
        for (host, now) in facts {
            let then = self.facts.get(host);
            let what = match (then, now) {
                (Some(then), Ok(now)) => facts::first_difference(then, now),
                (None, Ok(_)) => Some("it could not be read when the plan was made".into()),
                (Some(_), Err(f)) => Some(format!("it cannot be read now: {}", f.error)),
                (None, Err(_)) => None,
            };
            if let Some(what) = what {
                return Some(format!("{host} changed since the plan was made ({what}): nothing was changed; make the plan again"));
            }
        }
        // Preflight's findings carry numbers that move between reads (free
        // space, the clock): not the plan's steps, and judged afresh anyway.
        let steps = |p: &plan::Plan| plan::Plan { preflight: Vec::new(), refused: None, ..p.clone() };
        if steps(plan) != steps(&self.plan) {
            return Some("the plan made from the same facts differs from the saved one (a plan file edited by hand, or of another version): nothing was changed".into());
        }
        None
    }
}
