//! The plan: a pure function of the desired state and the facts.
//!
//! The planner takes what every host should have (the desired state) and what it
//! has ([`HostFacts`], read in one round trip per host) and returns the
//! ordered, typed steps that bring one to the other, each with its reason,
//! stage by stage. It does no I/O: it is tested with facts values alone,
//! and `apply` executes exactly what it returns.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::docker::{DockerInstall, DockerMode, EngineInstall, CHECK_ELSEWHERE};
use crate::etcd::upgrade::{plan_upgrade, RunningMember, UpgradePlan};
use crate::hostprep::OsFamily;
use crate::render::{HostRender, Phase};
use crate::spec::{ClusterSpec, Role, Version};

use super::desired::DesiredFile;
use super::facts::HostFacts;
use super::{diff, Failure, FailureKind, Stage};

/// What one step does (the executor's instruction).
///
/// ```
/// use k8s_bootstrap_core::apply::plan::Op;
/// let op = Op::Restart { unit: "etcd".into(), block: true };
/// assert_eq!(serde_json::to_string(&op).unwrap(), r#"{"op":"restart","unit":"etcd","block":true}"#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Op {
    /// A rendered command whose check failed (or that has none).
    Run {
        /// The command.
        argv: Vec<String>,
        /// Its check, when the facts could not read it (it asks etcd, and
        /// etcd did not run yet): the command is skipped if it passes then.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        check: Option<Vec<String>>,
        /// Only on hosts of this OS family. Set in a plan made before the
        /// host's OS is known (the plan for bare hosts, `commands.sh`); a
        /// plan made from facts keeps only the steps of the host's OS.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        os: Option<OsFamily>,
    },
    /// Install the container engine as `docker.install` says, for `os`.
    InstallEngine {
        /// The host's OS family (its package manager).
        os: OsFamily,
    },
    /// Remove a file (a temporary file left by a killed upload).
    Remove {
        /// Its path.
        path: String,
    },
    /// Write the desired file at `path` (atomically).
    Write {
        /// Its path.
        path: String,
        /// The host's copy is absent or has other contents (the facts say
        /// so): they are sent without asking the host again. `false`: only
        /// mode or owner differ, and the transport looks before sending.
        #[serde(default)]
        send: bool,
    },
    /// `systemctl daemon-reload`.
    DaemonReload,
    /// Start a unit.
    Start {
        /// The unit.
        unit: String,
        /// Wait until it reports ready.
        block: bool,
        /// First wait (a few seconds at most) until another member serves
        /// its peers: see [`PeerWait`].
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<PeerWait>,
    },
    /// Restart a unit.
    Restart {
        /// The unit.
        unit: String,
        /// Wait until it reports ready.
        block: bool,
    },
    /// Join this host's etcd member to the running cluster (`member add`
    /// on `via` unless an earlier run added it, then start it with initial
    /// state `existing`).
    EtcdJoin {
        /// The member the membership change runs on.
        via: String,
        /// An earlier run added it and it never started.
        known: bool,
        /// The id this host's member had, whose data dir is gone: stop
        /// etcd here and `member remove` it first (the member is replaced).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        replace: Option<String>,
        /// Its data dir holds a member the cluster no longer has (removed
        /// out of band): moved aside (`DIR.replaced-EPOCH`), never deleted.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        move_data: bool,
    },
    /// `member remove` (run on this host) of a member the spec no longer has.
    EtcdRemove {
        /// The member's id.
        id: String,
        /// Its name or peer URL.
        label: String,
    },
    /// Stop etcd and wipe its data dir: this host's member was removed.
    EtcdRetire,
}

/// A member of a new etcd cluster starts once the member started before
/// it completes a TLS handshake on its peer port, not at the same moment.
///
/// A new member first asks every peer whether the cluster is already
/// bootstrapped, 1 s at most per peer. A peer that started at the same
/// moment has opened its peer port but does not answer on it yet (it is
/// asking the same question), so the question waits out its second, once
/// per such peer: 3 members started together took 2 s more to become
/// healthy in 7 runs of 9. Started in turn, each finds the earlier ones
/// answering (or not there at all), and the cluster is healthy about 1 s
/// after the first start. The wait gives up after 10 s (the start goes
/// ahead; the health gate judges) and is skipped on a host without
/// `openssl`.
///
/// ```
/// use k8s_bootstrap_core::apply::plan::{Op, PeerWait};
/// let w = PeerWait { member: "etcd01".into(), address: "10.0.0.1:2380".into(), cert: "/opt/etcd/ssl/etcd02-peer.pem".into(), key: "/opt/etcd/ssl/etcd02-peer-key.pem".into() };
/// let op = Op::Start { unit: "etcd".into(), block: false, after: Some(w) };
/// assert_eq!(serde_json::to_value(&op).unwrap()["after"]["member"], "etcd01");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerWait {
    /// The member waited for.
    pub member: String,
    /// Its peer address, `IP:PORT`.
    pub address: String,
    /// The certificate this member shows in the handshake (its peer cert:
    /// the peer port asks for a client certificate).
    pub cert: String,
    /// Its key.
    pub key: String,
}

/// One step of the plan on a host.
///
/// ```
/// use k8s_bootstrap_core::apply::plan::{Op, Step};
/// let s = Step { what: "restart etcd (/opt/etcd/cfg/etcd changed)".into(), diff: None, op: Op::Restart { unit: "etcd".into(), block: true } };
/// let json = serde_json::to_value(&s).unwrap();
/// assert_eq!((json["op"].as_str(), json["unit"].as_str()), (Some("restart"), Some("etcd"))); // the op flattened in
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// What it does and why, for people (the report's change).
    pub what: String,
    /// The unified diff of a file it writes (private keys redacted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    /// What the executor does.
    #[serde(flatten)]
    pub op: Op,
}

/// What must hold before the next wave starts.
///
/// ```
/// use k8s_bootstrap_core::apply::plan::Gate;
/// let g = Gate::Healthy { pending: vec!["etcd04".into()] }; // etcd04 has not joined yet
/// assert_eq!(serde_json::to_string(&g).unwrap(), r#"{"gate":"healthy","pending":["etcd04"]}"#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "gate", rename_all = "kebab-case")]
pub enum Gate {
    /// Every etcd member still in the run is healthy and they are a quorum
    /// (members in `pending` have not joined yet and are not waited for).
    Healthy {
        /// Members not waited for.
        pending: Vec<String>,
    },
    /// `member` reports the wanted version and has caught up with the leader.
    CaughtUp {
        /// The member.
        member: String,
    },
}

/// Steps that run on their hosts in parallel, then gates.
///
/// ```
/// use k8s_bootstrap_core::apply::plan::{Gate, Wave};
/// let w = Wave { gates: vec![Gate::CaughtUp { member: "etcd02".into() }], ..Wave::default() };
/// assert!(w.hosts.is_empty()); // a wave may only wait
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wave {
    /// Per host, in order.
    pub hosts: BTreeMap<String, Vec<Step>>,
    /// Checked after the steps, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gates: Vec<Gate>,
}

/// The waves of one stage.
///
/// ```
/// use k8s_bootstrap_core::apply::Stage;
/// use k8s_bootstrap_core::apply::plan::StagePlan;
/// let s = StagePlan { stage: Stage::Install, waves: vec![] };
/// assert_eq!(serde_json::to_value(&s).unwrap()["stage"], "install");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StagePlan {
    /// The stage.
    pub stage: Stage,
    /// Its waves, in order.
    pub waves: Vec<Wave>,
}

/// A note of the plan (on a host, or on the cluster when `host` is `None`).
///
/// ```
/// use k8s_bootstrap_core::apply::plan::Note;
/// let n = Note { host: None, message: "etcd upgrade refused, nothing was changed: ...".into() };
/// assert!(n.host.is_none()); // about the cluster, not one host
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    /// The host it is about.
    pub host: Option<String>,
    /// The note.
    pub message: String,
}

/// The plan: what apply does, stage by stage, and why.
///
/// ```
/// use k8s_bootstrap_core::apply::plan::{Op, Plan, StagePlan, Step, Wave};
/// use k8s_bootstrap_core::apply::Stage;
/// let step = Step { what: "enable flanneld at boot".into(), diff: None, op: Op::Run { argv: vec!["systemctl".into(), "enable".into(), "flanneld".into()], check: None, os: None } };
/// let wave = Wave { hosts: [("etcd03".to_string(), vec![step])].into(), gates: vec![] };
/// let plan = Plan { stages: vec![StagePlan { stage: Stage::Install, waves: vec![wave] }], ..Plan::default() };
/// assert_eq!(plan.change_count(), 1);
/// let (stage, host, s) = plan.steps().next().unwrap();
/// assert_eq!((stage, host, s.what.as_str()), (Stage::Install, "etcd03", "enable flanneld at boot"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// The stages with something to do or to check, in order.
    pub stages: Vec<StagePlan>,
    /// What a reader should know (an OS not recognised, a unit not started and why).
    pub notes: Vec<Note>,
    /// Per host, how many things already are as they should be.
    pub unchanged: BTreeMap<String, usize>,
    /// Hosts that cannot go on: their facts could not be read, or what
    /// they have rules the plan out (a dockerd elsewhere).
    pub failed: BTreeMap<String, Failure>,
    /// Why nothing may run (an etcd upgrade that skips a minor, a
    /// preflight problem not waived).
    pub refused: Option<String>,
    /// What preflight found, waived or not.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preflight: Vec<super::preflight::Finding>,
}

