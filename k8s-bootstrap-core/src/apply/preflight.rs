//! Preflight: what would make an apply fail half-way or hurt a host,
//! found in the facts before anything changes (as kubeadm's preflight
//! does). Each finding names the host, what was found and the fix; the plan
//! refuses to run while one remains that is not waived by its check's name.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::spec::Role;

use super::facts::HostFacts;
use super::plan::DesiredHost;

/// A preflight check, by the name that waives it (`--waive NAME`).
///
/// ```
/// use k8s_bootstrap_core::apply::preflight::Check;
/// assert_eq!("port-taken".parse::<Check>().unwrap(), Check::PortTaken);
/// assert_eq!(Check::ForeignEtcd.to_string(), "foreign-etcd");
/// assert!("disk".parse::<Check>().unwrap_err().contains("disk-space"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Check {
    /// systemd is not the host's init.
    NoSystemd,
    /// A unit this tool installs is masked.
    MaskedUnit,
    /// A port the cluster listens on is taken by another process.
    PortTaken,
    /// An etcd runs that this tool did not install.
    ForeignEtcd,
    /// etcd's data dir holds the data of an etcd this tool did not set up,
    /// or of another cluster.
    ForeignDataDir,
    /// Not enough free space where files go.
    DiskSpace,
    /// The host's clock is off by more than certificates are backdated.
    ClockSkew,
    /// A kernel module the host needs is neither loaded nor available.
    KernelModule,
}

impl Check {
    /// Every check.
    pub const ALL: [Check; 8] = [
        Check::NoSystemd,
        Check::MaskedUnit,
        Check::PortTaken,
        Check::ForeignEtcd,
        Check::ForeignDataDir,
        Check::DiskSpace,
        Check::ClockSkew,
        Check::KernelModule,
    ];

    /// Its name.
    ///
    /// ```
    /// use k8s_bootstrap_core::apply::preflight::Check;
    /// assert_eq!(Check::ClockSkew.as_str(), "clock-skew");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Check::NoSystemd => "no-systemd",
            Check::MaskedUnit => "masked-unit",
            Check::PortTaken => "port-taken",
            Check::ForeignEtcd => "foreign-etcd",
            Check::ForeignDataDir => "foreign-data-dir",
            Check::DiskSpace => "disk-space",
            Check::ClockSkew => "clock-skew",
            Check::KernelModule => "kernel-module",
        }
    }
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Check {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Check::ALL.into_iter().find(|c| c.as_str() == s).ok_or_else(|| {
            let names: Vec<&str> = Check::ALL.iter().map(|c| c.as_str()).collect();
            format!("unknown preflight check {s:?} (one of {})", names.join(", "))
        })
    }
}

/// One problem preflight found.
///
/// ```
/// use k8s_bootstrap_core::apply::preflight::{Check, Finding};
/// let f = Finding { host: "etcd02".into(), check: Check::MaskedUnit, found: "etcd.service is masked".into(), fix: "systemctl unmask etcd.service".into(), waived: false };
/// assert_eq!(f.to_string(), "etcd02: etcd.service is masked (masked-unit); fix: systemctl unmask etcd.service");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The host.
    pub host: String,
    /// The check (its name waives it).
    pub check: Check,
    /// What was found.
    pub found: String,
    /// What fixes it.
    pub fix: String,
    /// Waived by the run's options: reported, not a reason to refuse.
    pub waived: bool,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} ({}); fix: {}", self.host, self.found, self.check, self.fix)?;
        if self.waived {
            f.write_str(" [waived]")?;
        }
        Ok(())
    }
}

/// How far the clock may be off: certificates are valid from 5 minutes
/// before they are issued (see `pki`).
const MAX_SKEW_SECS: i64 = 5 * 60;

/// Room kept free on a filesystem beyond the files written there (etcd's
/// data, logs, the next apply's temporary files).
const DISK_MARGIN_KIB: u64 = 64 * 1024;

/// What preflight judges of one host.
pub(super) struct HostCheck<'a> {
    pub(super) d: &'a DesiredHost<'a>,
    pub(super) facts: &'a HostFacts,
    /// Paths the plan writes on it.
    pub(super) writes: &'a BTreeSet<String>,
    /// etcd's client and peer ports, flannel's VXLAN port.
    pub(super) ports: (u16, u16, Option<u16>),
    /// The env file's `ETCD_INITIAL_CLUSTER_TOKEN` as the spec wants it,
    /// and the env file's path.
    pub(super) etcd_env: Option<(&'a str, String)>,
    pub(super) data_dir: &'a str,
    /// On a member: where etcd reads the CA certificate (`/opt/etcd/ssl/ca.pem`).
    pub(super) etcd_ca: Option<String>,
}

impl HostCheck<'_> {
    /// An etcd set up by hand whose CA is the cluster's own (the PKI
    /// folder's `ca.pem`, byte for byte: `adopt` imported it): taken over,
    /// not foreign. The plan migrates it in place, keeping its data.
    pub(super) fn adopted(&self) -> bool {
        self.etcd_ca.as_ref().is_some_and(|ca| matches!(self.facts.files.get(ca), Some(Some(_))) && !self.writes.contains(ca))
    }
}

