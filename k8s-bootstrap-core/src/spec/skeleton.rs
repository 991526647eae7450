//! Commented spec skeletons (`k8s-bootstrap init`), and edits of a spec's
//! YAML text that keep the user's comments (`etcd add-member`,
//! `etcd remove-member`).

use std::net::Ipv4Addr;

use super::{ClusterSpec, HostSpec, Problem, Role, SpecError, SshSpec};

const TEMPLATE: &str = include_str!("skeleton.yaml");

/// What a skeleton is made from.
///
/// ```
/// use k8s_bootstrap_core::spec::{ClusterSpec, Skeleton};
/// let hosts = vec![
///     Skeleton::parse_host("etcd01=10.0.0.11").unwrap(),
///     Skeleton::parse_host("node04=10.0.0.14:node").unwrap(),
/// ];
/// let (spec, _) = ClusterSpec::load(&Skeleton::Hosts(hosts).to_yaml())?;
/// assert_eq!(spec.hosts[1].name, "node04");
/// assert_eq!(spec.versions.flannel.to_string(), "0.26.1");
/// # Ok::<(), k8s_bootstrap_core::spec::SpecError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skeleton {
    /// The tutorial's cluster: etcd01-03 at 192.168.1.30-32 (each an etcd
    /// member and a node), etcd 3.3.13, flannel 0.11.0, its registry mirror.
    Tutorial,
    /// These hosts, with current versions (etcd 3.5.17, flannel 0.26.1).
    Hosts(Vec<HostSpec>),
}

impl Skeleton {
    /// Parses `NAME=ADDR` or `NAME=ADDR:ROLE[+ROLE]` (roles `etcd`, `node`;
    /// default both): [`HostArg::host`] of the parsed argument.
    ///
    /// ```
    /// use k8s_bootstrap_core::spec::{Role, Skeleton};
    /// let h = Skeleton::parse_host("node04=10.0.0.4:node").unwrap();
    /// assert_eq!((h.name.as_str(), h.roles.as_slice()), ("node04", &[Role::Node][..]));
    /// let e = Skeleton::parse_host("etcd01=10.0.0.300").unwrap_err();
    /// assert_eq!((e.path.as_str(), e.value.as_str()), ("host", "etcd01=10.0.0.300"));
    /// ```
    ///
    /// # Errors
    /// A [`Problem`] naming the field `host` and the value.
    pub fn parse_host(arg: &str) -> Result<HostSpec, Problem> {
        Ok(arg.parse::<HostArg>()?.host())
    }

    /// The commented YAML of the skeleton. It loads and validates as it is
    /// (the host names and addresses are checked then, not here).
    ///
    /// ```
    /// use k8s_bootstrap_core::spec::{ClusterSpec, Skeleton};
    /// let yaml = Skeleton::Tutorial.to_yaml();
    /// assert!(yaml.contains("# name: host name and etcd member name"));
    /// let (spec, _warnings) = ClusterSpec::load(&yaml)?;
    /// assert_eq!(spec.hosts.len(), 3);
    /// assert_eq!(spec.versions.etcd.to_string(), "3.3.13");
    /// # Ok::<(), k8s_bootstrap_core::spec::SpecError>(())
    /// ```
    pub fn to_yaml(&self) -> String {
        let (title, hosts, etcd, flannel, mirrors, service) = match self {
            Skeleton::Tutorial => {
                let hosts: Vec<HostSpec> = (0..3u8)
                    .map(|i| {
                        let mut h = HostSpec::new(format!("etcd0{}", i + 1), Ipv4Addr::new(192, 168, 1, 30 + i), &[Role::Etcd, Role::Node]);
                        h.ssh = Some(SshSpec { user: Some("vagrant".into()), ..SshSpec::default() });
                        h
                    })
                    .collect();
                (" (the tutorial's cluster: three machines, each an etcd member and a flannel + docker node)", hosts, "3.3.13", "0.11.0", "[ \"http://f1361db2.m.daocloud.io\" ]", "10.0.0.0/24")
            }
            // Kubernetes' default service range: hosts are often on 10.0.0.x.
            Skeleton::Hosts(h) => ("", h.clone(), "3.5.17", "0.26.1", "[]", "10.96.0.0/12"),
        };
        TEMPLATE
            .replace("{{TITLE}}", title)
            .replace("{{HOSTS}}", &hosts_yaml(&hosts, "  "))
            .replace("{{ETCD}}", etcd)
            .replace("{{FLANNEL}}", flannel)
            .replace("{{MIRRORS}}", mirrors)
            .replace("{{SERVICE}}", service)
    }
}