impl Plan {
    /// Every step with its stage and host, in execution order.
    pub fn steps(&self) -> impl Iterator<Item = (Stage, &str, &Step)> {
        self.stages.iter().flat_map(|s| s.waves.iter().flat_map(move |w| w.hosts.iter().flat_map(move |(h, steps)| steps.iter().map(move |st| (s.stage, h.as_str(), st)))))
    }
    /// The number of steps that change something.
    pub fn change_count(&self) -> usize {
        self.steps().count()
    }
}

/// What one host should be, as the plan reads it.
pub(super) struct DesiredHost<'a> {
    pub(super) name: &'a str,
    pub(super) roles: &'a BTreeSet<Role>,
    /// `hosts[].os` of the spec.
    pub(super) os: Option<OsFamily>,
    pub(super) render: &'a HostRender,
    pub(super) files: &'a [DesiredFile],
    /// sha256 of each of `files`, in order.
    pub(super) digests: &'a [String],
    /// The size of each of `files`, in order.
    pub(super) sizes: Vec<u64>,
    /// In this run (`--only`).
    pub(super) selected: bool,
}

/// The desired state of the run.
pub(super) struct Desired<'a> {
    pub(super) spec: &'a ClusterSpec,
    pub(super) hosts: Vec<DesiredHost<'a>>,
    /// The package files of `docker.install: { offline: DIR }` on the control machine.
    pub(super) packages: Vec<String>,
    /// The last stage of the run (`--phase`).
    pub(super) until: Option<Stage>,
    /// The facts are assumed, not read: hosts that have nothing yet and
    /// whose OS is told at run time (`commands.sh`). OS-specific steps are
    /// kept, each marked with its OS.
    pub(super) bare: bool,
    /// Preflight checks not to refuse on.
    pub(super) waive: BTreeSet<super::preflight::Check>,
}

/// A flanneld binary path not uploaded by the spec: the probe looks at it.
pub(super) fn flanneld_bin(spec: &ClusterSpec) -> String {
    format!("{}/bin/flanneld", spec.layout.kubernetes_dir)
}

/// The package files of `all` for hosts of `os` (`.deb` or `.rpm`).
pub(super) fn packages_for(all: &[String], os: OsFamily) -> Vec<String> {
    let ext = format!(".{}", EngineInstall::package_ext(os));
    all.iter().filter(|f| f.ends_with(&ext)).cloned().collect()
}

/// The etcdctl wrapper with the admin client certificate, on a member.
pub(super) fn etcdctl_admin(spec: &ClusterSpec) -> String {
    format!("{}/bin/etcdctl-admin", spec.layout.etcd_dir)
}

/// Where the unit file of `unit` goes.
pub(super) fn unit_path(spec: &ClusterSpec, unit: &str) -> String {
    format!("{}/{unit}.service", spec.layout.systemd_dir)
}

/// The peer URL of the spec host `name`.
pub(super) fn peer_url(spec: &ClusterSpec, name: &str) -> String {
    format!("https://{}", peer_address(spec, name))
}

/// `ADDRESS:PEER_PORT` of the spec host `name`: where its peer port listens.
fn peer_address(spec: &ClusterSpec, name: &str) -> String {
    format!("{}:{}", host_address(spec, name), spec.etcd.peer_port)
}

/// The client URL (`https://ADDRESS:CLIENT_PORT`) of the spec host `name`:
/// its own member, for an etcdctl that must talk to that member alone.
pub(super) fn client_url(spec: &ClusterSpec, name: &str) -> String {
    format!("https://{}:{}", host_address(spec, name), spec.etcd.client_port)
}

/// The address of the spec host `name` (empty for a name the spec lacks).
fn host_address(spec: &ClusterSpec, name: &str) -> String {
    spec.hosts.iter().find(|h| h.name == name).map(|h| h.address.to_string()).unwrap_or_default()
}

/// `systemctl VERB UNIT` (`--no-block` unless `block`), after clearing
/// the unit's failed state (a unit that failed to start before is started
/// afresh, not refused by its start limit).
pub(super) fn unit_command(unit: &str, verb: &str, block: bool) -> Vec<String> {
    unit_command_after(unit, verb, block, None)
}

/// [`unit_command`], after the [`PeerWait`] `after` when there is one.
pub(super) fn unit_command_after(unit: &str, verb: &str, block: bool, after: Option<&PeerWait>) -> Vec<String> {
    let body = if unit == "flanneld" && block {
        // flanneld (0.28, etcd v3 registry) that loses a race for a new
        // subnet to another node starting at the same moment gets "subnet
        // already exists" back from its own transaction and exits instead
        // of picking again (its v2 registry retried). Started again, it
        // sees the other's lease and picks another: at most 3 tries, and
        // only for that message in this start's journal.
        FLANNELD_START
    } else {
        "u=$1; shift; systemctl reset-failed -- \"$u\" 2>/dev/null; exec systemctl \"$@\" -- \"$u\""
    };
    let mut argv: Vec<String> = vec!["sh".into(), "-c".into()];
    match after {
        Some(w) => {
            argv.extend([format!("{PEER_WAIT}\n{body}"), "sh".into()]);
            argv.extend([w.address.clone(), w.cert.clone(), w.key.clone()]);
        }
        None => argv.extend([body.to_string(), "sh".into()]),
    }
    argv.extend([unit.to_string(), verb.to_string()]);
    if !block {
        argv.push("--no-block".into());
    }
    argv
}

/// The wait of [`PeerWait`], before the start: `$1` the peer's address,
/// `$2` and `$3` this member's certificate and key; the unit command's own
/// arguments follow.
const PEER_WAIT: &str = r#"a=$1 c=$2 k=$3; shift 3
if command -v openssl >/dev/null 2>&1; then
  end=$(($(date +%s) + 10))
  until timeout 0.3 openssl s_client -connect "$a" -cert "$c" -key "$k" </dev/null >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$end" ] || break
    sleep 0.05
  done
fi"#;

/// `systemctl start|restart flanneld`, tried again (at most 3 times in
/// all) when flanneld lost a lease race: see [`unit_command`].
const FLANNELD_START: &str = "u=$1; shift; n=0\n\
while :; do\n\
  systemctl reset-failed -- \"$u\" 2>/dev/null; since=$(date +%s)\n\
  if systemctl \"$@\" -- \"$u\"; then exit 0; fi\n\
  n=$((n + 1)); [ \"$n\" -lt 3 ] || exit 1\n\
  journalctl -u \"$u\" --since \"@$since\" -o cat --no-pager 2>/dev/null | grep -q 'subnet already exists' || exit 1\n\
done";

/// The one command that carries out `op` on its host, as the executor runs
/// it and `commands.sh` shows it (`None`: not a command of its host: a
/// write is an upload, a join runs on two hosts; `packages`: the package
/// files of `docker.install: { offline: DIR }`).
pub(super) fn op_command(spec: &ClusterSpec, packages: &[String], op: &Op) -> Option<Result<Vec<String>, String>> {
    Some(Ok(match op {
        Op::Run { argv, .. } => argv.clone(),
        Op::DaemonReload => vec!["systemctl".into(), "daemon-reload".into()],
        Op::Start { unit, block, after } => unit_command_after(unit, "start", *block, after.as_ref()),
        Op::Restart { unit, block } => unit_command(unit, "restart", *block),
        Op::Remove { path } => vec!["rm".into(), "-f".into(), "--".into(), path.clone()],
        Op::InstallEngine { os } => match EngineInstall::from_spec(spec).steps(*os, &packages_for(packages, *os)) {
            Ok(steps) => steps.argv,
            Err(p) => return Some(Err(p.to_string())),
        },
        Op::EtcdRemove { id, .. } => vec![etcdctl_admin(spec), "member".into(), "remove".into(), id.clone()],
        Op::EtcdRetire => ["sh", "-c", "systemctl disable --now etcd && rm -rf -- \"$1\"", "sh", spec.etcd.data_dir.as_str()].map(String::from).into(),
        Op::Write { .. } | Op::EtcdJoin { .. } => return None,
    }))
}

/// Per-host planning state.
struct HostPlan<'d, 'a> {
    d: &'d DesiredHost<'a>,
    facts: &'d HostFacts,
    os: Option<OsFamily>,
    /// The facts are assumed (see [`Desired::bare`]).
    bare: bool,
    /// Paths this plan writes.
    writes: BTreeSet<String>,
    /// Units this plan starts or restarts.
    starts: BTreeSet<String>,
    unchanged: usize,
}

impl HostPlan<'_, '_> {
    /// Why the running `unit` must restart, if it must: a file it reads is
    /// written by this plan, or is newer than the unit's start (an earlier
    /// run wrote it and stopped before the restart).
    fn restart_reason(&self, unit: &str) -> Option<String> {
        let deps = self.d.files.iter().filter(|f| f.restarts.iter().any(|u| u == unit));
        let since = self.facts.unit(unit).active_since;
        let mut newer = None;
        for f in deps {
            if self.writes.contains(&f.path) {
                return Some(format!("{} changed", f.path));
            }
            if let (Some(t), Some(Some(ff))) = (since, self.facts.files.get(&f.path))
                && ff.mtime > t
            {
                newer.get_or_insert_with(|| format!("{} is newer than the running {unit}: an earlier apply stopped before restarting it", f.path));
            }
        }
        newer
    }