/// Every problem of one host.
pub(super) fn check(h: &HostCheck<'_>) -> Vec<(Check, String, String)> {
    let mut out = Vec::new();
    let p = &h.facts.preflight;
    let member = h.d.roles.contains(&Role::Etcd);
    if p.no_systemd {
        out.push((Check::NoSystemd, "systemd is not running as init (/run/systemd/system is missing)".into(), "use a host that boots with systemd: k8s-bootstrap installs systemd units".into()));
        // Nothing below means much without systemd.
        return out;
    }
    for (name, u) in &h.facts.units {
        if u.load == "masked" || u.enabled.starts_with("masked") {
            out.push((Check::MaskedUnit, format!("{name}.service is masked"), format!("systemctl unmask {name}.service (a distribution's package may have masked it)")));
        }
    }
    let etcd_running = h.facts.unit("etcd").running() || p.etcd_process || p.listeners.iter().any(|l| l.process.as_ref().is_some_and(|(n, _)| n == "etcd"));
    if member && etcd_running && p.etcd_env_foreign && !h.adopted() {
        let env = h.etcd_env.as_ref().map(|(_, p)| p.as_str()).unwrap_or("etcd's environment file");
        out.push((
            Check::ForeignEtcd,
            format!("an etcd runs here that k8s-bootstrap did not set up ({env} is absent or was not written by it)"),
            "take it over with `k8s-bootstrap adopt` (it reads the cluster into a spec and imports its CA; plan then shows the migration), or stop that etcd and move its data dir away to start afresh (after a snapshot)".into(),
        ));
    }
    let (client, peer, vxlan) = h.ports;
    let mut wanted: Vec<(&str, u16, &str)> = Vec::new();
    if member {
        wanted.extend([("tcp", client, "etcd"), ("tcp", peer, "etcd")]);
    }
    if let Some(v) = vxlan {
        wanted.push(("udp", v, "flanneld"));
    }
    for (proto, port, owner) in wanted {
        for l in p.listeners.iter().filter(|l| l.proto == proto && l.port == port) {
            // etcd on its own ports is ours or foreign-etcd; a kernel VXLAN socket is flannel's.
            let Some((name, pid)) = &l.process else { continue };
            if name == owner {
                continue;
            }
            out.push((Check::PortTaken, format!("port {port}/{proto} is taken by {name} (pid {pid})"), format!("stop {name}, or give the cluster another port in the spec")));
        }
    }
    if member && p.etcd_data == Some(true) && !etcd_running {
        let other_token = h.etcd_env.as_ref().and_then(|(want, path)| {
            let text = h.facts.files.get(path)?.as_ref()?.text.as_ref()?;
            let have = text.lines().find_map(|l| l.strip_prefix("ETCD_INITIAL_CLUSTER_TOKEN="))?.trim_matches('"');
            (have != *want).then(|| have.to_string())
        });
        // An absent environment file says nothing: `reset` keeps the data
        // and removes the files, and the next apply brings the member back.
        let env_there = h.etcd_env.as_ref().is_some_and(|(_, path)| matches!(h.facts.files.get(path), Some(Some(_))));
        let why = if p.etcd_env_foreign && env_there && !h.adopted() {
            Some("an etcd that k8s-bootstrap did not set up".to_string())
        } else {
            other_token.map(|t| format!("another cluster (token {t})"))
        };
        if let Some(why) = why {
            let dd = h.data_dir;
            out.push((
                Check::ForeignDataDir,
                format!("{dd} holds the data of {why}: etcd would start as that member, not as this cluster's"),
                format!("move it away (mv {dd} {dd}.old) if that data is not needed, or restore this cluster's snapshot"),
            ));
        }
    }
    // Free space: per filesystem, what this run writes there plus a margin.
    let mut need: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for (f, size) in h.d.files.iter().zip(h.d.sizes.iter()) {
        if !h.writes.contains(&f.path) {
            continue;
        }
        let dir = f.path.rsplit_once('/').map_or("/", |(d, _)| d);
        if let Some((mount, avail)) = p.disk.get(dir) {
            let e = need.entry(mount.as_str()).or_insert((0, *avail));
            e.0 += size.div_ceil(1024);
        }
    }
    for (mount, (kib, avail)) in need {
        if avail < kib + DISK_MARGIN_KIB {
            out.push((
                Check::DiskSpace,
                format!("{mount} has {} MiB free; this apply writes {} MiB there and keeps {} MiB free", avail / 1024, kib.div_ceil(1024), DISK_MARGIN_KIB / 1024),
                format!("free space on {mount}, or grow it"),
            ));
        }
    }
    if let Some(skew) = p.clock_skew
        && skew.abs() > MAX_SKEW_SECS
    {
        let way = if skew > 0 { "ahead of" } else { "behind" };
        out.push((
            Check::ClockSkew,
            format!("the clock is {} s {way} the control machine's: certificates issued now are valid from 5 minutes ago, so etcd would refuse them as not yet valid (or the control machine's are)", skew.abs()),
            "set the time on both (chrony, systemd-timesyncd) and run again".into(),
        ));
    }
    for (m, ok) in &p.modules {
        if !ok {
            out.push((
                Check::KernelModule,
                format!("kernel module {m} is neither loaded, built in, nor installed (modinfo {m})"),
                "install the kernel's modules package for the running kernel (linux-modules-extra-$(uname -r), kernel-modules), or boot a kernel that has it".into(),
            ));
        }
    }
    out
}

/// The refusal of a run with `findings` not waived (`None`: none).
pub(super) fn refusal(findings: &[Finding]) -> Option<String> {
    let open: Vec<String> = findings.iter().filter(|f| !f.waived).map(|f| format!("  {f}")).collect();
    if open.is_empty() {
        return None;
    }
    let names: BTreeSet<&str> = findings.iter().filter(|f| !f.waived).map(|f| f.check.as_str()).collect();
    Some(format!(
        "preflight found {} problem(s), nothing was changed:\n{}\nfix them and run again, or waive a check with --waive {} (Python: waive=[...])",
        open.len(),
        open.join("\n"),
        names.into_iter().collect::<Vec<_>>().join(" --waive ")
    ))
}
