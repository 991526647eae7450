//! Facts: what a host is, read in one round trip before anything is
//! planned. One probe per host (a single `sh` script) reads every file the
//! host should have (mode, owner, mtime, sha256, and the old text of a
//! config that differs, for the diff), the temporary files a killed upload
//! left, the managed units' states, the OS, the result of every rendered
//! check, whether dockerd is there, and on a running etcd member the
//! member list and every member's status.
//!
//! The plan ([`super::plan`]) is a pure function of these values and the
//! desired state; a saved plan carries them, so that `apply FILE` can name
//! the fact that changed since.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::hostprep::OsFamily;
use crate::render::Phase;
use crate::shell::join_argv;
use crate::transport::{Command, Transport, TransportError};

use super::desired::DesiredFile;

/// A file as it is on a host.
///
/// ```
/// use k8s_bootstrap_core::apply::facts::FileFact;
/// let f: FileFact = serde_json::from_str(r#"{"mode":420,"uid":0,"gid":0,"mtime":1733331234,"sha256":"ab12"}"#).unwrap();
/// assert_eq!((f.mode, f.text), (0o644, None)); // the old text only comes for a diff
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileFact {
    /// Permission bits.
    pub mode: u32,
    /// Owner uid.
    pub uid: u32,
    /// Owner gid.
    pub gid: u32,
    /// Modification time, seconds since the epoch.
    pub mtime: u64,
    /// SHA-256 of the contents, hex.
    pub sha256: String,
    /// The contents, when they differ from the desired ones and the file
    /// is a small, non-secret text file (for the plan's diff).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// A systemd unit as `systemctl show` reports it.
///
/// ```
/// use k8s_bootstrap_core::apply::facts::UnitFact;
/// let etcd = UnitFact { load: "loaded".into(), active: "active".into(), enabled: "enabled".into(), active_since: Some(1733331234), need_reload: false };
/// assert!(etcd.running());
/// assert!(!UnitFact { active: "failed".into(), ..etcd }.running());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitFact {
    /// `loaded`, `not-found`, `masked`, ...
    pub load: String,
    /// `active`, `inactive`, `failed`, `activating`, ...
    pub active: String,
    /// `enabled`, `disabled`, `masked`, `static`, or empty.
    pub enabled: String,
    /// When it last entered the active state (seconds since the epoch).
    pub active_since: Option<u64>,
    /// systemd has not read its unit file since it was written.
    pub need_reload: bool,
}

impl UnitFact {
    /// It runs (`active`, or `reloading`).
    pub fn running(&self) -> bool {
        self.active == "active" || self.active == "reloading"
    }
}

/// One member of `etcdctl member list`.
///
/// ```
/// use k8s_bootstrap_core::apply::facts::MemberFact;
/// let added = MemberFact { id: "91bc3c398fb3c146".into(), started: false, name: String::new(), peer: "https://10.77.0.14:2380".into() };
/// assert!(!added.started && added.name.is_empty()); // `member add` ran, the member never did
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberFact {
    /// Member id, hex.
    pub id: String,
    /// It has started (an added member that never ran has not).
    pub started: bool,
    /// Its name (empty until it started).
    pub name: String,
    /// Its first peer URL.
    pub peer: String,
}

/// One member's answer to `etcdctl endpoint status`.
///
/// ```
/// use k8s_bootstrap_core::apply::facts::EndpointFact;
/// let e = EndpointFact { endpoint: "https://10.77.0.11:2379".into(), version: "3.4.23".into(), leader: true };
/// assert_eq!(serde_json::to_value(&e).unwrap()["version"], "3.4.23");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointFact {
    /// The endpoint URL.
    pub endpoint: String,
    /// The server version it runs.
    pub version: String,
    /// It is the leader.
    pub leader: bool,
}

/// What a running etcd member says of its cluster.
///
/// ```
/// use k8s_bootstrap_core::apply::facts::EtcdFacts;
/// // etcd runs, but `endpoint status` did not print its JSON: the plan refuses to guess versions.
/// let f = EtcdFacts { unreadable: Some("context deadline exceeded".into()), ..EtcdFacts::default() };
/// assert!(f.endpoints.is_empty() && f.members.is_empty());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EtcdFacts {
    /// `member list`.
    pub members: Vec<MemberFact>,
    /// `endpoint status` of every member that answered.
    pub endpoints: Vec<EndpointFact>,
    /// What `endpoint status` printed when it was not its JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreadable: Option<String>,
}

/// Everything the plan needs to know of one host.
///
/// ```
/// use k8s_bootstrap_core::apply::facts::HostFacts;
/// use k8s_bootstrap_core::hostprep::OsFamily;
/// let bare = HostFacts::bare(Some(OsFamily::Debian)); // what a fresh host has: nothing
/// assert!(!bare.unit("etcd").running() && bare.files.is_empty() && bare.checks.is_empty());
/// let json = serde_json::to_string(&bare).unwrap(); // saved in a plan file, read back by `apply FILE`
/// assert_eq!(serde_json::from_str::<HostFacts>(&json).unwrap(), bare);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostFacts {
    /// The OS family, from `/etc/os-release` (`None`: not recognised).
    pub os: Option<OsFamily>,
    /// Each path the host should have: `None` when it is absent (or not a regular file).
    pub files: BTreeMap<String, Option<FileFact>>,
    /// Temporary files a killed upload left beside them.
    pub litter: Vec<String>,
    /// The managed units, by name (`etcd`, `flanneld`, `docker`).
    pub units: BTreeMap<String, UnitFact>,
    /// Each rendered check, by [`check_key`]: it passed (the
    /// command has nothing to do). A check that was not run (etcd down
    /// where it asks etcd) is absent.
    pub checks: BTreeMap<String, bool>,
    /// Exit code of the dockerd check ([`crate::docker::EngineInstall::check`]) and what it printed.
    pub dockerd: Option<(u32, String)>,
    /// On a running etcd member: what it says of the cluster.
    pub etcd: Option<EtcdFacts>,
    /// What preflight looks at (see [`super::preflight`]); it may change
    /// from one read to the next (free space, the clock) and is never a
    /// reason to call a saved plan stale.
    #[serde(default)]
    pub preflight: PreflightFacts,
}