    /// Start `unit` when it does not run, restart it when `reason`
    /// (or [`Self::restart_reason`]) says so.
    fn ensure(&mut self, unit: &str, block: bool, force: Option<String>, label: Option<&str>) -> Option<Step> {
        let fact = self.facts.unit(unit);
        let (op, why) = if !fact.running() {
            (Op::Start { unit: unit.into(), block, after: None }, "not running".to_string())
        } else if let Some(why) = self.restart_reason(unit).or(force) {
            (Op::Restart { unit: unit.into(), block }, why)
        } else {
            self.unchanged += 1;
            return None;
        };
        self.starts.insert(unit.to_string());
        let verb = if matches!(op, Op::Start { .. }) { "start" } else { "restart" };
        let what = match label {
            Some(l) => format!("{l}: {verb} {unit} ({why})"),
            None => format!("{verb} {unit} ({why})"),
        };
        Some(Step { what, diff: None, op })
    }

    /// The rendered commands of `phase` that have something to do: no
    /// check, or a check that failed; on this host's OS.
    fn commands(&mut self, phase: Phase) -> Vec<Step> {
        let mut steps = Vec::new();
        for c in self.d.render.commands.iter().filter(|c| c.phase == phase) {
            // OS-specific: kept on its OS; before the OS is known, kept and marked.
            let os = match (c.os, self.os) {
                (Some(want), Some(have)) if want != have => continue,
                (Some(_), None) if !self.bare => continue,
                (Some(want), None) => Some(want),
                _ => None,
            };
            let fact = c.check.as_ref().map(|_| self.facts.checks.get(&super::facts::check_key(c)).copied());
            let check = match fact {
                Some(Some(true)) => {
                    self.unchanged += 1;
                    continue;
                }
                // Not read (etcd did not run when the facts were read): checked when it runs.
                Some(None) => c.check.clone(),
                Some(Some(false)) | None => None,
            };
            steps.push(Step { what: c.description.clone(), diff: None, op: Op::Run { argv: c.argv.clone(), check, os } });
        }
        steps
    }
}

/// The plan for `desired` on hosts whose facts are `facts` (by host name;
/// an `Err` is a host that could not be read).
pub(super) fn make(desired: &Desired<'_>, facts: &BTreeMap<String, Result<HostFacts, Failure>>) -> Plan {
    let spec = desired.spec;
    let mut plan = Plan::default();
    let mut hosts: Vec<HostPlan<'_, '_>> = Vec::new();
    for d in desired.hosts.iter().filter(|d| d.selected) {
        match facts.get(d.name) {
            Some(Ok(f)) => hosts.push(HostPlan { d, facts: f, os: d.os.or(f.os), bare: desired.bare, writes: BTreeSet::new(), starts: BTreeSet::new(), unchanged: 0 }),
            Some(Err(failure)) => {
                plan.failed.insert(d.name.to_string(), failure.clone());
            }
            None => {
                let failure = Failure { stage: Stage::HostPrep, step: "read the host's facts".into(), kind: FailureKind::Other, error: format!("{}: no facts were read", d.name), log: None };
                plan.failed.insert(d.name.to_string(), failure);
            }
        }
    }
    // The etcd cluster as its running members describe it.
    let cluster = etcd_facts(desired, facts).into_iter().map(|(_, e)| e).find(|e| !e.members.is_empty() || !e.endpoints.is_empty());
    let upgrade = match upgrade_of(desired, facts) {
        Ok(u) => u,
        Err(why) => {
            plan.notes.push(Note { host: None, message: why.clone() });
            plan.refused = Some(why);
            UpgradePlan::default()
        }
    };
    upgrade_notes(spec, &upgrade, &mut plan.notes);
    let stages: Vec<Stage> = match desired.until {
        Some(u) => Stage::ALL.iter().copied().take_while(|s| *s <= u).collect(),
        None => Stage::ALL.to_vec(),
    };
    let mut failed: BTreeMap<String, Failure> = BTreeMap::new();
    for stage in stages {
        let mut waves = match stage {
            Stage::Etcd => etcd_waves(spec, &mut hosts, cluster, &upgrade, &failed, &mut plan.notes),
            _ => {
                let mut wave = Wave::default();
                for h in hosts.iter_mut() {
                    if failed.contains_key(h.d.name) {
                        continue;
                    }
                    match host_stage(desired, stage, h, &mut plan.notes) {
                        Ok(steps) if steps.is_empty() => {}
                        Ok(steps) => {
                            wave.hosts.insert(h.d.name.to_string(), steps);
                        }
                        Err(f) => {
                            failed.insert(h.d.name.to_string(), f);
                        }
                    }
                }
                vec![wave]
            }
        };
        waves.retain(|w| !w.hosts.is_empty() || !w.gates.is_empty());
        if !waves.is_empty() {
            plan.stages.push(StagePlan { stage, waves });
        }
    }
    plan.failed.extend(failed);
    plan.unchanged = hosts.iter().map(|h| (h.d.name.to_string(), h.unchanged)).collect();
    if !desired.bare {
        preflight(desired, &hosts, &mut plan);
    }
    plan
}

/// The start of the report's note of a waived preflight finding (the
/// finding itself is in the plan's `preflight`).
pub(super) const WAIVED: &str = "preflight, waived: ";

/// Preflight on every host the plan acts on: findings, and the refusal of
/// those not waived.
fn preflight(desired: &Desired<'_>, hosts: &[HostPlan<'_, '_>], plan: &mut Plan) {
    let spec = desired.spec;
    let etcd = crate::etcd::EtcdCluster::from_spec(spec);
    let env = etcd.env_file();
    for h in hosts {
        let member = h.d.roles.contains(&Role::Etcd);
        let vxlan = spec.hosts.iter().find(|s| s.name == h.d.name).and_then(|s| crate::hostprep::HostPrep::from_spec(spec, s).udp_ports.first().copied());
        let check = super::preflight::HostCheck {
            d: h.d,
            facts: h.facts,
            writes: &h.writes,
            ports: (spec.etcd.client_port, spec.etcd.peer_port, vxlan),
            etcd_env: member.then(|| (spec.etcd.token.as_str(), env.clone())),
            data_dir: &spec.etcd.data_dir,
            etcd_ca: member.then(|| etcd.member_certs(h.d.name).into_iter().find(|c| c.id == crate::pki::CertId::Ca).map(|c| c.cert_path)).flatten(),
        };
        if member && h.facts.preflight.etcd_env_foreign && h.facts.unit("etcd").running() && check.adopted() {
            plan.notes.push(Note {
                host: Some(h.d.name.to_string()),
                message: format!("adopting the etcd set up by hand here (its CA is the cluster's): its data dir {} and member id are kept", spec.etcd.data_dir),
            });
        }
        for (c, found, fix) in super::preflight::check(&check) {
            plan.preflight.push(super::preflight::Finding { host: h.d.name.to_string(), check: c, found, fix, waived: desired.waive.contains(&c) });
        }
    }
    if let Some(why) = super::preflight::refusal(&plan.preflight) {
        plan.refused = Some(match plan.refused.take() {
            Some(other) => format!("{other}\n{why}"),
            None => why,
        });
    }
}

/// What each etcd member's facts say of the cluster, the run's own
/// members first (`--only etcd02` asks etcd02 first).
fn etcd_facts<'f>(desired: &Desired<'_>, facts: &'f BTreeMap<String, Result<HostFacts, Failure>>) -> Vec<(String, &'f super::facts::EtcdFacts)> {
    let (mut sel, others): (Vec<_>, Vec<_>) = desired.hosts.iter().filter(|d| d.roles.contains(&Role::Etcd)).partition(|d| d.selected);
    sel.extend(others);
    sel.into_iter().filter_map(|d| facts.get(d.name).and_then(|f| f.as_ref().ok()).and_then(|f| f.etcd.as_ref()).map(|e| (d.name.to_string(), e))).collect()
}

/// The rolling upgrade decided from the versions the running members
/// report (`Err`: refused, why).
fn upgrade_of(desired: &Desired<'_>, facts: &BTreeMap<String, Result<HostFacts, Failure>>) -> Result<UpgradePlan, String> {
    let spec = desired.spec;
    let etcd_unit = unit_path(spec, "etcd");
    if !desired.hosts.iter().any(|d| d.selected && d.roles.contains(&Role::Etcd) && d.render.file(&etcd_unit).is_some()) {
        return Ok(UpgradePlan::default());
    }
    let endpoints = etcd_facts(desired, facts).into_iter().find(|(_, e)| !e.endpoints.is_empty() || e.unreadable.is_some());
    let endpoints = match endpoints {
        None => return Ok(UpgradePlan::default()),
        // etcd runs but its versions could not be read: never guess (an
        // upgrade decided blind could jump minors).
        Some((host, e)) if e.endpoints.is_empty() => {
            let p = e.unreadable.clone().unwrap_or_default();
            return Err(format!("the running etcd members' versions could not be read, nothing was changed: {host}: `etcdctl-admin -w json endpoint status`: {p}"));
        }
        Some((_, e)) => &e.endpoints,
    };
    let members: Vec<RunningMember> = spec
        .hosts_with(Role::Etcd)
        .map(|m| {
            let ep = format!("://{}:{}", m.address, spec.etcd.client_port);
            let st = endpoints.iter().find(|s| s.endpoint.ends_with(&ep));
            RunningMember { name: m.name.clone(), version: st.and_then(|s| s.version.parse::<Version>().ok()), leader: st.is_some_and(|s| s.leader) }
        })
        .collect();
    plan_upgrade(spec.versions.etcd, &members).map_err(|e| format!("etcd upgrade refused, nothing was changed: {e}"))
}