/// A host as people write it on one line: `NAME=ADDR` or
/// `NAME=ADDR:ROLE[+ROLE]` (roles `etcd`, `node`), as `init --host` and
/// `etcd add-member` take it. The roles stay unset when not written: what
/// they default to depends on the use ([`HostArg::host`]: etcd and node,
/// [`HostArg::member`]: etcd).
///
/// ```
/// use k8s_bootstrap_core::spec::{HostArg, Role};
/// let a: HostArg = "etcd04=10.0.0.14".parse()?;
/// assert_eq!((a.name.as_str(), a.address.to_string(), a.roles.as_deref()), ("etcd04", "10.0.0.14".to_string(), None));
/// assert_eq!(a.host().roles, [Role::Etcd, Role::Node]); // a host of a new spec
/// assert_eq!(a.member().roles, [Role::Etcd]); // a new etcd member
/// let n: HostArg = "node05=10.0.0.15:node".parse()?;
/// assert_eq!(n.roles.as_deref(), Some(&[Role::Node][..]));
/// let bad = "etcd04=10.0.0.300".parse::<HostArg>().unwrap_err();
/// assert_eq!((bad.path.as_str(), bad.value.as_str()), ("host", "etcd04=10.0.0.300"));
/// assert_eq!(bad.rule, "\"10.0.0.300\" is not an IPv4 address");
/// # Ok::<(), k8s_bootstrap_core::spec::Problem>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostArg {
    /// Host name (and etcd member name).
    pub name: String,
    /// Its IPv4 address.
    pub address: Ipv4Addr,
    /// The roles written after `:`, or `None`.
    pub roles: Option<Vec<Role>>,
}

impl HostArg {
    /// The host, with roles etcd and node unless others were written.
    ///
    /// ```
    /// use k8s_bootstrap_core::spec::{HostArg, Role};
    /// let h = "etcd01=192.168.1.30".parse::<HostArg>()?.host();
    /// assert_eq!((h.name.as_str(), h.roles.as_slice()), ("etcd01", &[Role::Etcd, Role::Node][..]));
    /// # Ok::<(), k8s_bootstrap_core::spec::Problem>(())
    /// ```
    pub fn host(&self) -> HostSpec {
        HostSpec::new(self.name.clone(), self.address, self.roles.as_deref().unwrap_or(&[Role::Etcd, Role::Node]))
    }

    /// The host as a new etcd member: role etcd unless others were written,
    /// and etcd first in any case.
    ///
    /// ```
    /// use k8s_bootstrap_core::spec::{HostArg, Role};
    /// assert_eq!("etcd04=10.0.0.14".parse::<HostArg>()?.member().roles, [Role::Etcd]);
    /// assert_eq!("etcd04=10.0.0.14:node".parse::<HostArg>()?.member().roles, [Role::Etcd, Role::Node]);
    /// # Ok::<(), k8s_bootstrap_core::spec::Problem>(())
    /// ```
    pub fn member(&self) -> HostSpec {
        let mut roles = self.roles.clone().unwrap_or_default();
        if !roles.contains(&Role::Etcd) {
            roles.insert(0, Role::Etcd);
        }
        HostSpec::new(self.name.clone(), self.address, &roles)
    }
}