/// A socket listening on the host (`ss -Hlntup`).
///
/// ```
/// use k8s_bootstrap_core::apply::facts::Listener;
/// let l = Listener { proto: "tcp".into(), port: 2379, process: Some(("nginx".into(), 812)) };
/// assert_eq!(l.process.as_ref().unwrap().0, "nginx");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listener {
    /// `tcp` or `udp`.
    pub proto: String,
    /// The local port.
    pub port: u16,
    /// The process (name, pid), when `ss` could tell (a kernel socket,
    /// such as a VXLAN device's, has none).
    pub process: Option<(String, u32)>,
}

/// The facts preflight judges (all read in the same probe). The default
/// is a host where nothing is wrong.
///
/// ```
/// use k8s_bootstrap_core::apply::facts::PreflightFacts;
/// let p = PreflightFacts::default();
/// assert!(!p.no_systemd && p.listeners.is_empty()); // nothing wrong, nothing listening
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreflightFacts {
    /// systemd does not run as init (`/run/systemd/system` is missing).
    pub no_systemd: bool,
    /// The host's clock minus the control machine's, in seconds.
    pub clock_skew: Option<i64>,
    /// `ss` could be run (else `listeners` says nothing).
    pub ss: bool,
    /// Sockets listening on the ports the cluster uses.
    pub listeners: Vec<Listener>,
    /// etcd's environment file here is absent or was not written by
    /// k8s-bootstrap (its first line does not say so).
    pub etcd_env_foreign: bool,
    /// On a member: etcd's data dir holds a member's data (`member/`);
    /// `None`: not read.
    pub etcd_data: Option<bool>,
    /// On a member whose etcd is not active: the line of its journal
    /// where etcd failed on its data dir (one of
    /// [`crate::etcd::DATA_ERRORS`]: a damaged database, WAL or snapshot).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etcd_data_error: Option<String>,
    /// A process named `etcd` runs.
    pub etcd_process: bool,
    /// Per folder files go to: its filesystem's mount point and free KiB.
    pub disk: BTreeMap<String, (String, u64)>,
    /// Per kernel module the host needs: loaded, built in, or loadable.
    pub modules: BTreeMap<String, bool>,
}

impl HostFacts {
    /// The unit `name` (an empty fact, "not found", when systemd did not say).
    pub fn unit(&self, name: &str) -> UnitFact {
        self.units.get(name).cloned().unwrap_or_else(|| UnitFact { load: "not-found".into(), active: "inactive".into(), ..UnitFact::default() })
    }
    /// The facts of a host where nothing was ever installed: no files, no
    /// units, every check failing. The plan for these is what a fresh
    /// host gets (and what `commands.sh` shows).
    pub fn bare(os: Option<OsFamily>) -> Self {
        HostFacts { os, ..HostFacts::default() }
    }
}

/// The key of a rendered command's check in [`HostFacts::checks`]: its
/// description, and the OS family it is for when it has one (the same step
/// for two families has two checks).
///
/// ```
/// use k8s_bootstrap_core::apply::facts::check_key;
/// use k8s_bootstrap_core::hostprep::OsFamily;
/// use k8s_bootstrap_core::render::{Command, Phase};
/// let c = Command::new(Phase::HostPrep, "open 2379/tcp in firewalld", ["firewall-cmd", "--add-port=2379/tcp"]).on(Some(OsFamily::Rhel));
/// assert_eq!(check_key(&c), "open 2379/tcp in firewalld [rhel]");
/// ```
pub fn check_key(c: &crate::render::Command) -> String {
    match c.os {
        Some(os) => format!("{} [{}]", c.description, os.as_str()),
        None => c.description.clone(),
    }
}

/// What the probe of one host asks.
pub(super) struct Probe<'a> {
    pub(super) files: &'a [DesiredFile],
    /// Paths only looked at (a binary the spec does not upload).
    pub(super) extra: Vec<String>,
    pub(super) units: Vec<String>,
    /// ([`check_key`], phase, the OS family it is for, check argv) of each rendered check.
    pub(super) checks: Vec<(String, Phase, Option<OsFamily>, Vec<String>)>,
    /// `hosts[].os` of the spec (`None`: the host's os-release says).
    pub(super) os: Option<OsFamily>,
    pub(super) dockerd_check: Option<Vec<String>>,
    /// The etcdctl admin wrapper, on an etcd member.
    pub(super) etcdctl: Option<String>,
    /// The sha256 of each desired file (computed once per run for binaries).
    pub(super) digests: Vec<String>,
    /// What preflight reads.
    pub(super) preflight: PreflightProbe,
}