/// Upstream's advice that applies to this upgrade: etcd asks for 3.5.26 or
/// later before 3.6.
fn upgrade_notes(spec: &ClusterSpec, upgrade: &UpgradePlan, notes: &mut Vec<Note>) {
    let wanted = spec.versions.etcd;
    for (name, from) in &upgrade.steps {
        if from.major_minor() == (3, 5) && from.patch.unwrap_or(0) < 26 && wanted.major_minor() == (3, 6) {
            notes.push(Note {
                host: Some(name.clone()),
                message: format!("etcd upstream advises 3.5.26 or later before upgrading to 3.6 (this member runs {from}): see etcd's upgrade_3_6 guide"),
            });
        }
    }
}

fn upgrade_label(spec: &ClusterSpec, upgrade: &UpgradePlan, member: &str) -> Option<String> {
    let from = upgrade.from(member)?;
    let k = upgrade.order.iter().position(|n| n == member)? + 1;
    Some(format!("upgrade etcd {from} -> {} ({k} of {}, one member at a time)", spec.versions.etcd, upgrade.order.len()))
}

fn host_stage(desired: &Desired<'_>, stage: Stage, h: &mut HostPlan<'_, '_>, notes: &mut Vec<Note>) -> Result<Vec<Step>, Failure> {
    let spec = desired.spec;
    let name = h.d.name.to_string();
    let mut note = |message: String| notes.push(Note { host: Some(name.clone()), message });
    Ok(match stage {
        Stage::HostPrep => {
            if h.os.is_none() && !h.bare {
                note("OS family not recognised from /etc/os-release: OS-specific steps are skipped".into());
            }
            let mut steps = h.commands(Phase::HostPrep);
            steps.extend(engine_install(desired, h)?);
            steps
        }
        Stage::Files => files(h),
        Stage::Install => {
            let mut steps = Vec::new();
            let unit_written = h.d.files.iter().any(|f| f.unit.is_some() && h.writes.contains(&f.path));
            let pending = h.facts.units.values().any(|u| u.need_reload);
            if unit_written || pending {
                let why = if unit_written { "a unit changed" } else { "systemd has not read a unit written earlier" };
                steps.push(Step { what: format!("systemctl daemon-reload ({why})"), diff: None, op: Op::DaemonReload });
            }
            steps.extend(h.commands(Phase::Install));
            steps
        }
        Stage::FlannelConfig => h.commands(Phase::FlannelConfig),
        Stage::Flanneld => {
            if h.d.render.file(&unit_path(spec, "flanneld")).is_none() {
                return Ok(Vec::new());
            }
            let bin = flanneld_bin(spec);
            if !h.writes.contains(&bin) && !matches!(h.facts.files.get(&bin), Some(Some(_))) {
                note(format!("{bin} is absent (give binaries.flanneld): the flanneld unit is installed but not started"));
                return Ok(Vec::new());
            }
            h.ensure("flanneld", true, None, None).into_iter().collect()
        }
        Stage::Docker => {
            if h.d.render.file(&unit_path(spec, "docker")).is_none() {
                return Ok(Vec::new());
            }
            if spec.docker.mode == DockerMode::FlannelEnv && !h.facts.unit("flanneld").running() && !h.starts.contains("flanneld") {
                note("docker not started: flanneld is not running, and docker takes its bridge from flannel's subnet".into());
                return Ok(Vec::new());
            }
            if let Some(step) = h.ensure("docker", true, None, None) {
                return Ok(vec![step]);
            }
            // docker's unit follows flanneld's: systemd restarts docker when
            // this run restarts flanneld, and the run must not end before it
            // is back (`systemctl start` waits for it; a no-op once it runs).
            if spec.docker.mode == DockerMode::FlannelEnv && h.facts.unit("flanneld").running() && h.starts.contains("flanneld") {
                h.unchanged = h.unchanged.saturating_sub(1);
                return Ok(vec![Step { what: "wait for docker (systemd starts it again with flanneld)".into(), diff: None, op: Op::Start { unit: "docker".into(), block: true, after: None } }]);
            }
            Vec::new()
        }
        Stage::Etcd => Vec::new(),
    })
}

/// A node without dockerd gets the engine from `docker.install`, before
/// the files stage (so that our unit and daemon.json replace the
/// package's). A dockerd elsewhere than `layout.dockerd` stops the host.
fn engine_install(desired: &Desired<'_>, h: &mut HostPlan<'_, '_>) -> Result<Vec<Step>, Failure> {
    let spec = desired.spec;
    let install = EngineInstall::from_spec(spec);
    if h.d.render.file(&unit_path(spec, "docker")).is_none() || install.source == DockerInstall::None {
        return Ok(Vec::new());
    }
    let fail = |step: &str, kind: FailureKind, error: String| Failure { stage: Stage::HostPrep, step: step.into(), kind, error, log: None };
    let name = h.d.name;
    match &h.facts.dockerd {
        Some((0, _)) => {
            h.unchanged += 1;
            Ok(Vec::new())
        }
        // Not read (the facts of a bare host): none there.
        Some((1, _)) | None => {
            let oses = match h.os {
                Some(os) => vec![os],
                // Told at run time: one step per OS family, each marked.
                None if h.bare => vec![OsFamily::Rhel, OsFamily::Debian],
                None => {
                    let error = format!("{name}: no dockerd at {}, and the OS family is unknown: no package manager to install it with; set hosts[].os, or install docker and set docker.install: none", install.dockerd);
                    return Err(fail("install the container engine", FailureKind::Other, error));
                }
            };
            let mut out = Vec::new();
            for os in oses {
                let steps = install.steps(os, &packages_for(&desired.packages, os)).map_err(|p| fail("install the container engine", FailureKind::Other, format!("{name}: {p}")))?;
                out.push(Step { what: format!("{} (no dockerd at {})", steps.description, install.dockerd), diff: None, op: Op::InstallEngine { os } });
            }
            Ok(out)
        }
        Some((code, at)) if *code == CHECK_ELSEWHERE => {
            let error = format!("{name}: there is a dockerd at {at}, but layout.dockerd is {}: nothing installed; set layout.dockerd to the host's dockerd", install.dockerd);
            Err(fail("look for dockerd", FailureKind::Other, error))
        }
        other => Err(fail("look for dockerd", FailureKind::Command, format!("{name}: the dockerd check gave {other:?}"))),
    }
}

fn files(h: &mut HostPlan<'_, '_>) -> Vec<Step> {
    let mut steps = Vec::new();
    for t in &h.facts.litter {
        steps.push(Step { what: format!("remove {t} (left by an interrupted upload)"), diff: None, op: Op::Remove { path: t.clone() } });
    }
    for (f, want) in h.d.files.iter().zip(h.d.digests) {
        let have = h.facts.files.get(&f.path).and_then(Option::as_ref);
        let root_owned = f.owner == "root:root" || f.owner == "root";
        let same_meta = have.is_some_and(|x| x.mode == f.mode && (!root_owned || (x.uid == 0 && x.gid == 0)));
        let same_content = have.is_some_and(|x| x.sha256 == *want);
        if same_content && same_meta && root_owned {
            h.unchanged += 1;
            continue;
        }
        let (what, diff) = match have {
            None => (format!("write {} (created)", f.path), Some(file_diff(f, None, want))),
            Some(x) if x.sha256 != *want => (format!("write {} (updated)", f.path), Some(file_diff(f, Some(x), want))),
            Some(_) => (format!("write {} (mode/owner {:o} {})", f.path, f.mode, f.owner), None),
        };
        h.writes.insert(f.path.clone());
        // A bare plan has no certificates to show (and is read as commands).
        let diff = diff.filter(|_| !h.bare);
        steps.push(Step { what, diff, op: Op::Write { path: f.path.clone(), send: !same_content } });
    }
    steps
}

fn file_diff(f: &DesiredFile, have: Option<&super::facts::FileFact>, want: &str) -> String {
    match &f.source {
        crate::transport::FileSource::Bytes(new) if !f.binary => {
            match have {
                None => diff::unified(&f.path, None, new, f.secret),
                Some(x) => match &x.text {
                    Some(old) => diff::unified(&f.path, Some(old.as_bytes()), new, f.secret),
                    None if f.secret => diff::unified(&f.path, Some(b""), new, true),
                    None => format!("--- {p}\n+++ {p}\n(sha256 {} -> {want}; the old file is too large or not text to show)\n", x.sha256, p = f.path),
                },
            }
        }
        _ => format!("binary {}: sha256 {want}\n", f.path),
    }
}

