//! The plan for hosts that have nothing yet, read without any host: what
//! `apply` does on new machines, and `commands.sh`, the same plan as a
//! POSIX `sh` script per host (one source of truth: the planner that
//! `apply` executes, given the facts of a bare host).
//!
//! The facts are assumed, not read: no file, no unit, no dockerd, no
//! running etcd. A host whose OS the spec does not give gets the steps of
//! every OS family, each marked with its family; `commands.sh` detects the
//! family from `/etc/os-release` and runs only its own.

use std::collections::{BTreeMap, BTreeSet};

use crate::render::{HostRender, Phase, RenderedCluster};
use crate::shell::{join_argv, shell_quote};
use crate::spec::{ClusterSpec, Role};
use crate::transport::{FileSource, PutOptions, PutOutcome, Transport, TransportError};

use super::desired::{self, DesiredFile};
use super::facts::HostFacts;
use super::plan::{self, Gate, Op, Plan, Step};
use super::{Error, releases};

/// The plan of [`super::Engine::apply`] for hosts that have nothing yet,
/// made from the spec alone (no host, no certificate: keys are never in
/// it), and its `commands.sh`.
///
/// ```
/// use k8s_bootstrap_core::apply::BarePlan;
/// use k8s_bootstrap_core::apply::Stage;
/// use k8s_bootstrap_core::spec::{ClusterSpec, Skeleton};
/// let (spec, _) = ClusterSpec::load(&Skeleton::Tutorial.to_yaml()).unwrap();
/// let bare = BarePlan::new(&spec).unwrap();
/// let first = bare.plan().steps().find(|(stage, host, _)| *stage == Stage::Etcd && *host == "etcd01").unwrap();
/// assert_eq!(first.2.what, "start etcd (not running)");
/// let sh = bare.commands_sh("etcd01");
/// assert!(sh.contains("\n# start etcd (not running)\n"));
/// ```
#[derive(Debug, Clone)]
pub struct BarePlan {
    spec: ClusterSpec,
    rendered: RenderedCluster,
    files: BTreeMap<String, Vec<DesiredFile>>,
    packages: Vec<String>,
    plan: Plan,
}

/// What [`BarePlan::write_tree`] did.
///
/// ```
/// use k8s_bootstrap_core::apply::TreeWritten;
/// let t = TreeWritten { written: 3, unchanged: 0 };
/// assert_eq!(t, TreeWritten { written: 3, ..TreeWritten::default() });
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TreeWritten {
    /// Files written (new or changed).
    pub written: usize,
    /// Files already there with the same bytes and mode.
    pub unchanged: usize,
}

impl BarePlan {
    /// Renders the spec and plans it for bare hosts.
    ///
    /// ```
    /// use k8s_bootstrap_core::apply::BarePlan;
    /// use k8s_bootstrap_core::spec::{ClusterSpec, Skeleton};
    /// let (spec, _) = ClusterSpec::load(&Skeleton::Tutorial.to_yaml()).unwrap();
    /// let plan = BarePlan::new(&spec).unwrap();
    /// assert!(plan.plan().failed.is_empty() && plan.plan().refused.is_none());
    /// ```
    ///
    /// # Errors
    /// [`Error`] when the spec does not render.
    pub fn new(spec: &ClusterSpec) -> Result<Self, Error> {
        let rendered = spec.render()?;
        let release_names: BTreeMap<String, Vec<u8>> =
            releases::tarballs(spec).into_iter().flat_map(|(_, _, names, _)| names.iter().map(|n| (n.to_string(), Vec::new()))).collect();
        let mut files = BTreeMap::new();
        let mut roles: BTreeMap<String, BTreeSet<Role>> = BTreeMap::new();
        for h in &spec.hosts {
            let render = rendered.hosts.get(&h.name).cloned().unwrap_or_default();
            let r: BTreeSet<Role> = h.roles.iter().copied().collect();
            let mut items = desired::host_files(spec, h, &render, None)?;
            desired::add_release_binaries(spec, &r, &mut items, &release_names);
            files.insert(h.name.clone(), items);
            roles.insert(h.name.clone(), r);
        }
        // Unreadable: the install step then says why.
        let packages = super::offline_packages(spec).unwrap_or_default();
        let empty = HostRender::default();
        let digests: BTreeMap<&str, Vec<String>> = files.iter().map(|(h, f): (&String, &Vec<DesiredFile>)| (h.as_str(), vec![String::new(); f.len()])).collect();
        let desired = plan::Desired {
            spec,
            hosts: spec
                .hosts
                .iter()
                .map(|h| plan::DesiredHost {
                    name: &h.name,
                    roles: &roles[&h.name],
                    os: h.os,
                    render: rendered.hosts.get(&h.name).unwrap_or(&empty),
                    files: &files[&h.name],
                    digests: &digests[h.name.as_str()],
                    sizes: Vec::new(),
                    selected: true,
                })
                .collect(),
            packages: packages.clone(),
            until: None,
            bare: true,
            waive: BTreeSet::new(),
        };
        let facts = spec.hosts.iter().map(|h| (h.name.clone(), Ok(HostFacts::bare(None)))).collect();
        let plan = plan::make(&desired, &facts);
        Ok(BarePlan { spec: spec.clone(), rendered, files, packages, plan })
    }