/// What the probe reads for preflight.
#[derive(Debug, Clone, Default)]
pub(super) struct PreflightProbe {
    /// etcd's environment file and data dir, on an etcd member.
    pub(super) etcd: Option<(String, String)>,
    /// (`tcp`|`udp`, port) the cluster listens on here.
    pub(super) ports: Vec<(&'static str, u16)>,
    /// Kernel modules the host needs.
    pub(super) modules: Vec<String>,
    /// Folders files go to.
    pub(super) dirs: Vec<String>,
}

/// The first line of every environment file k8s-bootstrap renders says it.
pub(super) const RENDERED_MARK: &str = "rendered by k8s-bootstrap";

impl PreflightProbe {
    /// The script's lines (`p ...`).
    fn script(&self) -> String {
        let mut s = String::from("if [ ! -d /run/systemd/system ]; then echo 'p nosystemd'; fi\nprintf 'p now %s\\n' \"$(date +%s)\"\n");
        if !self.ports.is_empty() {
            s.push_str("if command -v ss >/dev/null 2>&1; then echo 'p ss'; ss -Hlntup 2>/dev/null | sed 's/^/p l /'; fi\n");
        }
        if let Some((env, data_dir)) = &self.etcd {
            let env = join_argv(std::slice::from_ref(env));
            s.push_str(&format!("if ! head -n1 {env} 2>/dev/null | grep -q '{RENDERED_MARK}'; then echo 'p foreignenv'; fi\n"));
            s.push_str(&crate::etcd::data_check_script(data_dir, "p "));
            s.push_str("if pgrep -x etcd >/dev/null 2>&1; then echo 'p etcd'; fi\n");
        }
        if !self.dirs.is_empty() {
            // One `df` for every folder (at its nearest existing parent):
            // `p dfa DIR` lines name the folders, `p dfr AVAIL MOUNT` lines
            // answer them in the same order.
            s.push_str(&format!("kb_df() {{\n{DF}\n}}\nkb_df {}\n", join_argv(&self.dirs)));
        }
        for m in &self.modules {
            let q = join_argv(std::slice::from_ref(m));
            // Usable now (host prep's own check), or loadable.
            let present = crate::hostprep::module_present_check(m);
            s.push_str(&format!("if {{ {present}; }} || modinfo {q} >/dev/null 2>&1; then echo 'p mod 1 '{q}; else echo 'p mod 0 '{q}; fi\n"));
        }
        s
    }

    /// Reads one `p` line into `f` (`df`: what the lines of `kb_df` said so far).
    fn parse(&self, rest: &str, f: &mut PreflightFacts, df: &mut DfLines) {
        match crate::etcd::DataCheck::parse(rest) {
            Some(crate::etcd::DataCheck::Member(m)) => f.etcd_data = Some(m),
            Some(crate::etcd::DataCheck::Error(e)) => f.etcd_data_error = Some(e),
            None => self.parse_other(rest, f, df),
        }
    }