/// The etcd stage: members that are down start together, then the health
/// gate; members that are new join one at a time; running members that
/// changed (or that an upgrade moves) restart one at a time, each followed
/// by the gate; members the spec no longer has are removed.
fn etcd_waves(
    spec: &ClusterSpec,
    hosts: &mut [HostPlan<'_, '_>],
    cluster: Option<&super::facts::EtcdFacts>,
    upgrade: &UpgradePlan,
    failed: &BTreeMap<String, Failure>,
    notes: &mut Vec<Note>,
) -> Vec<Wave> {
    let etcd_unit = unit_path(spec, "etcd");
    let is_member = |h: &HostPlan<'_, '_>| h.d.roles.contains(&Role::Etcd) && h.d.render.file(&etcd_unit).is_some() && !failed.contains_key(h.d.name);
    let members = cluster.map(|c| c.members.as_slice()).unwrap_or_default();
    // A member the cluster knows (it started once) whose data dir is gone
    // (deleted by hand, a disk replaced), or on which etcd fails to start
    // (damaged): it can only come back as a new member. etcd may still run
    // on deleted files. (host, (its member id, etcd's words on the damage))
    let lost: BTreeMap<usize, (String, Option<String>)> = hosts
        .iter()
        .enumerate()
        .filter_map(|(i, h)| {
            let p = &h.facts.preflight;
            let damaged = p.etcd_data_error.clone().filter(|_| p.etcd_data == Some(true) && !h.facts.unit("etcd").running());
            (is_member(h) && (p.etcd_data == Some(false) || damaged.is_some())).then_some((i, damaged))
        })
        .filter_map(|(i, damaged)| members.iter().find(|m| m.started && m.peer == peer_url(spec, hosts[i].d.name)).map(|m| (i, (m.id.clone(), damaged))))
        .collect();
    let mut down = Vec::new();
    let mut changed: Vec<(usize, String)> = Vec::new();
    for (i, h) in hosts.iter_mut().enumerate().filter(|(_, h)| is_member(h)) {
        if lost.contains_key(&i) {
            continue;
        }
        if !h.facts.unit("etcd").running() {
            down.push(i);
        } else if let Some(why) = h.restart_reason("etcd") {
            changed.push((i, why));
        } else if upgrade.order.iter().any(|n| n == h.d.name) {
            changed.push((i, format!("it runs an etcd other than versions.etcd {}", spec.versions.etcd)));
        } else {
            h.unchanged += 1;
        }
    }
    let upgrade_pos = |name: &str| upgrade.order.iter().position(|n| n == name).map_or(0, |p| p + 1);
    changed.sort_by_key(|(i, _)| upgrade_pos(hosts[*i].d.name));
    // The member membership changes run on: a member of the run that runs (and keeps its data).
    let via = hosts.iter().enumerate().find(|(i, h)| is_member(h) && h.facts.unit("etcd").running() && !lost.contains_key(i)).map(|(_, h)| h.d.name.to_string());
    // (host, known, the id it replaces)
    let mut joining: Vec<(usize, bool, Option<String>)> = Vec::new();
    if cluster.is_some() && !members.is_empty() && via.is_some() {
        let mut returning = Vec::new();
        for i in down {
            let peer = peer_url(spec, hosts[i].d.name);
            match members.iter().find(|m| m.peer == peer) {
                Some(m) if m.started => returning.push(i),
                Some(_) => joining.push((i, true, None)),
                None => joining.push((i, false, None)),
            }
        }
        down = returning;
        joining.extend(lost.iter().map(|(i, (id, _))| (*i, false, Some(id.clone()))));
    } else if !lost.is_empty() {
        notes.push(Note { host: None, message: "an etcd member's data dir is gone or damaged, but no other member runs to replace it through: start the others first".into() });
    }
    let mut waves = Vec::new();
    let any_member = hosts.iter().any(is_member);
    if !any_member {
        return waves;
    }
    let mut pending: Vec<String> = joining.iter().map(|(i, _, _)| hosts[*i].d.name.to_string()).collect();
    let mut start = Wave::default();
    // A new cluster (no member has run, none has data): each member starts
    // once the one before it serves its peers (see `PeerWait`).
    let new_cluster = members.is_empty() && joining.is_empty() && down.iter().all(|&i| hosts[i].facts.preflight.etcd_data != Some(true));
    let etcd = crate::etcd::EtcdCluster::from_spec(spec);
    let mut before: Option<&str> = None;
    for &i in &down {
        let name = hosts[i].d.name;
        if let Some(mut step) = hosts[i].ensure("etcd", false, None, None) {
            if let (true, Some(prev), Op::Start { after, .. }) = (new_cluster, before, &mut step.op) {
                let peer = etcd.peer_cert(name);
                let address = peer_address(spec, prev);
                *after = Some(PeerWait { member: prev.to_string(), address, cert: peer.cert_path, key: peer.key_path.unwrap_or_default() });
                step.what = format!("{} once {prev} serves its peers", step.what);
            }
            start.hosts.insert(name.to_string(), vec![step]);
            before = Some(name);
        }
    }
    let removals: Vec<&super::facts::MemberFact> = {
        let want: BTreeSet<String> = spec.hosts_with(Role::Etcd).map(|h| peer_url(spec, &h.name)).collect();
        members.iter().filter(|m| !want.contains(&m.peer)).collect()
    };
    let anything = !start.hosts.is_empty() || !joining.is_empty() || !changed.is_empty() || !removals.is_empty();
    if !anything {
        return waves;
    }
    start.gates.push(Gate::Healthy { pending: pending.clone() });
    waves.push(start);
    for (i, known, replace) in joining {
        let name = hosts[i].d.name.to_string();
        pending.retain(|p| *p != name);
        hosts[i].starts.insert("etcd".into());
        let damaged = lost.get(&i).and_then(|(_, d)| d.as_ref());
        let move_data = (replace.is_none() || damaged.is_some()) && hosts[i].facts.preflight.etcd_data == Some(true);
        let dd = &spec.etcd.data_dir;
        let what = match (&replace, move_data) {
            (Some(id), true) => format!(
                "replace etcd member {name}: etcd fails on its data dir {dd} (\"{}\"; stop it, member remove {id}, move the damaged data aside, member add, start with initial state existing)",
                damaged.map(String::as_str).unwrap_or_default()
            ),
            (Some(id), false) => format!("replace etcd member {name}: its data dir {dd} is gone (stop it, member remove {id}, member add, start with initial state existing)"),
            (None, true) => format!("add etcd member {name} (member add, then start with initial state existing; {dd} holds a member the cluster no longer has: moved aside)"),
            (None, false) => format!("add etcd member {name} (member add, then start with initial state existing)"),
        };
        let step = Step { what, diff: None, op: Op::EtcdJoin { via: via.clone().unwrap_or_default(), known, replace, move_data } };
        waves.push(Wave { hosts: BTreeMap::from([(name, vec![step])]), gates: vec![Gate::Healthy { pending: pending.clone() }] });
    }
    for (i, why) in changed {
        let name = hosts[i].d.name.to_string();
        let label = upgrade_label(spec, upgrade, &name);
        let force = label.as_ref().map(|_| why.clone());
        let h = &mut hosts[i];
        // A restart for a changed file, or for an upgrade (then the reason given is forced).
        let step = match &force {
            Some(f) => {
                h.starts.insert("etcd".into());
                Step { what: format!("{}: restart etcd ({})", label.clone().unwrap_or_default(), h.restart_reason("etcd").unwrap_or_else(|| f.clone())), diff: None, op: Op::Restart { unit: "etcd".into(), block: true } }
            }
            None => match h.ensure("etcd", true, Some(why), None) {
                Some(s) => s,
                None => continue,
            },
        };
        let mut gates = vec![Gate::Healthy { pending: Vec::new() }];
        if label.is_some() {
            gates.push(Gate::CaughtUp { member: name.clone() });
        }
        waves.push(Wave { hosts: BTreeMap::from([(name, vec![step])]), gates });
    }
    if let Some(via) = &via {
        for m in removals {
            let label = if m.name.is_empty() { m.peer.clone() } else { m.name.clone() };
            let remove = Step { what: format!("remove etcd member {label}"), diff: None, op: Op::EtcdRemove { id: m.id.clone(), label: label.clone() } };
            waves.push(Wave { hosts: BTreeMap::from([(via.clone(), vec![remove])]), gates: Vec::new() });
            let host_of = spec.hosts.iter().find(|h| peer_url(spec, &h.name) == m.peer);
            match host_of.filter(|hs| hosts.iter().any(|h| h.d.name == hs.name && !failed.contains_key(h.d.name))) {
                Some(hs) => {
                    let step = Step { what: format!("stop etcd and remove {} (no longer a member)", spec.etcd.data_dir), diff: None, op: Op::EtcdRetire };
                    waves.push(Wave { hosts: BTreeMap::from([(hs.name.clone(), vec![step])]), gates: Vec::new() });
                }
                None => notes.push(Note { host: Some(via.clone()), message: format!("etcd member {label} was removed from the cluster; its host is not in this run: stop etcd there") }),
            }
            if let Some(last) = waves.last_mut() {
                last.gates.push(Gate::Healthy { pending: Vec::new() });
            }
        }
    }
    waves
}

#[cfg(test)]
mod tests {
    //! The plan from facts values alone: no host, no transport, no mock.

    use super::*;
    use crate::apply::facts::{EndpointFact, EtcdFacts, FileFact, MemberFact, UnitFact};
    use crate::pki::{CertBundle, Issued};

    const SPEC: &str = r#"
hosts:
  - { name: etcd01, address: 10.0.0.1, roles: [etcd, node] }
  - { name: etcd02, address: 10.0.0.2, roles: [etcd, node] }
  - { name: etcd03, address: 10.0.0.3, roles: [etcd, node] }
versions: { etcd: "3.4.23", flannel: "0.26.1" }
binaries: { flanneld: /nonexistent/flanneld }
pki: { key_algorithm: ecdsa-p256 }
"#;

    struct World {
        spec: ClusterSpec,
        render: crate::render::RenderedCluster,
        files: BTreeMap<String, Vec<DesiredFile>>,
        digests: BTreeMap<String, Vec<String>>,
        roles: BTreeMap<String, BTreeSet<Role>>,
    }

    fn world(spec: ClusterSpec, pki: &Issued) -> World {
        let render = spec.render().unwrap();
        let mut w = World { render, files: BTreeMap::new(), digests: BTreeMap::new(), roles: BTreeMap::new(), spec: spec.clone() };
        for h in &spec.hosts {
            let files = super::super::desired::host_files(&spec, h, &w.render.hosts[&h.name], Some(pki)).unwrap();
            // The flanneld binary's digest stands for the local file's.
            let digests = files
                .iter()
                .map(|f| match &f.source {
                    crate::transport::FileSource::Bytes(b) => crate::transport::sha256_hex(b),
                    crate::transport::FileSource::Path(_) => "f1a77e1d".repeat(8),
                })
                .collect();
            w.files.insert(h.name.clone(), files);
            w.digests.insert(h.name.clone(), digests);
            w.roles.insert(h.name.clone(), h.roles.iter().copied().collect());
        }
        w
    }