    /// The plan.
    ///
    /// ```
    /// # use k8s_bootstrap_core::apply::BarePlan;
    /// # use k8s_bootstrap_core::spec::{ClusterSpec, Skeleton};
    /// # let (spec, _) = ClusterSpec::load(&Skeleton::Tutorial.to_yaml()).unwrap();
    /// let bare = BarePlan::new(&spec).unwrap();
    /// assert!(bare.plan().steps().any(|(_, _, s)| s.what == "write /opt/etcd/cfg/etcd (created)"));
    /// ```
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// What the spec rendered (every file and command of every host).
    ///
    /// ```
    /// # use k8s_bootstrap_core::apply::BarePlan;
    /// # use k8s_bootstrap_core::spec::{ClusterSpec, Skeleton};
    /// # let (spec, _) = ClusterSpec::load(&Skeleton::Tutorial.to_yaml()).unwrap();
    /// let bare = BarePlan::new(&spec).unwrap();
    /// assert!(bare.rendered().hosts["etcd01"].file("/opt/etcd/cfg/etcd").is_some());
    /// ```
    pub fn rendered(&self) -> &RenderedCluster {
        &self.rendered
    }

    /// The plan of `host` as a POSIX `sh` script a person can read, one
    /// step after another in the plan's order, each under a comment that
    /// is the step's reason: files installed from the folder of the
    /// script (the rendered files, as [`BarePlan::write_tree`] writes
    /// them), `$K8S_BOOTSTRAP_PKI` (certificates and keys, default
    /// `./pki`) and `$K8S_BOOTSTRAP_BINARIES` (binaries, default
    /// `./binaries`); commands as `apply` runs them, a checked one as `if !
    /// CHECK; then ...; fi` (running the script twice changes nothing the
    /// second time); the health gate as a bounded wait. Across hosts,
    /// `apply` finishes a stage on every host before the next starts.
    ///
    /// ```
    /// use k8s_bootstrap_core::apply::BarePlan;
    /// use k8s_bootstrap_core::spec::{ClusterSpec, HostSpec, Role, Version};
    /// let hosts = vec![HostSpec::new("etcd01", [192, 168, 1, 30].into(), &[Role::Etcd, Role::Node])];
    /// let spec = ClusterSpec::new(hosts, Version::new(3, 5, 17), Version::new(0, 26, 1));
    /// let sh = BarePlan::new(&spec).unwrap().commands_sh("etcd01");
    /// assert!(sh.starts_with("#!/bin/sh\n# Commands of host etcd01"));
    /// assert!(sh.contains("\n# === stage: etcd ===\n"));
    /// assert!(sh.lines().any(|l| l.starts_with("if ! ") && l.ends_with("; fi"))); // checked steps
    /// ```
    pub fn commands_sh(&self, host: &str) -> String {
        let no_files = Vec::new();
        let files = self.files.get(host).unwrap_or(&no_files);
        let render = self.rendered.hosts.get(host);
        // The engine's install step is for one OS family: guarded when the spec does not tell it.
        let os_known = self.spec.hosts.iter().any(|h| h.name == host && h.os.is_some());
        let mut body = String::new();
        let (mut pki, mut binaries, mut os) = (false, false, false);
        for stage in &self.plan.stages {
            let mut header = false;
            for wave in &stage.waves {
                let Some(steps) = wave.hosts.get(host) else { continue };
                if !header {
                    body.push_str(&format!("\n# === stage: {} ===\n", stage.stage));
                    header = true;
                }
                for step in steps {
                    body.push_str(&format!("# {}\n", step.what.replace('\n', " ")));
                    match &step.op {
                        Op::Write { path, .. } => {
                            let Some(f) = files.iter().find(|f| f.path == *path) else { continue };
                            let from = match (&f.pki_file, f.binary) {
                                (Some(name), _) => {
                                    pki = true;
                                    format!("\"$pki\"/{}", shell_quote(name))
                                }
                                (None, true) => {
                                    binaries = true;
                                    let name = path.rsplit('/').next().unwrap_or(path);
                                    format!("\"$binaries\"/{}", shell_quote(name))
                                }
                                (None, false) => format!("\"$here\"{}", shell_quote(path)),
                            };
                            body.push_str(&format!("install -D -m {:o} {} -- {from} {}\n", f.mode, owner_args(&f.owner), shell_quote(path)));
                        }
                        Op::EtcdJoin { via, .. } => {
                            body.push_str(&format!("# (on {via}: etcdctl member add; then this member starts with initial state existing: `k8s-bootstrap apply` does both)\n"));
                        }
                        op => {
                            os |= matches!(op, Op::Run { os: Some(_), .. }) || (matches!(op, Op::InstallEngine { .. }) && !os_known);
                            body.push_str(&self.command_line(step, os_known));
                            body.push('\n');
                        }
                    }
                }
                for gate in &wave.gates {
                    body.push_str(&self.gate_lines(gate, render));
                }
            }
        }
        let mut head = format!(
            "#!/bin/sh\n\
             # Commands of host {host}: the plan `k8s-bootstrap apply` carries out on a\n\
             # host that has nothing yet, step by step, in order, each under its reason.\n\
             # Across hosts, apply finishes a stage on every host before the next starts\n\
             # (etcd members start together). A command behind \"if ! CHECK\" only runs\n\
             # when CHECK fails: running this twice changes nothing the second time.\n\
             set -eu\n\
             # the rendered files: the folder of this script (k8s-bootstrap render --out)\n\
             here=$(cd -- \"$(dirname -- \"$0\")\" && pwd)\n"
        );
        if pki {
            head.push_str("# certificates and keys (k8s-bootstrap certs generate)\npki=${K8S_BOOTSTRAP_PKI:-./pki}\n");
        }
        if binaries {
            head.push_str("# binaries: binaries.* of the spec, and those of its release tarballs\nbinaries=${K8S_BOOTSTRAP_BINARIES:-./binaries}\n");
        }
        if os {
            head.push_str(&format!(
                "\n# OS family from /etc/os-release (rhel: CentOS/RHEL/Rocky, debian: Debian/Ubuntu)\n{}\n",
                crate::hostprep::OsFamily::detect_script().trim_end()
            ));
        }
        head + &body
    }