impl std::str::FromStr for HostArg {
    type Err = Problem;
    fn from_str(arg: &str) -> Result<Self, Problem> {
        let bad = |rule: &str| Problem::new("host", arg, rule).fix("write NAME=ADDR or NAME=ADDR:etcd+node, e.g. etcd01=192.168.1.30");
        let (name, rest) = arg.split_once('=').ok_or_else(|| bad("no `=` between name and address"))?;
        let (addr, roles) = match rest.split_once(':') {
            Some((a, r)) => (a, Some(r)),
            None => (rest, None),
        };
        let address: Ipv4Addr = addr.parse().map_err(|_| bad(&format!("{addr:?} is not an IPv4 address")))?;
        let roles = match roles {
            None => None,
            Some(r) => Some(
                r.split('+')
                    .map(|x| match x {
                        "etcd" => Ok(Role::Etcd),
                        "node" => Ok(Role::Node),
                        other => Err(bad(&format!("unknown role {other:?} (etcd, node)"))),
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        Ok(HostArg { name: name.to_string(), address, roles })
    }
}

/// Hosts as block-style YAML list items at `indent`, ending in a newline.
fn hosts_yaml(hosts: &[HostSpec], indent: &str) -> String {
    let mut out = String::new();
    for h in hosts {
        let one = serde_yaml_ng::to_string(&[h]).expect("a HostSpec always serializes");
        for line in one.lines() {
            out.push_str(indent);
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The line range `[start, end)` of each item of the top-level `hosts:`
/// block list, with the item's indentation, and the end of the block.
struct HostsBlock {
    items: Vec<(usize, usize)>,
    indent: String,
    end: usize,
}

fn hosts_block(lines: &[&str]) -> Result<HostsBlock, Problem> {
    let unsupported = |why: &str| Problem::new("hosts", "<yaml>", format!("cannot edit this spec's hosts: {why}")).fix("edit the file by hand, then run apply");
    let start = lines
        .iter()
        .position(|l| l.starts_with("hosts:"))
        .ok_or_else(|| unsupported("no top-level `hosts:` line"))?;
    if !lines[start]["hosts:".len()..].trim().is_empty() && !lines[start]["hosts:".len()..].trim_start().starts_with('#') {
        return Err(unsupported("`hosts:` is written in flow style ([...]) on one line"));
    }
    let is_content = |l: &str| !l.trim().is_empty() && !l.trim_start().starts_with('#');
    let mut end = lines.len();
    for (i, l) in lines.iter().enumerate().skip(start + 1) {
        if is_content(l) && !l.starts_with(' ') && !l.starts_with('-') {
            end = i;
            break;
        }
    }
    // Trailing blank lines and comments before the next key belong to it.
    while end > start + 1 && !is_content(lines[end - 1]) {
        end -= 1;
    }
    let mut items = Vec::new();
    let mut indent: Option<String> = None;
    for (i, l) in lines.iter().enumerate().take(end).skip(start + 1) {
        let t = l.trim_start();
        let ind = &l[..l.len() - t.len()];
        if t.starts_with("- ") || t == "-" {
            match &indent {
                None => indent = Some(ind.to_string()),
                Some(x) if x != ind => continue,
                Some(_) => {}
            }
            if let Some(last) = items.last_mut() {
                let (_, e): &mut (usize, usize) = last;
                *e = i;
            }
            items.push((i, end));
        }
    }
    // An item ends before the comment lines that lead into the next item.
    for k in 0..items.len().saturating_sub(1) {
        let (s, mut e) = items[k];
        while e > s + 1 && !is_content(lines[e - 1]) {
            e -= 1;
        }
        items[k].1 = e;
    }
    Ok(HostsBlock { items, indent: indent.unwrap_or_else(|| "  ".into()), end })
}

fn name_of(lines: &[&str], (s, e): (usize, usize)) -> Option<String> {
    lines[s..e].iter().find_map(|l| {
        let t = l.trim_start().trim_start_matches("- ").trim_start();
        t.strip_prefix("name:").map(|v| v.split('#').next().unwrap_or("").trim().trim_matches(['"', '\'']).to_string())
    })
}

fn reload(yaml: String) -> Result<(String, ClusterSpec), SpecError> {
    let (spec, _) = ClusterSpec::load(&yaml)?;
    Ok((yaml, spec))
}

fn invalid(p: Problem) -> SpecError {
    SpecError::Invalid { problems: vec![p] }
}

/// Adds `host` at the end of the spec's `hosts:` list, keeping every other
/// line (and comment) of `yaml` as it is. A host without `ssh` settings
/// gets those of the last host. The result is loaded and validated before it
/// is returned: a duplicate name or address is an error, never a file.
///
/// ```
/// use k8s_bootstrap_core::spec::{add_host, Skeleton};
/// let yaml = Skeleton::Tutorial.to_yaml();
/// let host = Skeleton::parse_host("etcd04=192.168.1.33").unwrap();
/// let (text, spec) = add_host(&yaml, &host)?;
/// assert_eq!(spec.hosts[3].name, "etcd04");
/// assert_eq!(spec.hosts[3].ssh, spec.hosts[2].ssh);
/// assert!(text.contains("# name: host name and etcd member name")); // comments kept
/// assert!(add_host(&text, &host).is_err()); // twice: duplicate name
/// # Ok::<(), k8s_bootstrap_core::spec::SpecError>(())
/// ```
///
/// # Errors
/// [`SpecError`] when `yaml` does not load, when its hosts are not a block
/// list this can edit, or when the result is invalid.
pub fn add_host(yaml: &str, host: &HostSpec) -> Result<(String, ClusterSpec), SpecError> {
    let (before, _) = ClusterSpec::load(yaml)?;
    let mut host = host.clone();
    if host.ssh.is_none() {
        host.ssh = before.hosts.last().and_then(|h| h.ssh.clone());
    }
    let lines: Vec<&str> = yaml.lines().collect();
    let block = hosts_block(&lines).map_err(invalid)?;
    let at = block.items.last().map_or(block.end, |&(_, e)| e);
    let mut out: Vec<String> = lines[..at].iter().map(|l| l.to_string()).collect();
    out.extend(hosts_yaml(&[host], &block.indent).lines().map(str::to_string));
    out.extend(lines[at..].iter().map(|l| l.to_string()));
    reload(out.join("\n") + "\n")
}

/// Makes `host` an etcd member: a host of that name that is only a node
/// (same address) gains the `etcd` role, with its item rewritten; a new name
/// is added as [`add_host`] does. Other lines and comments are kept; the
/// result is loaded and validated.
///
/// ```
/// use k8s_bootstrap_core::spec::{add_etcd_member, remove_etcd_member, Role, Skeleton};
/// let yaml = Skeleton::Tutorial.to_yaml();
/// let (shrunk, _, _) = remove_etcd_member(&yaml, "etcd03")?;
/// let back = Skeleton::parse_host("etcd03=192.168.1.32:etcd").unwrap();
/// let (_, spec) = add_etcd_member(&shrunk, &back)?;
/// assert_eq!(spec.hosts[2].roles, [Role::Etcd, Role::Node]);
/// assert!(add_etcd_member(&yaml, &back).is_err()); // already a member
/// # Ok::<(), k8s_bootstrap_core::spec::SpecError>(())
/// ```
///
/// # Errors
/// [`SpecError`] naming `member` when the host is already a member or has
/// another address, and as [`add_host`].
pub fn add_etcd_member(yaml: &str, host: &HostSpec) -> Result<(String, ClusterSpec), SpecError> {
    let (before, _) = ClusterSpec::load(yaml)?;
    let Some(existing) = before.hosts.iter().find(|h| h.name == host.name) else {
        return add_host(yaml, host);
    };
    if existing.has(Role::Etcd) {
        return Err(invalid(Problem::new("member", &host.name, "is already an etcd member")));
    }
    if existing.address != host.address {
        return Err(invalid(
            Problem::new("member", format!("{}={}", host.name, host.address), format!("host {} exists with address {}", host.name, existing.address))
                .fix(format!("use {}={}, or another name", host.name, existing.address)),
        ));
    }
    let mut member = existing.clone();
    member.roles.insert(0, Role::Etcd);
    let (text, spec) = rewrite_host(yaml, &host.name, Some(&member))?;
    Ok((text, spec))
}

/// Replaces the item of host `name` in the hosts list by `with` (or removes
/// it), keeping every other line; the result is loaded and validated.
fn rewrite_host(yaml: &str, name: &str, with: Option<&HostSpec>) -> Result<(String, ClusterSpec), SpecError> {
    let lines: Vec<&str> = yaml.lines().collect();
    let block = hosts_block(&lines).map_err(invalid)?;
    let Some(&range) = block.items.iter().find(|r| name_of(&lines, **r).as_deref() == Some(name)) else {
        return Err(invalid(Problem::new("member", name, "its `- name:` item was not found in the hosts list").fix("edit the file by hand, then run apply")));
    };
    let replacement = with.map(|h| hosts_yaml(std::slice::from_ref(h), &block.indent)).unwrap_or_default();
    let mut out: Vec<String> = lines[..range.0].iter().map(|l| l.to_string()).collect();
    out.extend(replacement.lines().map(str::to_string));
    out.extend(lines[range.1..].iter().map(|l| l.to_string()));
    reload(out.join("\n") + "\n")
}

/// What [`remove_etcd_member`] did to the host.
///
/// ```
/// use k8s_bootstrap_core::spec::{add_host, remove_etcd_member, MemberRemoval, Skeleton};
/// let yaml = Skeleton::Tutorial.to_yaml();
/// // etcd04 is only an etcd member: removing the member removes the host.
/// let (yaml, _) = add_host(&yaml, &Skeleton::parse_host("etcd04=192.168.1.33:etcd").unwrap())?;
/// let (_, spec, how) = remove_etcd_member(&yaml, "etcd04")?;
/// assert_eq!(how, MemberRemoval::HostRemoved);
/// assert_eq!(spec.hosts.len(), 3);
/// # Ok::<(), k8s_bootstrap_core::spec::SpecError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberRemoval {
    /// The host stays (it is also a node); only its `etcd` role is gone.
    RoleDropped,
    /// The host had no other role and was removed from the spec.
    HostRemoved,
}

/// Makes host `name` stop being an etcd member: drops its `etcd` role, or
/// removes the host when etcd was its only role. Every other line of `yaml`
/// is kept as it is; the host's own item is rewritten. The result is loaded
/// and validated (the last member cannot be removed).
///
/// ```
/// use k8s_bootstrap_core::spec::{remove_etcd_member, MemberRemoval, Role, Skeleton};
/// let yaml = Skeleton::Tutorial.to_yaml();
/// let (_, spec, how) = remove_etcd_member(&yaml, "etcd02")?;
/// assert_eq!(how, MemberRemoval::RoleDropped);
/// assert_eq!(spec.hosts[1].roles, [Role::Node]);
/// assert!(remove_etcd_member(&yaml, "etcd09").is_err());
/// # Ok::<(), k8s_bootstrap_core::spec::SpecError>(())
/// ```
///
/// # Errors
/// [`SpecError`] naming `name` when no such etcd member is in the spec, and
/// as [`add_host`].
pub fn remove_etcd_member(yaml: &str, name: &str) -> Result<(String, ClusterSpec, MemberRemoval), SpecError> {
    let (before, _) = ClusterSpec::load(yaml)?;
    let Some(host) = before.hosts.iter().find(|h| h.name == name && h.has(Role::Etcd)) else {
        let members: Vec<&str> = before.hosts_with(Role::Etcd).map(|h| h.name.as_str()).collect();
        return Err(invalid(Problem::new("member", name, format!("no etcd member of that name (members: {})", members.join(", ")))));
    };
    let mut rest = host.clone();
    rest.roles.retain(|r| *r != Role::Etcd);
    let how = if rest.roles.is_empty() { MemberRemoval::HostRemoved } else { MemberRemoval::RoleDropped };
    let (text, spec) = rewrite_host(yaml, name, (how == MemberRemoval::RoleDropped).then_some(&rest))?;
    Ok((text, spec, how))
}

/// What a [`MemberChange`] does to the member's host.
///
/// ```
/// use k8s_bootstrap_core::spec::{MemberAction, MemberChange, Skeleton};
/// let yaml = Skeleton::Tutorial.to_yaml();
/// assert_eq!(MemberChange::remove(&yaml, "etcd02")?.action, MemberAction::RoleDropped);
/// assert_eq!(serde_json::to_string(&MemberAction::HostRemoved).unwrap(), r#""host-removed""#);
/// # Ok::<(), k8s_bootstrap_core::spec::SpecError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MemberAction {
    /// A new host was added as an etcd member, or a node gained the etcd role.
    Added,
    /// The host stays (it is also a node); only its `etcd` role is gone.
    RoleDropped,
    /// The host had no other role and was removed from the spec: once the
    /// others are applied, it is reset with the spec it was part of.
    HostRemoved,
}

/// An etcd membership change, made on the spec's YAML text and not applied
/// yet: the spec before and after, and the new text (every other line and
/// comment kept). Write [`yaml`](Self::yaml) to the spec file, then bring the
/// hosts to it with `apply::change_member`.
///
/// ```
/// use k8s_bootstrap_core::spec::{MemberAction, MemberChange, Skeleton};
/// let yaml = Skeleton::Tutorial.to_yaml();
/// let grow = MemberChange::add(&yaml, &"etcd04=192.168.1.33".parse()?)?;
/// assert_eq!((grow.action, grow.after.hosts.len(), grow.before.hosts.len()), (MemberAction::Added, 4, 3));
/// assert!(grow.yaml.contains("# name: host name and etcd member name")); // comments kept
/// let shrink = MemberChange::remove(&grow.yaml, "etcd04")?;
/// assert_eq!(shrink.action, MemberAction::HostRemoved);
/// assert_eq!(shrink.yaml, yaml); // removing what was added gives the file back
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct MemberChange {
    /// The member's host name.
    pub name: String,
    /// The spec before the change.
    pub before: ClusterSpec,
    /// The spec after it: what the hosts are brought to.
    pub after: ClusterSpec,
    /// `after` as the spec file's new text.
    pub yaml: String,
    /// What happens to the host.
    pub action: MemberAction,
}

impl MemberChange {
    /// Makes `member` an etcd member of the spec `yaml` ([`add_etcd_member`]
    /// with [`HostArg::member`]: role etcd unless others are given).
    ///
    /// ```
    /// use k8s_bootstrap_core::spec::{MemberChange, Role, Skeleton};
    /// let c = MemberChange::add(&Skeleton::Tutorial.to_yaml(), &"etcd04=192.168.1.33".parse()?)?;
    /// assert_eq!(c.after.hosts[3].roles, [Role::Etcd]);
    /// assert!(MemberChange::add(&c.yaml, &"etcd04=192.168.1.34".parse()?).is_err()); // already a member
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`add_etcd_member`].
    pub fn add(yaml: &str, member: &HostArg) -> Result<Self, SpecError> {
        let (before, _) = ClusterSpec::load(yaml)?;
        let host = member.member();
        let (text, after) = add_etcd_member(yaml, &host)?;
        Ok(MemberChange { name: host.name, before, after, yaml: text, action: MemberAction::Added })
    }

    /// Makes host `name` stop being an etcd member ([`remove_etcd_member`]).
    ///
    /// ```
    /// use k8s_bootstrap_core::spec::{MemberAction, MemberChange, Role, Skeleton};
    /// let c = MemberChange::remove(&Skeleton::Tutorial.to_yaml(), "etcd03")?;
    /// assert_eq!((c.action, c.after.hosts[2].roles.as_slice()), (MemberAction::RoleDropped, &[Role::Node][..]));
    /// let err = MemberChange::remove(&c.yaml, "etcd03").unwrap_err(); // no longer a member
    /// assert_eq!(err.problems()[0].path, "member");
    /// # Ok::<(), k8s_bootstrap_core::spec::SpecError>(())
    /// ```
    ///
    /// # Errors
    /// As [`remove_etcd_member`].
    pub fn remove(yaml: &str, name: &str) -> Result<Self, SpecError> {
        let (before, _) = ClusterSpec::load(yaml)?;
        let (text, after, how) = remove_etcd_member(yaml, name)?;
        let action = match how {
            MemberRemoval::RoleDropped => MemberAction::RoleDropped,
            MemberRemoval::HostRemoved => MemberAction::HostRemoved,
        };
        Ok(MemberChange { name: name.to_string(), before, after, yaml: text, action })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tutorial_preset_is_the_tutorial_example() {
        let example = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/tutorial-cluster.yaml")).unwrap();
        let (mut want, _) = ClusterSpec::load(&example).unwrap();
        // The example shows an identity file and the port on its first host;
        // the preset leaves them to ssh_config and the defaults. Everything
        // else is the same.
        want.hosts[0].ssh.as_mut().unwrap().identity = None;
        want.hosts[0].ssh.as_mut().unwrap().port = None;
        let (got, _) = ClusterSpec::load(&Skeleton::Tutorial.to_yaml()).unwrap();
        assert_eq!(got, want);
    }

    #[test]
    fn hosts_skeleton_validates_and_has_current_versions() {
        let hosts = ["a1=10.0.0.1", "a2=10.0.0.2", "w1=10.0.0.9:node"].map(|h| Skeleton::parse_host(h).unwrap());
        let (spec, _) = ClusterSpec::load(&Skeleton::Hosts(hosts.to_vec()).to_yaml()).unwrap();
        assert_eq!(spec.hosts_with(Role::Etcd).count(), 2);
        assert_eq!(spec.versions.flannel.to_string(), "0.26.1");
    }

    #[test]
    fn bad_host_args_name_the_field_and_value() {
        for bad in ["etcd01", "etcd01=1.2.3", "etcd01=10.0.0.1:master"] {
            let p = Skeleton::parse_host(bad).unwrap_err();
            assert_eq!((p.path.as_str(), p.value.as_str()), ("host", bad));
        }
    }

    #[test]
    fn remove_then_add_keeps_comments_and_other_hosts() {
        let mut yaml = Skeleton::Tutorial.to_yaml();
        yaml = yaml.replace("versions:\n", "  # a comment the user wrote\nversions:\n");
        let add = Skeleton::parse_host("etcd04=192.168.1.33:etcd").unwrap();
        let (grown, spec) = add_host(&yaml, &add).unwrap();
        assert_eq!(spec.hosts.len(), 4);
        assert!(grown.contains("  # a comment the user wrote\nversions:"), "{grown}");
        let (shrunk, spec, how) = remove_etcd_member(&grown, "etcd04").unwrap();
        assert_eq!(how, MemberRemoval::HostRemoved);
        assert_eq!(spec.hosts.len(), 3);
        assert_eq!(shrunk, yaml, "removing what was added gives the file back");
        let (_, spec, how) = remove_etcd_member(&yaml, "etcd01").unwrap();
        assert_eq!(how, MemberRemoval::RoleDropped);
        assert_eq!(spec.hosts.iter().map(|h| h.name.as_str()).collect::<Vec<_>>(), ["etcd01", "etcd02", "etcd03"]);
    }

    #[test]
    fn flow_style_hosts_are_refused_not_mangled() {
        let yaml = "hosts: [{name: a, address: 10.0.0.1, roles: [etcd, node]}]\nversions: {etcd: 3.4.23, flannel: 0.26.1}\n";
        let e = add_host(yaml, &Skeleton::parse_host("b=10.0.0.2").unwrap()).unwrap_err();
        assert!(e.to_string().contains("flow style"), "{e}");
    }
}