    fn spec(yaml: &str) -> ClusterSpec {
        ClusterSpec::from_yaml_str(yaml).unwrap()
    }

    impl World {
        fn plan(&self, facts: &BTreeMap<String, HostFacts>) -> Plan {
            self.plan_waiving(facts, &[])
        }

        fn plan_waiving(&self, facts: &BTreeMap<String, HostFacts>, waive: &[super::super::preflight::Check]) -> Plan {
            let desired = Desired {
                spec: &self.spec,
                hosts: self
                    .spec
                    .hosts
                    .iter()
                    .map(|h| DesiredHost {
                        name: &h.name,
                        roles: &self.roles[&h.name],
                        os: None,
                        render: &self.render.hosts[&h.name],
                        files: &self.files[&h.name],
                        digests: &self.digests[&h.name],
                        // the flanneld binary stands for a local file: no size, as its digest
                        sizes: self.files[&h.name].iter().map(|f| if let crate::transport::FileSource::Bytes(b) = &f.source { b.len() as u64 } else { 0 }).collect(),
                        selected: true,
                    })
                    .collect(),
                packages: Vec::new(),
                until: None,
                bare: false,
                waive: waive.iter().copied().collect(),
            };
            make(&desired, &facts.iter().map(|(k, v)| (k.clone(), Ok(v.clone()))).collect())
        }

        /// A host where an apply of this world ran to the end (at `t` = 1000).
        fn converged(&self, host: &str) -> HostFacts {
            let mut f = HostFacts::bare(Some(OsFamily::Debian));
            for (file, sha) in self.files[host].iter().zip(&self.digests[host]) {
                f.files.insert(file.path.clone(), Some(FileFact { mode: file.mode, uid: 0, gid: 0, mtime: 900, sha256: sha.clone(), text: None }));
            }
            for unit in ["etcd", "flanneld", "docker"] {
                f.units.insert(unit.into(), UnitFact { load: "loaded".into(), active: "active".into(), enabled: "enabled".into(), active_since: Some(1000), need_reload: false });
            }
            for c in self.render.hosts[host].commands.iter().filter(|c| c.check.is_some()) {
                f.checks.insert(crate::apply::facts::check_key(c), true);
            }
            f.dockerd = Some((0, String::new()));
            f.etcd = Some(EtcdFacts {
                members: self.spec.hosts.iter().enumerate().map(|(i, h)| MemberFact { id: format!("{:x}", i + 1), started: true, name: h.name.clone(), peer: format!("https://{}:2380", h.address) }).collect(),
                endpoints: self.spec.hosts.iter().map(|h| EndpointFact { endpoint: format!("https://{}:2379", h.address), version: "3.4.23".into(), leader: h.name == "etcd01" }).collect(),
                unreadable: None,
            });
            f
        }

        fn all_converged(&self) -> BTreeMap<String, HostFacts> {
            self.spec.hosts.iter().map(|h| (h.name.clone(), self.converged(&h.name))).collect()
        }
    }

    fn pki(spec: &ClusterSpec) -> Issued {
        CertBundle::for_cluster(spec).unwrap().generate().unwrap()
    }

    /// (stage, host, what) of every step, in order.
    fn steps(plan: &Plan) -> Vec<(Stage, String, String)> {
        plan.steps().map(|(s, h, st)| (s, h.to_string(), st.what.clone())).collect()
    }

    #[test]
    fn a_converged_cluster_has_nothing_to_do_and_no_gate() {
        let s = spec(SPEC);
        let w = world(s.clone(), &pki(&s));
        let plan = w.plan(&w.all_converged());
        assert_eq!(steps(&plan), []);
        assert!(plan.stages.is_empty(), "not even a health gate: {:#?}", plan.stages);
        assert!(plan.failed.is_empty() && plan.refused.is_none() && plan.notes.is_empty(), "{plan:#?}");
        // Every file, check, dockerd and unit counted as already right.
        let files = w.files["etcd01"].len();
        assert!(plan.unchanged["etcd01"] > files, "{:?}", plan.unchanged);
    }

    #[test]
    fn bare_hosts_get_everything_in_stage_order() {
        let s = spec(SPEC);
        let w = world(s.clone(), &pki(&s));
        let facts: BTreeMap<String, HostFacts> = s.hosts.iter().map(|h| (h.name.clone(), HostFacts::bare(Some(OsFamily::Debian)))).collect();
        let plan = w.plan(&facts);
        let on = |host: &str, stage: Stage| -> Vec<String> { steps(&plan).into_iter().filter(|(s, h, _)| *s == stage && h == host).map(|(_, _, w)| w).collect() };
        // Every file created, none kept.
        let written = on("etcd02", Stage::Files);
        assert_eq!(written.len(), w.files["etcd02"].len());
        assert!(written.iter().all(|x| x.starts_with("write /") && x.ends_with(" (created)")), "{written:?}");
        assert_eq!(
            on("etcd02", Stage::Install),
            [
                "systemctl daemon-reload (a unit changed)",
                "create etcd's data dir, readable by root only",
                "enable etcd at boot",
                "enable flanneld at boot",
                "enable docker at boot",
            ]
        );
        // The members start in one wave, without waiting for readiness,
        // each once the one before it serves its peers; then the health gate.
        let etcd = &plan.stages.iter().find(|s| s.stage == Stage::Etcd).unwrap().waves;
        assert_eq!(etcd.len(), 1);
        assert_eq!(etcd[0].hosts.keys().collect::<Vec<_>>(), ["etcd01", "etcd02", "etcd03"]);
        assert_eq!(etcd[0].hosts["etcd01"], [Step { what: "start etcd (not running)".into(), diff: None, op: Op::Start { unit: "etcd".into(), block: false, after: None } }]);
        let after = PeerWait { member: "etcd02".into(), address: "10.0.0.2:2380".into(), cert: "/opt/etcd/ssl/etcd03-peer.pem".into(), key: "/opt/etcd/ssl/etcd03-peer-key.pem".into() };
        assert_eq!(etcd[0].hosts["etcd03"], [Step { what: "start etcd (not running) once etcd02 serves its peers".into(), diff: None, op: Op::Start { unit: "etcd".into(), block: false, after: Some(after) } }]);
        assert_eq!(etcd[0].gates, [Gate::Healthy { pending: vec![] }]);
        // flannel's config once, then flanneld (its binary is uploaded) and docker once it runs.
        assert_eq!(steps(&plan).iter().filter(|(s, _, _)| *s == Stage::FlannelConfig).count(), 1);
        // Whether the config is in etcd could not be read (etcd was down): checked when it runs.
        let put = plan.steps().find(|(s, _, _)| *s == Stage::FlannelConfig).unwrap().2;
        assert!(matches!(&put.op, Op::Run { check: Some(_), .. }), "{put:?}");
        assert_eq!(on("etcd01", Stage::Flanneld), ["start flanneld (not running)"]);
        assert_eq!(on("etcd01", Stage::Docker), ["start docker (not running)"]);
        // A private key's diff never shows it.
        let key = plan.steps().find(|(_, h, st)| *h == "etcd01" && st.what == "write /opt/etcd/ssl/etcd01-peer-key.pem (created)").unwrap().2;
        assert!(!key.diff.as_deref().unwrap().contains("PRIVATE"), "{key:?}");
    }

    #[test]
    fn a_file_edited_by_hand_is_written_back_and_restarts_only_its_unit_one_member_at_a_time() {
        let s = spec(SPEC);
        let w = world(s.clone(), &pki(&s));
        let mut facts = w.all_converged();
        let env = "/opt/etcd/cfg/etcd";
        let by_hand = "ETCD_NAME=\"etcd02\"\nETCD_HEARTBEAT_INTERVAL=\"500\"\n";
        let f = facts.get_mut("etcd02").unwrap().files.get_mut(env).unwrap().as_mut().unwrap();
        f.sha256 = crate::transport::sha256_hex(by_hand.as_bytes());
        f.text = Some(by_hand.into());
        let plan = w.plan(&facts);
        assert_eq!(
            steps(&plan),
            [
                (Stage::Files, "etcd02".into(), format!("write {env} (updated)")),
                (Stage::Etcd, "etcd02".into(), format!("restart etcd ({env} changed)")),
            ]
        );
        let diff = plan.steps().next().unwrap().2.diff.clone().unwrap();
        assert!(diff.contains("-ETCD_HEARTBEAT_INTERVAL=\"500\""), "{diff}");
        let etcd = &plan.stages.iter().find(|s| s.stage == Stage::Etcd).unwrap().waves;
        // A first (empty) wave's gate, then the restart and its gate: never two members down.
        assert_eq!(etcd.last().unwrap().gates, [Gate::Healthy { pending: vec![] }]);
        assert_eq!(etcd.last().unwrap().hosts["etcd02"][0].op, Op::Restart { unit: "etcd".into(), block: true });
    }