    /// A step that is a command, as one line (`os_known`: the host's OS
    /// family is in the spec, and the plan holds only its steps).
    fn command_line(&self, step: &Step, os_known: bool) -> String {
        let run = match plan::op_command(&self.spec, &self.packages, &step.op) {
            Some(Ok(argv)) => join_argv(&argv),
            Some(Err(why)) => return format!("echo {} >&2; exit 1", shell_quote(&format!("{}: {why}", step.what))),
            None => return format!("# ({})", step.what),
        };
        let mut conds = Vec::new();
        match &step.op {
            Op::Run { check, os, .. } => {
                if let Some(os) = os {
                    conds.push(format!("[ \"$os_family\" = {} ]", os.as_str()));
                }
                if let Some(check) = check {
                    conds.push(format!("! {}", join_argv(check)));
                }
            }
            Op::InstallEngine { os } if !os_known => conds.push(format!("[ \"$os_family\" = {} ]", os.as_str())),
            _ => {}
        }
        if conds.is_empty() { run } else { format!("if {}; then {run}; fi", conds.join(" && ")) }
    }

    /// What `apply` waits for after a wave, on this host.
    fn gate_lines(&self, gate: &Gate, render: Option<&HostRender>) -> String {
        match gate {
            Gate::Healthy { pending } => {
                let health = render.and_then(|r| r.commands.iter().find(|c| c.phase == Phase::EtcdHealthy));
                let not = if pending.is_empty() { String::new() } else { format!(" (not yet: {})", pending.join(", ")) };
                match health {
                    Some(c) => format!(
                        "# wait until every etcd member is healthy{not} (at most 2 minutes)\nn=0; until {} >/dev/null 2>&1; do n=$((n + 1)); [ \"$n\" -lt 60 ] || exit 1; sleep 2; done\n",
                        join_argv(&c.argv)
                    ),
                    None => format!("# apply waits here until every etcd member is healthy{not}\n"),
                }
            }
            Gate::CaughtUp { member } => format!("# apply waits here until {member} reports the new version and has caught up with the leader\n"),
        }
    }