    fn parse_other(&self, rest: &str, f: &mut PreflightFacts, df: &mut DfLines) {
        let (what, rest) = rest.split_once(' ').unwrap_or((rest, ""));
        match what {
            "nosystemd" => f.no_systemd = true,
            "now" => {
                let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
                f.clock_skew = rest.trim().parse::<i64>().ok().map(|t| t - now);
            }
            "ss" => f.ss = true,
            "l" => {
                if let Some(l) = parse_ss(rest)
                    && self.ports.iter().any(|(proto, port)| *proto == l.proto && *port == l.port)
                    && !f.listeners.contains(&l)
                {
                    f.listeners.push(l);
                }
            }
            "foreignenv" => f.etcd_env_foreign = true,
            "etcd" => f.etcd_process = true,
            "dfa" => df.asked.push(rest.to_string()),
            "dfr" => {
                if let Some(dir) = df.asked.get(df.answered)
                    && let Some((avail, mount)) = rest.split_once(' ')
                    && let Ok(kib) = avail.parse()
                {
                    f.disk.insert(dir.clone(), (mount.to_string(), kib));
                }
                df.answered += 1;
            }
            "mod" => {
                if let Some((ok, name)) = rest.split_once(' ') {
                    f.modules.insert(name.to_string(), ok == "1");
                }
            }
            _ => {}
        }
    }
}

/// The folders `kb_df` named so far, and how many `df` answered.
#[derive(Default)]
struct DfLines {
    asked: Vec<String>,
    answered: usize,
}

/// One line of `ss -Hlntup`: `tcp LISTEN 0 4096 10.0.0.1:2379 0.0.0.0:* users:(("etcd",pid=812,fd=7))`.
fn parse_ss(line: &str) -> Option<Listener> {
    let cols: Vec<&str> = line.split_whitespace().collect();
    let proto = (*cols.first()?).to_string();
    let port = cols.get(4)?.rsplit(':').next()?.parse().ok()?;
    let process = cols.iter().find_map(|c| c.strip_prefix("users:((\"")).and_then(|u| {
        let (name, rest) = u.split_once('"')?;
        let pid = rest.split("pid=").nth(1)?.split([',', ')']).next()?.parse().ok()?;
        Some((name.to_string(), pid))
    });
    Some(Listener { proto, port, process })
}

/// Seconds the probe gives its checks, all together.
const CHECKS_TIMEOUT: u64 = 20;

/// Text files up to this size come back for a diff when they differ.
const DIFF_MAX: u64 = 256 * 1024;

/// The body of the probe's `kb_df DIR...`: each folder's nearest existing
/// parent (no process per folder), then one `df` for all of them; `df -P`
/// answers its arguments one line each, in order.
const DF: &str = r#"  n=$#
  while [ "$n" -gt 0 ]; do
    d=$1; shift; n=$((n - 1)); printf 'p dfa %s\n' "$d"
    while [ ! -e "$d" ]; do d=${d%/*}; [ -n "$d" ] || d=/; done
    set -- "$@" "$d"
  done
  df -Pk -- "$@" 2>/dev/null | awk 'NR > 1 { print "p dfr " $4 " " $6 }'"#;

/// The files part of the probe, one `stat`, one `sha256sum` and one `awk`
/// for all files (a process per file and step cost more than the rest of
/// the probe together): `$k/list` holds `path TAB want TAB how` per file
/// (how: 1 diff, 0 no diff, 2 a binary whose digest the host may keep,
/// see `transport::DIGEST_CACHE`). A binary with no kept digest is hashed
/// by the transport scripts' own `sha` (`transport::SHA_FN`, written to a
/// file the awk pass sources): OpenSSL's digest when the host has it,
/// else sha256sum's. Prints `f MODE:UID:GID:MTIME SHA` or
/// `f -` per file, in order, then `c BASE64 PATH` for each small text file
/// whose digest is not the wanted one, then `t`, `x` lines as before.
const FILES: &str = r#"dg=DIGESTS; [ -r "$dg" ] || dg=/dev/null
printf '%s' SHAFN > "$k/sha"
awk -F '\t' -v dg="$dg" -v st="$k/st" -v hs="$k/h" -v dm=DIFFMAX -v cs="$k/c" -v shf="$k/sha" '
function q(s) { gsub(/\047/, "\047\\\047\047", s); return "\047" s "\047" }
function dig(f,   c, l) { c = ". " q(shf) "; sha " q(f) "; printf %s \"$s\""; l = ""; c | getline l; close(c); return l }
FILENAME == dg { kept[$1] = $2; keptsum[$1] = $3; next }
FILENAME == st { type[$5] = substr($2, length($2) - 3, 1); meta[$5] = $3; key[$5] = $4; next }
FILENAME == hs { sum[substr($0, 67)] = substr($0, 1, 64); next }
{ n++; p[n] = $1; want[n] = $2; how[n] = $3 }
END {
  for (i = 1; i <= n; i++) {
    f = p[i]
    if (!(f in type) || type[f] != "8") { print "f -"; continue }
    s = ""
    if (how[i] == 2 && (f in kept) && kept[f] == key[f]) s = keptsum[f]
    if (s == "" && (f in sum)) s = sum[f]
    if (s == "") s = dig(f)
    print "f " meta[f] " " s
    split(key[f], kk, " ")
    if (how[i] == 1 && s != want[i] && kk[2] + 0 <= dm) print f > cs
  }
}' "$dg" "$k/st" "$k/h" "$k/list"
if [ -s "$k/c" ]; then while IFS= read -r f; do printf 'c '; base64 -w0 < "$f"; printf ' %s\n' "$f"; done < "$k/c"; fi
while [ $# -gt 0 ] && [ "$1" != -- ]; do d=$1; shift
  for t in "$d"/.*.kbtmp.*; do if [ -f "$t" ] && [ ! -L "$t" ]; then printf 't %s\n' "$t"; fi; done
done
[ $# -gt 0 ] && shift
for f; do if [ -e "$f" ]; then echo 'x 1'; else echo 'x 0'; fi; done
"#;

impl Probe<'_> {
    /// The one command that reads every fact of the host. What asks a
    /// program that may be slow (the checks, dockerd, etcdctl) runs in the
    /// background, each answer in a file of its own, while the rest is
    /// read; the answers are printed once all are done.
    pub(super) fn command(&self) -> Command {
        let mut script = String::from("[ -r /etc/os-release ] && sed 's/^/o /' /etc/os-release\n");
        if !self.units.is_empty() {
            let units: Vec<String> = self.units.iter().map(|u| format!("{u}.service")).collect();
            script.push_str(&format!(
                "command -v systemctl >/dev/null && systemctl show -p Id,LoadState,ActiveState,UnitFileState,ActiveEnterTimestamp,NeedDaemonReload --timestamp=unix -- {} 2>/dev/null | sed 's/^/u /'\n",
                join_argv(&units)
            ));
        }
        // What asks etcd runs only where etcd runs: it would only time out.
        if self.etcdctl.is_some() || self.checks.iter().any(|c| c.1 == Phase::FlannelConfig) {
            script.push_str("etcd_up=0; systemctl is-active --quiet etcd 2>/dev/null && etcd_up=1\n");
        }
        // Its scratch files in RAM, as the session's own output: a host
        // whose disk (or /tmp) is full must still be read, to be told so.
        script.push_str("k=$(mktemp -d /dev/shm/kb-probe.XXXXXXXX 2>/dev/null) || k=$(mktemp -d) || exit 97\n");
        // A check of another OS family's step is not run (the plan skips
        // the step): firewalld's checks are the slowest, and there are two sets.
        if !self.checks.is_empty() {
            match self.os {
                Some(os) => script.push_str(&format!("os_family={}\n", os.as_str())),
                None => script.push_str(OsFamily::detect_script()),
            }
            // All checks in one group under one `timeout` (it ends the
            // whole process group: a check still running then gives no
            // answer, and its step is checked when it runs), a check
            // that is `sh -c SCRIPT` in a subshell of the group's shell:
            // two processes fewer per check than `timeout 20 sh -c`
            // each. The group's arguments: the scratch folder, the OS
            // family, whether etcd runs.
            let mut group = String::new();
            for (i, (_, phase, os, check)) in self.checks.iter().enumerate() {
                let body = match check.as_slice() {
                    [sh, c, script] if sh == "sh" && c == "-c" => format!("(set --\n{script}\n)"),
                    _ => join_argv(check),
                };
                let run = format!("if {body} >/dev/null 2>&1 </dev/null; then echo 'k {i} 0'; else echo 'k {i} 1'; fi");
                let run = if *phase == Phase::FlannelConfig { format!("if [ \"$3\" = 1 ]; then {run}; fi") } else { run };
                let run = match os {
                    Some(os) => format!("if [ \"$2\" = {} ]; then {run}; fi", os.as_str()),
                    None => run,
                };
                group.push_str(&format!("( {run} ) >\"$1/o.{i}\" &\n"));
            }
            group.push_str("wait\n");
            script.push_str(&format!("timeout {CHECKS_TIMEOUT} sh -c {} sh \"$k\" \"$os_family\" \"${{etcd_up:-0}}\" &\n", crate::shell::shell_quote(&group)));
        }
        if let Some(check) = &self.dockerd_check {
            script.push_str(&format!("( o=$({} 2>/dev/null </dev/null); printf 'd %s %s\\n' \"$?\" \"$(printf %s \"$o\" | head -n1)\" ) >\"$k/o.d\" &\n", join_argv(check)));
        }
        if let Some(etcdctl) = &self.etcdctl {
            let e = join_argv(std::slice::from_ref(etcdctl));
            script.push_str(&format!(
                "if [ \"$etcd_up\" = 1 ] && [ -x {e} ]; then\n  ( timeout 20 {e} member list 2>/dev/null | sed 's/^/m /' ) >\"$k/o.m\" &\n  ( printf 's %s\\n' \"$(timeout 20 {e} -w json endpoint status 2>/dev/null | tr -d '\\n')\" ) >\"$k/o.s\" &\nfi\n"
            ));
        }
        script.push_str(&self.preflight.script());
        if !self.files.is_empty() {
            // The list of files, their wanted digests and how to read them,
            // written by the shell's own printf; one stat and one sha256sum
            // of every file that is not a binary (a binary's digest the
            // host may have kept).
            let mut list = Vec::with_capacity(self.files.len() * 3);
            for (f, want) in self.files.iter().zip(&self.digests) {
                let how = if f.binary { "2" } else if f.secret { "0" } else { "1" };
                list.extend([f.path.clone(), want.clone(), how.to_string()]);
            }
            script.push_str(&format!("printf '%s\\t%s\\t%s\\n' {} >\"$k/list\"\n", join_argv(&list)));
            let paths: Vec<String> = self.files.iter().map(|f| f.path.clone()).collect();
            script.push_str(&format!("stat --printf 'S\\t%f\\t%a:%u:%g:%Y\\t%i %s %.9Y %.9Z\\t%n\\n' -- {} >\"$k/st\" 2>/dev/null\n", join_argv(&paths)));
            let small: Vec<String> = self.files.iter().filter(|f| !f.binary).map(|f| f.path.clone()).collect();
            if small.is_empty() {
                script.push_str(": >\"$k/h\"\n");
            } else {
                script.push_str(&format!("sha256sum -- {} >\"$k/h\" 2>/dev/null\n", join_argv(&small)));
            }
        } else {
            script.push_str(": >\"$k/list\"; : >\"$k/st\"; : >\"$k/h\"\n");
        }
        script.push_str(&FILES.replace("DIFFMAX", &DIFF_MAX.to_string()).replace("DIGESTS", crate::transport::DIGEST_CACHE).replace("SHAFN", &crate::shell::shell_quote(crate::transport::SHA_FN)));
        script.push_str("wait\ncat \"$k\"/o.* 2>/dev/null; rm -rf -- \"$k\"\n");
        let mut argv = vec!["sh".to_string(), "-c".into(), script, "sh".into()];
        let dirs: BTreeSet<&str> = self.files.iter().filter_map(|f| f.path.rsplit_once('/').map(|(d, _)| d)).filter(|d| !d.is_empty()).collect();
        argv.extend(dirs.into_iter().map(str::to_string));
        argv.push("--".into());
        argv.extend(self.extra.iter().cloned());
        Command::new(argv).timeout(Duration::from_secs(120))
    }

    /// Reads the probe's output (`host` for errors). Output it cannot read
    /// is an error that carries the probe's exit code and stderr (a host
    /// out of memory or disk cuts it short).
    pub(super) fn parse(&self, host: &str, out: &crate::transport::Output) -> Result<HostFacts, TransportError> {
        let stdout = out.stdout_str();
        let stdout: &str = &stdout;
        let bad = |why: String| TransportError::CommandFailed {
            host: host.into(),
            command: "read the host's facts (probe)".into(),
            code: out.exit_code,
            stderr_tail: format!("its output is unreadable: {why}; stderr: {}", crate::transport::tail(&out.stderr)),
        };
        let mut facts = HostFacts::default();
        let mut os_release = String::new();
        let mut unit: BTreeMap<String, String> = BTreeMap::new();
        let mut units = Vec::new();
        let mut files = self.files.iter();
        let mut extra = self.extra.iter();
        let mut members = Vec::new();
        let mut endpoints = None;
        let mut unreadable = None;
        let mut df = DfLines::default();
        let flush_unit = |unit: &mut BTreeMap<String, String>, units: &mut Vec<(String, UnitFact)>| {
            if let Some(id) = unit.get("Id") {
                let name = id.trim_end_matches(".service").to_string();
                let fact = UnitFact {
                    load: unit.get("LoadState").cloned().unwrap_or_default(),
                    active: unit.get("ActiveState").cloned().unwrap_or_default(),
                    enabled: unit.get("UnitFileState").cloned().unwrap_or_default(),
                    active_since: unit.get("ActiveEnterTimestamp").and_then(|t| t.trim_start_matches('@').parse().ok()).filter(|t| *t > 0),
                    need_reload: unit.get("NeedDaemonReload").is_some_and(|v| v == "yes"),
                };
                units.push((name, fact));
            }
            unit.clear();
        };
        for line in stdout.lines() {
            let (tag, rest) = line.split_once(' ').unwrap_or((line, ""));
            match tag {
                "o" => {
                    os_release.push_str(rest);
                    os_release.push('\n');
                }
                "u" if rest.is_empty() => flush_unit(&mut unit, &mut units),
                "u" => {
                    if let Some((k, v)) = rest.split_once('=') {
                        if k == "Id" && unit.contains_key("Id") {
                            flush_unit(&mut unit, &mut units);
                        }
                        unit.insert(k.to_string(), v.to_string());
                    }
                }
                "k" => {
                    let (i, code) = rest.split_once(' ').ok_or_else(|| bad(format!("check line {line:?}")))?;
                    let i: usize = i.parse().map_err(|_| bad(format!("check line {line:?}")))?;
                    let (desc, _, _, _) = self.checks.get(i).ok_or_else(|| bad(format!("check line {line:?}")))?;
                    facts.checks.insert(desc.clone(), code == "0");
                }
                "d" => {
                    let (code, path) = rest.split_once(' ').unwrap_or((rest, ""));
                    facts.dockerd = Some((code.parse().map_err(|_| bad(format!("dockerd line {line:?}")))?, path.to_string()));
                }
                "m" => members.extend(super::members::parse_member_list(rest).into_iter().map(|m| MemberFact { id: m.id, started: m.started, name: m.name, peer: m.peer })),
                "s" => {
                    let Some(list) = super::status::parse_endpoint_statuses(rest) else {
                        if !rest.trim().is_empty() {
                            unreadable = Some(rest.trim().chars().take(300).collect::<String>());
                        }
                        continue;
                    };
                    endpoints = Some(
                        list.into_iter()
                            .map(|e| EndpointFact {
                                leader: e.status.leader != 0 && e.status.leader == e.status.header.member_id,
                                endpoint: e.endpoint,
                                version: e.status.version,
                            })
                            .collect::<Vec<_>>(),
                    );
                }
                "f" => {
                    let f = files.next().ok_or_else(|| bad("more file lines than files".into()))?;
                    let fact = if rest == "-" {
                        None
                    } else {
                        let parse = || -> Option<FileFact> {
                            let (meta, sum) = rest.split_once(' ')?;
                            let mut m = meta.split(':');
                            Some(FileFact {
                                mode: u32::from_str_radix(m.next()?, 8).ok()?,
                                uid: m.next()?.parse().ok()?,
                                gid: m.next()?.parse().ok()?,
                                mtime: m.next()?.parse().ok()?,
                                sha256: sum.to_string(),
                                text: None,
                            })
                        };
                        Some(parse().ok_or_else(|| bad(format!("file line {line:?}")))?)
                    };
                    facts.files.insert(f.path.clone(), fact);
                }
                "c" => {
                    let (b64, path) = rest.split_once(' ').ok_or_else(|| bad(format!("contents line {:?}", line.get(..80).unwrap_or(line))))?;
                    let bytes = data_encoding::BASE64.decode(b64.as_bytes()).map_err(|e| bad(format!("contents of {path}: {e}")))?;
                    if let Some(Some(f)) = facts.files.get_mut(path) {
                        f.text = Some(String::from_utf8_lossy(&bytes).into_owned());
                    }
                }
                "t" => facts.litter.push(rest.to_string()),
                "p" => self.preflight.parse(rest, &mut facts.preflight, &mut df),
                "x" => {
                    let p = extra.next().ok_or_else(|| bad("more path lines than paths".into()))?;
                    let fact = (rest == "1").then(|| FileFact { mode: 0, uid: 0, gid: 0, mtime: 0, sha256: String::new(), text: None });
                    facts.files.insert(p.clone(), fact);
                }
                _ => {}
            }
        }
        flush_unit(&mut unit, &mut units);
        if files.next().is_some() || extra.next().is_some() {
            return Err(bad(format!("the probe stopped early ({} lines)", stdout.lines().count())));
        }
        facts.os = OsFamily::from_os_release(&os_release);
        facts.units = units.into_iter().collect();
        if endpoints.is_some() || !members.is_empty() || unreadable.is_some() {
            facts.etcd = Some(EtcdFacts { members, endpoints: endpoints.unwrap_or_default(), unreadable });
        }
        Ok(facts)
    }

    /// Runs the probe on `transport`.
    pub(super) async fn gather(&self, host: &str, transport: &dyn Transport) -> Result<HostFacts, TransportError> {
        let out = transport.run_ok(&self.command()).await?;
        self.parse(host, &out)
    }
}

/// The first fact that differs between `then` and `now`, for people
/// (`None`: the same).
pub(super) fn first_difference(then: &HostFacts, now: &HostFacts) -> Option<String> {
    if then.os != now.os {
        return Some(format!("OS family {:?}, now {:?}", then.os, now.os));
    }
    for (path, a) in &then.files {
        let b = now.files.get(path).cloned().flatten();
        let key = |f: &Option<FileFact>| f.as_ref().map(|f| (f.sha256.clone(), f.mode, f.uid, f.gid, f.mtime));
        if key(a) != key(&b) {
            let show = |f: &Option<FileFact>| match f {
                None => "absent".to_string(),
                Some(f) => format!("sha256 {}.., mode {:o}, mtime {}", &f.sha256.get(..12).unwrap_or(&f.sha256), f.mode, f.mtime),
            };
            return Some(format!("{path}: {} then, {} now", show(a), show(&b)));
        }
    }
    if then.files.len() != now.files.len() {
        return Some("the files looked at".into());
    }
    if then.litter != now.litter {
        return Some(format!("temporary files of an interrupted upload: {:?} then, {:?} now", then.litter, now.litter));
    }
    for (name, a) in &then.units {
        let b = now.unit(name);
        if *a != b {
            return Some(format!("unit {name}: {} {} {} then, {} {} {} now", a.load, a.active, a.enabled, b.load, b.active, b.enabled));
        }
    }
    for (check, a) in &then.checks {
        let b = now.checks.get(check);
        if Some(a) != b {
            return Some(format!("check \"{check}\": {} then, {} now", if *a { "passed" } else { "failed" }, b.map_or("not run", |b| if *b { "passed" } else { "failed" })));
        }
    }
    if then.checks.len() != now.checks.len() {
        return Some("the checks run".into());
    }
    if then.dockerd != now.dockerd {
        return Some(format!("dockerd: {:?} then, {:?} now", then.dockerd, now.dockerd));
    }
    if then.etcd != now.etcd {
        return Some("etcd's members or their versions".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ss` of this machine, as the probe runs it: a socket this test
    /// listens on comes back with its port and this process (name, pid).
    #[test]
    fn ss_lines_of_the_real_tool_parse() {
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let (tport, uport) = (tcp.local_addr().unwrap().port(), udp.local_addr().unwrap().port());
        let out = std::process::Command::new("ss").arg("-Hlntup").output().expect("ss (iproute2) is installed");
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        let all: Vec<Listener> = text.lines().map(|l| parse_ss(l).unwrap_or_else(|| panic!("unparsed ss line {l:?}"))).collect();
        let me = std::process::id();
        let comm = std::fs::read_to_string("/proc/self/comm").unwrap().trim().to_string();
        for (proto, port) in [("tcp", tport), ("udp", uport)] {
            let l = all.iter().find(|l| l.proto == proto && l.port == port).unwrap_or_else(|| panic!("{proto} {port} not in {text}"));
            assert_eq!(l.process, Some((comm.clone(), me)), "{l:?}");
        }
    }

    /// A binary's digest comes from the host's digest cache while the file
    /// is as it was written (inode, size, mtime, ctime); once it is
    /// touched in any way, it is hashed again.
    #[test]
    fn the_probe_reads_a_binarys_kept_digest_until_the_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("etcd");
        std::fs::write(&bin, b"real contents").unwrap();
        let path = bin.display().to_string();
        let file = DesiredFile { path: path.clone(), source: crate::transport::FileSource::Path(bin.clone()), mode: 0o755, owner: "root:root".into(), secret: false, binary: true, restarts: vec![], unit: None, pki_file: None };
        let files = [file];
        let probe = Probe { files: &files, extra: vec![], units: vec![], checks: vec![], os: Some(OsFamily::Debian), dockerd_check: None, etcdctl: None, digests: vec!["ff".into()], preflight: PreflightProbe::default() };
        let cache = dir.path().join("digests");
        let key = || String::from_utf8(std::process::Command::new("stat").args(["-c", "%i %s %.9Y %.9Z", "--", &path]).output().unwrap().stdout).unwrap().trim().to_string();
        std::fs::write(&cache, format!("{path}\t{}\tkept-digest\n", key())).unwrap();
        let sha_now = || {
            let argv = probe.command().argv;
            let out = std::process::Command::new(&argv[0]).args(&argv[1..]).env("KB_DIGESTS", &cache).output().unwrap();
            let out = crate::transport::Output { exit_code: out.status.code().map(|c| c as u32), stdout: out.stdout, stderr: out.stderr };
            probe.parse("h", &out).unwrap().files[&path].as_ref().unwrap().sha256.clone()
        };
        assert_eq!(sha_now(), "kept-digest");
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::set_permissions(&bin, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap(); // ctime moves
        assert_eq!(sha_now(), crate::transport::sha256_hex(b"real contents"));
        // with no kept digest, it is hashed as the transport hashes: by
        // openssl when it answers a digest (a stand-in's here), else by sha256sum
        let stand_ins = dir.path().join("bin");
        std::fs::create_dir(&stand_ins).unwrap();
        let sha_with = |openssl: &str| {
            std::fs::write(stand_ins.join("openssl"), format!("#!/bin/sh\n{openssl}\n")).unwrap();
            std::fs::set_permissions(stand_ins.join("openssl"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
            let argv = probe.command().argv;
            let search = format!("{}:{}", stand_ins.display(), std::env::var("PATH").unwrap());
            let out = std::process::Command::new(&argv[0]).args(&argv[1..]).env("KB_DIGESTS", "/nonexistent").env("PATH", search).output().unwrap();
            let out = crate::transport::Output { exit_code: out.status.code().map(|c| c as u32), stdout: out.stdout, stderr: out.stderr };
            probe.parse("h", &out).unwrap().files[&path].as_ref().unwrap().sha256.clone()
        };
        let stand_in = "2".repeat(64);
        assert_eq!(sha_with(&format!("cat >/dev/null; echo '{stand_in} *stdin'")), stand_in);
        assert_eq!(sha_with("cat >/dev/null; echo 'no such digest' >&2; exit 1"), crate::transport::sha256_hex(b"real contents"));
    }

    /// The checks part of the probe on this machine's `sh` and `timeout`:
    /// each check's answer is its exit code, a `sh -c` check runs with no
    /// arguments and none of the probe's variables, whatever its syntax,
    /// and a check of another OS family gives no answer.
    #[test]
    fn the_probe_answers_each_check_as_its_command_exits() {
        let sh = |s: &str| vec!["sh".to_string(), "-c".into(), s.into()];
        let checks: Vec<(String, Phase, Option<OsFamily>, Vec<String>)> = vec![
            ("exits 0".into(), Phase::HostPrep, None, sh("exit 0")),
            ("exits 3".into(), Phase::HostPrep, None, sh("echo noise; echo more >&2; exit 3")),
            ("not sh".into(), Phase::Install, None, vec!["test".into(), "-d".into(), "/".into()]),
            ("no arguments, no variables".into(), Phase::HostPrep, None, sh("[ $# = 0 ] && [ -z \"${k-}${os_family-}\" ]")),
            ("case and quotes".into(), Phase::HostPrep, None, sh("case \"a'b\" in \"a'b\") exit 0 ;; *) exit 1 ;; esac")),
            ("another OS".into(), Phase::HostPrep, Some(OsFamily::Rhel), sh("exit 0")),
        ];
        let probe = Probe { files: &[], extra: vec![], units: vec![], checks, os: Some(OsFamily::Debian), dockerd_check: None, etcdctl: None, digests: vec![], preflight: PreflightProbe::default() };
        let argv = probe.command().argv;
        let out = std::process::Command::new(&argv[0]).args(&argv[1..]).output().unwrap();
        let out = crate::transport::Output { exit_code: out.status.code().map(|c| c as u32), stdout: out.stdout, stderr: out.stderr };
        let facts = probe.parse("h", &out).unwrap();
        let want: BTreeMap<String, bool> = [("exits 0", true), ("exits 3", false), ("not sh", true), ("no arguments, no variables", true), ("case and quotes", true)].into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        assert_eq!(facts.checks, want, "{out:?}");
    }

    /// The files part of the probe on this machine's `sh`, `stat`,
    /// `sha256sum` and `awk`: every kind of file the plan meets reads back
    /// as the file system and `sha2` say, in the order asked.
    #[test]
    fn the_probe_reads_each_file_as_the_file_system_has_it() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let dir = tempfile::tempdir().unwrap();
        let p = |n: &str| format!("{}/{n}", dir.path().display());
        std::fs::write(p("same.conf"), b"A=1\n").unwrap();
        std::fs::write(p("edited.conf"), b"A=2\n").unwrap();
        std::fs::write(p("key.pem"), b"secret\n").unwrap();
        std::fs::set_permissions(p("key.pem"), std::fs::Permissions::from_mode(0o600)).unwrap();
        std::os::unix::fs::symlink(p("same.conf"), p("link.conf")).unwrap();
        std::fs::create_dir(p("a-dir")).unwrap();
        std::fs::write(p(".same.conf.kbtmp.x1"), b"half").unwrap();
        std::fs::write(p("extra"), b"").unwrap();
        let sha = |b: &[u8]| crate::transport::sha256_hex(b);
        let file = |name: &str, secret: bool| DesiredFile { path: p(name), source: crate::transport::FileSource::Bytes(b"A=1\n".to_vec()), mode: 0o644, owner: "root:root".into(), secret, binary: false, restarts: vec![], unit: None, pki_file: None };
        let files = [file("same.conf", false), file("edited.conf", false), file("key.pem", true), file("link.conf", false), file("a-dir", false), file("absent.conf", false)];
        let want = sha(b"A=1\n");
        let probe = Probe { files: &files, extra: vec![p("extra"), p("nothing")], units: vec![], checks: vec![], os: Some(OsFamily::Debian), dockerd_check: None, etcdctl: None, digests: vec![want.clone(); files.len()], preflight: PreflightProbe::default() };
        let argv = probe.command().argv;
        let out = std::process::Command::new(&argv[0]).args(&argv[1..]).env("KB_DIGESTS", p("none")).output().unwrap();
        let out = crate::transport::Output { exit_code: out.status.code().map(|c| c as u32), stdout: out.stdout, stderr: out.stderr };
        let facts = probe.parse("h", &out).unwrap();
        let meta = |n: &str| std::fs::metadata(p(n)).unwrap();
        let same = facts.files[&p("same.conf")].clone().expect("present");
        assert_eq!((same.sha256.as_str(), same.mode, same.uid, same.mtime as i64, same.text), (want.as_str(), meta("same.conf").mode() & 0o7777, meta("same.conf").uid(), meta("same.conf").mtime(), None));
        let edited = facts.files[&p("edited.conf")].clone().expect("present");
        assert_eq!((edited.sha256, edited.text.as_deref()), (sha(b"A=2\n"), Some("A=2\n"))); // its old text, for the diff
        let key = facts.files[&p("key.pem")].clone().expect("present");
        assert_eq!((key.mode, key.sha256, key.text), (0o600, sha(b"secret\n"), None)); // a secret's text never comes back
        for absent in ["link.conf", "a-dir", "absent.conf"] {
            assert_eq!(facts.files[&p(absent)], None, "{absent}: not a regular file");
        }
        assert_eq!(facts.litter, vec![p(".same.conf.kbtmp.x1")]);
        assert!(facts.files[&p("extra")].is_some() && facts.files[&p("nothing")].is_none()); // only looked at
    }

    /// The preflight part of the probe on this machine's `sh`: its lines
    /// read back (systemd or not, the clock, free space, modules).
    #[test]
    fn preflight_probe_lines_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let sub = format!("{}/not/yet", dir.path().display());
        let probe = PreflightProbe { etcd: Some((format!("{}/env", dir.path().display()), format!("{}/data", dir.path().display()))), ports: vec![("tcp", 1)], modules: vec!["no_such_module_kb".into()], dirs: vec![sub.clone(), "/proc/self".into()] };
        std::fs::create_dir_all(dir.path().join("data/member")).unwrap();
        let out = std::process::Command::new("sh").arg("-c").arg(probe.script()).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let (mut f, mut df) = (PreflightFacts::default(), DfLines::default());
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            probe.parse(line.strip_prefix("p ").unwrap_or_else(|| panic!("{line:?}")), &mut f, &mut df);
        }
        assert_eq!(f.no_systemd, !std::path::Path::new("/run/systemd/system").exists());
        assert!(f.clock_skew.is_some_and(|s| s.abs() <= 2), "{:?}", f.clock_skew);
        assert!(f.etcd_env_foreign && f.etcd_data == Some(true), "{f:?}"); // no env file; a member dir
        assert_eq!(f.modules.get("no_such_module_kb"), Some(&false));
        let (mount, kib) = &f.disk[&sub];
        assert!(mount.starts_with('/') && *kib > 0, "{f:?}");
        // One df answers both folders, each with its own filesystem.
        assert_eq!(f.disk["/proc/self"], ("/proc".to_string(), 0), "{f:?}");
        std::fs::write(dir.path().join("env"), format!("# etcd 3.4.23 settings of member a, {RENDERED_MARK}.\n")).unwrap();
        let out = std::process::Command::new("sh").arg("-c").arg(probe.script()).output().unwrap();
        assert!(!String::from_utf8_lossy(&out.stdout).contains("p foreignenv"));
    }
}