    #[test]
    fn a_file_newer_than_its_running_unit_restarts_it() {
        let s = spec(SPEC);
        let w = world(s.clone(), &pki(&s));
        let mut facts = w.all_converged();
        // An earlier apply wrote flanneld's config and stopped before the restart.
        let f = facts.get_mut("etcd03").unwrap().files.get_mut("/opt/kubernetes/cfg/flanneld").unwrap().as_mut().unwrap();
        f.mtime = 1001;
        let plan = w.plan(&facts);
        assert_eq!(
            steps(&plan),
            [
                (Stage::Flanneld, "etcd03".into(), "restart flanneld (/opt/kubernetes/cfg/flanneld is newer than the running flanneld: an earlier apply stopped before restarting it)".into()),
                (Stage::Docker, "etcd03".into(), "wait for docker (systemd starts it again with flanneld)".into()),
            ]
        );
    }

    #[test]
    fn docker_is_waited_for_when_flanneld_restarts() {
        let s = spec(SPEC);
        let w = world(s.clone(), &pki(&s));
        let mut facts = w.all_converged();
        facts.get_mut("etcd02").unwrap().files.get_mut("/opt/kubernetes/cfg/flanneld").unwrap().as_mut().unwrap().sha256 = "0".repeat(64);
        let plan = w.plan(&facts);
        assert_eq!(
            steps(&plan),
            [
                (Stage::Files, "etcd02".into(), "write /opt/kubernetes/cfg/flanneld (updated)".into()),
                (Stage::Flanneld, "etcd02".into(), "restart flanneld (/opt/kubernetes/cfg/flanneld changed)".into()),
                (Stage::Docker, "etcd02".into(), "wait for docker (systemd starts it again with flanneld)".into()),
            ]
        );
    }

    #[test]
    fn a_unit_disabled_by_hand_is_enabled_again_and_nothing_else() {
        let s = spec(SPEC);
        let w = world(s.clone(), &pki(&s));
        let mut facts = w.all_converged();
        facts.get_mut("etcd03").unwrap().checks.insert("enable flanneld at boot".into(), false);
        let plan = w.plan(&facts);
        assert_eq!(steps(&plan), [(Stage::Install, "etcd03".into(), "enable flanneld at boot".into())]);
        assert_eq!(plan.steps().next().unwrap().2.op, Op::Run { argv: ["env", "SYSTEMCTL_SKIP_SYSV=1", "systemctl", "enable", "--no-reload", "flanneld"].map(String::from).into(), check: None, os: None });
    }

    #[test]
    fn a_member_missing_from_the_cluster_joins_through_a_running_one() {
        let s = spec(SPEC);
        let w = world(s.clone(), &pki(&s));
        let mut facts = w.all_converged();
        for f in facts.values_mut() {
            f.etcd.as_mut().unwrap().members.retain(|m| m.name != "etcd03");
        }
        let e3 = facts.get_mut("etcd03").unwrap();
        e3.units.get_mut("etcd").unwrap().active = "inactive".into();
        e3.etcd = None;
        let plan = w.plan(&facts);
        assert_eq!(steps(&plan), [(Stage::Etcd, "etcd03".into(), "add etcd member etcd03 (member add, then start with initial state existing)".into())]);
        let waves = &plan.stages[0].waves;
        // The cluster must be healthy without it first; then it joins, then all must be.
        assert_eq!(waves[0].gates, [Gate::Healthy { pending: vec!["etcd03".into()] }]);
        assert_eq!(waves[1].hosts["etcd03"][0].op, Op::EtcdJoin { via: "etcd01".into(), known: false, replace: None, move_data: false });
        assert_eq!(waves[1].gates, [Gate::Healthy { pending: vec![] }]);
    }

    /// A member removed out of band (`etcdctl member remove`): it stopped
    /// itself, its data dir still holds the removed member. It joins again
    /// as a new member, its old data moved aside.
    #[test]
    fn a_member_removed_out_of_band_joins_again_with_its_old_data_moved_aside() {
        let s = spec(SPEC);
        let w = world(s.clone(), &pki(&s));
        let mut facts = w.all_converged();
        for f in facts.values_mut() {
            f.preflight.etcd_data = Some(true);
            f.etcd.as_mut().unwrap().members.retain(|m| m.name != "etcd02");
        }
        let e2 = facts.get_mut("etcd02").unwrap();
        e2.units.get_mut("etcd").unwrap().active = "failed".into();
        e2.etcd = None;
        let plan = w.plan(&facts);
        assert_eq!(steps(&plan), [(Stage::Etcd, "etcd02".into(), "add etcd member etcd02 (member add, then start with initial state existing; /var/lib/etcd/default.etcd holds a member the cluster no longer has: moved aside)".into())]);
        assert_eq!(plan.stages[0].waves[1].hosts["etcd02"][0].op, Op::EtcdJoin { via: "etcd01".into(), known: false, replace: None, move_data: true });
        assert!(plan.preflight.is_empty(), "our own member's data: {:?}", plan.preflight);
    }

    /// flanneld's start, tried again only when it lost a lease race:
    /// `systemctl` and `journalctl` replaced by scripts that fail the
    /// first `fails` starts and log `message` for each.
    fn flanneld_start(fails: u32, message: &str) -> (i32, u32) {
        let dir = tempfile::tempdir().unwrap();
        let count = dir.path().join("starts");
        std::fs::write(&count, "0").unwrap();
        let fake = |name: &str, body: String| {
            let p = dir.path().join(name);
            std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
            std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        };
        let c = count.display();
        fake("systemctl", format!("[ \"$1\" = reset-failed ] && exit 0\nn=$(($(cat {c}) + 1)); echo $n > {c}; [ $n -gt {fails} ]"));
        fake("journalctl", format!("echo 'E1205 main.go:384] Error registering network: failed to acquire lease: {message}'"));
        let argv = unit_command("flanneld", "start", true);
        let path = format!("{}:{}", dir.path().display(), std::env::var("PATH").unwrap_or_default());
        let out = std::process::Command::new(&argv[0]).args(&argv[1..]).env("PATH", path).output().unwrap();
        (out.status.code().unwrap_or(-1), std::fs::read_to_string(&count).unwrap().trim().parse().unwrap())
    }

    #[test]
    fn flanneld_is_started_again_only_after_losing_a_lease_race() {
        // flanneld 0.28's own words when its lease transaction lost
        assert_eq!(flanneld_start(1, "subnet already exists"), (0, 2), "one lost race, started again");
        assert_eq!(flanneld_start(5, "subnet already exists"), (1, 3), "at most 3 tries");
        assert_eq!(flanneld_start(1, "no route to etcd"), (1, 1), "any other failure is not retried");
        assert_eq!(flanneld_start(0, ""), (0, 1));
        // other units: one plain start
        assert!(!unit_command("etcd", "start", true)[2].contains("while"));
    }

    /// A member whose etcd fails on its damaged data dir (systemd restarts
    /// it into the same panic): replaced through another member, its id
    /// removed and its data moved aside; a member that is merely stopped,
    /// or whose journal says something else, is started.
    #[test]
    fn a_member_failing_on_damaged_data_is_replaced_and_a_stopped_one_started() {
        let s = spec(SPEC);
        let w = world(s.clone(), &pki(&s));
        let mut facts = w.all_converged();
        for f in facts.values_mut() {
            f.preflight.etcd_data = Some(true);
        }
        // etcd 3.4's own words for a bbolt file whose meta pages are gone
        let panic = "panic: cannot open database at /var/lib/etcd/default.etcd/member/snap/db (invalid database)";
        let e2 = facts.get_mut("etcd02").unwrap();
        e2.units.get_mut("etcd").unwrap().active = "activating".into();
        e2.preflight.etcd_data_error = Some(panic.into());
        e2.etcd = None;
        let id = facts["etcd01"].etcd.as_ref().unwrap().members.iter().find(|m| m.name == "etcd02").unwrap().id.clone();
        let plan = w.plan(&facts);
        assert_eq!(
            steps(&plan),
            [(Stage::Etcd, "etcd02".into(), format!("replace etcd member etcd02: etcd fails on its data dir /var/lib/etcd/default.etcd (\"{panic}\"; stop it, member remove {id}, move the damaged data aside, member add, start with initial state existing)"))]
        );
        assert_eq!(plan.stages[0].waves[1].hosts["etcd02"][0].op, Op::EtcdJoin { via: "etcd01".into(), known: false, replace: Some(id), move_data: true });
        assert!(plan.preflight.is_empty(), "our own member's data: {:?}", plan.preflight);

        // the same journal line, but etcd runs now (it served since): nothing to do
        facts.get_mut("etcd02").unwrap().units.get_mut("etcd").unwrap().active = "active".into();
        assert!(steps(&w.plan(&facts)).is_empty());
        // stopped, and no data error: started
        let e2 = facts.get_mut("etcd02").unwrap();
        e2.units.get_mut("etcd").unwrap().active = "inactive".into();
        e2.preflight.etcd_data_error = None;
        assert_eq!(steps(&w.plan(&facts)), [(Stage::Etcd, "etcd02".into(), "start etcd (not running)".into())]);
    }

    /// A member whose data dir was deleted under it (etcd still runs on the
    /// deleted files): replaced through another member, its id removed first.
    #[test]
    fn a_member_whose_data_dir_is_gone_is_replaced_through_another() {
        let s = spec(SPEC);
        let w = world(s.clone(), &pki(&s));
        let mut facts = w.all_converged();
        for f in facts.values_mut() {
            f.preflight.etcd_data = Some(true);
        }
        facts.get_mut("etcd01").unwrap().preflight.etcd_data = Some(false);
        let id = facts["etcd02"].etcd.as_ref().unwrap().members.iter().find(|m| m.name == "etcd01").unwrap().id.clone();
        let plan = w.plan(&facts);
        assert_eq!(
            steps(&plan),
            [(Stage::Etcd, "etcd01".into(), format!("replace etcd member etcd01: its data dir /var/lib/etcd/default.etcd is gone (stop it, member remove {id}, member add, start with initial state existing)"))]
        );
        let waves = &plan.stages[0].waves;
        assert_eq!(waves[0].gates, [Gate::Healthy { pending: vec!["etcd01".into()] }], "the others first");
        assert_eq!(waves[1].hosts["etcd01"][0].op, Op::EtcdJoin { via: "etcd02".into(), known: false, replace: Some(id), move_data: false }, "through a member that keeps its data");
    }