    /// Writes every rendered file of every host under `dir` through
    /// `local` (usually [`crate::transport::LocalTransport`]) as
    /// `DIR/<host>/<absolute path>`, with the rendered modes, and
    /// `DIR/<host>/commands.sh`: atomically, leaving files that are
    /// already right untouched. Certificates, keys and binaries are not
    /// written (`commands.sh` names where it takes them from).
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use k8s_bootstrap_core::apply::BarePlan;
    /// use k8s_bootstrap_core::spec::{ClusterSpec, Skeleton};
    /// use k8s_bootstrap_core::transport::LocalTransport;
    /// let (spec, _) = ClusterSpec::load(&Skeleton::Tutorial.to_yaml()).unwrap();
    /// let dir = tempfile::tempdir().unwrap();
    /// let out = dir.path().to_str().unwrap();
    /// let bare = BarePlan::new(&spec).unwrap();
    /// let first = bare.write_tree(&LocalTransport::new(), out).await.unwrap();
    /// assert!(std::path::Path::new(&format!("{out}/etcd02/opt/etcd/cfg/etcd")).exists());
    /// assert_eq!(first.written, bare.rendered().hosts.values().map(|h| h.files.len() + 1).sum::<usize>()); // + commands.sh
    /// let again = bare.write_tree(&LocalTransport::new(), out).await.unwrap();
    /// assert_eq!((again.written, again.unchanged), (0, first.written));
    /// # });
    /// ```
    ///
    /// # Errors
    /// The first [`TransportError`] met (with the path); files written
    /// before it stay written, none is ever half-written.
    pub async fn write_tree(&self, local: &dyn Transport, dir: &str) -> Result<TreeWritten, TransportError> {
        let dir = dir.trim_end_matches('/');
        let mut files = Vec::new();
        for (host, r) in &self.rendered.hosts {
            for f in &r.files {
                let path = format!("{dir}/{host}/{}", f.path.trim_start_matches('/'));
                files.push((path, FileSource::Bytes(f.contents.clone()), PutOptions::new(f.mode)));
            }
            files.push((format!("{dir}/{host}/commands.sh"), FileSource::Bytes(self.commands_sh(host).into_bytes()), PutOptions::new(0o755)));
        }
        let mut done = TreeWritten::default();
        for r in local.put_files(&files).await {
            match r? {
                PutOutcome::Unchanged => done.unchanged += 1,
                _ => done.written += 1,
            }
        }
        Ok(done)
    }
}

/// `-o USER -g GROUP` of an owner (`user:group` or `user`).
fn owner_args(owner: &str) -> String {
    match owner.split_once(':') {
        Some((u, g)) => format!("-o {} -g {}", shell_quote(u), shell_quote(g)),
        None => format!("-o {}", shell_quote(owner)),
    }
}