    #[test]
    fn a_member_the_spec_no_longer_has_is_removed_and_its_host_retired() {
        let s = spec(SPEC);
        let w = world(s.clone(), &pki(&s));
        let mut facts = w.all_converged();
        for f in facts.values_mut() {
            f.etcd.as_mut().unwrap().members.push(MemberFact { id: "9".into(), started: true, name: "etcd09".into(), peer: "https://10.0.0.9:2380".into() });
        }
        let plan = w.plan(&facts);
        assert_eq!(steps(&plan), [(Stage::Etcd, "etcd01".into(), "remove etcd member etcd09".into())]);
        assert_eq!(plan.notes, [Note { host: Some("etcd01".into()), message: "etcd member etcd09 was removed from the cluster; its host is not in this run: stop etcd there".into() }]);
    }

    #[test]
    fn a_version_upgrade_restarts_members_one_at_a_time_leader_last() {
        let s = spec(SPEC);
        let w = world(s.clone(), &pki(&s));
        let facts = w.all_converged();
        let mut up = s.clone();
        up.versions.etcd = "3.5.1".parse().unwrap();
        let w2 = world(up, &pki(&s));
        let plan = w2.plan(&facts);
        let restarts: Vec<(String, String)> = steps(&plan).into_iter().filter(|(s, _, _)| *s == Stage::Etcd).map(|(_, h, w)| (h, w)).collect();
        let hosts: Vec<&str> = restarts.iter().map(|(h, _)| h.as_str()).collect();
        assert_eq!(hosts, ["etcd02", "etcd03", "etcd01"], "the leader last");
        assert!(restarts[0].1.starts_with("upgrade etcd 3.4.23 -> 3.5.1 (1 of 3, one member at a time): restart etcd ("), "{restarts:?}");
        let waves = &plan.stages.iter().find(|s| s.stage == Stage::Etcd).unwrap().waves;
        assert!(waves.iter().filter(|w| !w.hosts.is_empty()).all(|w| w.hosts.len() == 1 && w.gates.iter().any(|g| matches!(g, Gate::CaughtUp { .. }))));
        // Two minors at once: refused, nothing planned.
        let mut jump = s.clone();
        jump.versions.etcd = "3.6.16".parse().unwrap();
        let plan = world(jump, &pki(&s)).plan(&facts);
        assert!(plan.refused.as_deref().unwrap().starts_with("etcd upgrade refused, nothing was changed: "), "{:?}", plan.refused);
    }

    /// Preflight, from facts alone: each problem refuses the plan with the
    /// host, what was found and the fix, and nothing else in the plan
    /// changes; a waived check is reported, not refused.
    #[test]
    fn preflight_findings_refuse_the_plan_naming_host_found_and_fix_unless_waived() {
        use super::super::facts::Listener;
        use super::super::preflight::Check;
        let s = spec(SPEC);
        let w = world(s.clone(), &pki(&s));
        let bare = || -> BTreeMap<String, HostFacts> { s.hosts.iter().map(|h| (h.name.clone(), HostFacts::bare(Some(OsFamily::Debian)))).collect() };
        let clean = w.plan(&bare());
        assert!(clean.preflight.is_empty() && clean.refused.is_none(), "{:?}", clean.preflight);
        let found = |facts: &BTreeMap<String, HostFacts>| -> Vec<(String, Check, String)> {
            w.plan(facts).preflight.iter().map(|f| (f.host.clone(), f.check, f.found.clone())).collect()
        };

        // A masked unit: refused, named; waived: the same steps, and a note.
        let mut facts = bare();
        facts.get_mut("etcd02").unwrap().units.insert("etcd".into(), UnitFact { load: "masked".into(), active: "inactive".into(), enabled: "masked".into(), ..UnitFact::default() });
        let plan = w.plan(&facts);
        assert_eq!(found(&facts), [("etcd02".to_string(), Check::MaskedUnit, "etcd.service is masked".to_string())]);
        let why = plan.refused.as_deref().unwrap();
        assert!(why.starts_with("preflight found 1 problem(s), nothing was changed:\n  etcd02: etcd.service is masked (masked-unit); fix: systemctl unmask etcd.service"), "{why}");
        assert!(why.ends_with("--waive masked-unit (Python: waive=[...])"), "{why}");
        let waived = w.plan_waiving(&facts, &[Check::MaskedUnit]);
        assert!(waived.refused.is_none() && waived.preflight[0].waived);
        assert_eq!(steps(&waived), steps(&clean));
        assert!(waived.notes.is_empty(), "a waived finding is the plan's finding, not a note: {:?}", waived.notes);

        // Ports: another process on etcd's client port; etcd on its own
        // port and flannel's kernel VXLAN socket are fine.
        let mut facts = bare();
        let p = &mut facts.get_mut("etcd01").unwrap().preflight;
        p.listeners = vec![
            Listener { proto: "tcp".into(), port: 2379, process: Some(("nginx".into(), 812)) },
            Listener { proto: "tcp".into(), port: 2380, process: Some(("etcd".into(), 900)) },
            Listener { proto: "udp".into(), port: 8472, process: None },
        ];
        p.etcd_env_foreign = true;
        assert_eq!(
            found(&facts),
            [
                ("etcd01".to_string(), Check::ForeignEtcd, "an etcd runs here that k8s-bootstrap did not set up (/opt/etcd/cfg/etcd is absent or was not written by it)".to_string()),
                ("etcd01".to_string(), Check::PortTaken, "port 2379/tcp is taken by nginx (pid 812)".to_string()),
            ]
        );

        // The tutorial's etcd, by hand: running, its env file not ours, its
        // CA another: foreign. With the cluster's own CA (`adopt` imported
        // it into the PKI folder): taken over, a note, no finding.
        let mut facts = w.all_converged();
        let e3 = facts.get_mut("etcd03").unwrap();
        e3.preflight.etcd_env_foreign = true;
        let adopted = facts.clone();
        if let Some(Some(ca)) = facts.get_mut("etcd03").unwrap().files.get_mut("/opt/etcd/ssl/ca.pem") {
            ca.sha256 = "another CA".into();
        }
        assert_eq!(found(&facts)[0].1, Check::ForeignEtcd);
        assert!(found(&adopted).is_empty());
        let notes = w.plan(&adopted).notes;
        assert!(notes.iter().any(|n| n.host.as_deref() == Some("etcd03") && n.message.starts_with("adopting the etcd set up by hand here")), "{notes:?}");
        // Our own cluster, converged: nothing.
        assert!(found(&w.all_converged()).is_empty());

        // A data dir left by another cluster of ours (its token in the old
        // env file), and one whose env file `reset` removed (ours: fine).
        let mut facts = bare();
        let f = facts.get_mut("etcd01").unwrap();
        f.preflight.etcd_data = Some(true);
        f.files.insert("/opt/etcd/cfg/etcd".into(), Some(FileFact { mode: 0o640, uid: 0, gid: 0, mtime: 1, sha256: "00".into(), text: Some("# etcd 3.4.23 settings of member etcd01, rendered by k8s-bootstrap.\nETCD_INITIAL_CLUSTER_TOKEN=\"old-cluster\"\n".into()) }));
        facts.get_mut("etcd02").unwrap().preflight.etcd_data = Some(true);
        let got = found(&facts);
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!((got[0].0.as_str(), got[0].1), ("etcd01", Check::ForeignDataDir));
        assert!(got[0].2.starts_with("/var/lib/etcd/default.etcd holds the data of another cluster (token old-cluster)"), "{got:?}");

        // No systemd; a clock 10 minutes ahead; a missing module; a full disk.
        let mut facts = bare();
        facts.get_mut("etcd01").unwrap().preflight.no_systemd = true;
        let p = &mut facts.get_mut("etcd02").unwrap().preflight;
        p.clock_skew = Some(600);
        p.modules.insert("br_netfilter".into(), false);
        p.modules.insert("overlay".into(), true);
        let p = &mut facts.get_mut("etcd03").unwrap().preflight;
        p.clock_skew = Some(-120); // within the certificates' 5 minutes
        p.disk.insert("/opt/etcd/ssl".into(), ("/".into(), 10 * 1024));
        let got = found(&facts);
        let checks: Vec<(&str, Check)> = got.iter().map(|(h, c, _)| (h.as_str(), *c)).collect();
        assert_eq!(checks, [("etcd01", Check::NoSystemd), ("etcd02", Check::ClockSkew), ("etcd02", Check::KernelModule), ("etcd03", Check::DiskSpace)], "{got:?}");
        assert!(got[1].2.starts_with("the clock is 600 s ahead of the control machine's"), "{got:?}");
        assert_eq!(got[3].2, "/ has 10 MiB free; this apply writes 1 MiB there and keeps 64 MiB free");
        let why = w.plan(&facts).refused.unwrap();
        assert!(why.starts_with("preflight found 4 problem(s)") && why.contains("--waive clock-skew --waive disk-space --waive kernel-module --waive no-systemd"), "{why}");
    }
}
