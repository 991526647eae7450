//! Adoption: reading a running etcd cluster that was built by hand (the
//! tutorial's `etcd.sh`, `flannel.sh`, cfssl) into a spec that describes
//! it, and its CA into the PKI folder, so that `plan` and `apply` can take
//! it over and migrate it to a secure setup without losing data.
//!
//! Reading is [`read`]: three exchanges per host over its [`Transport`]
//! (units; their environment files and binaries' versions; certificates,
//! CA key candidates and etcd's own view of its membership). Everything
//! found is a [`HostFound`] value; [`Adoption::from_found`] turns those into
//! the spec, the CA and the findings with no host at all (a pure
//! function, unit-tested from the tutorial's own files). [`Adoption::write`]
//! writes the spec and imports the CA, and nothing when it fails.
//!
//! [`Transport`]: crate::transport::Transport

pub mod systemd;

mod read;

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::spec::{ClusterSpec, HostSpec, Ipv4Cidr, Role, Version};

pub use read::{READ_EXCHANGES, read};

/// The places a CA key is looked for on every host: beside the
/// certificates, and where the tutorial's `etcd-cert.sh` leaves it (in the
/// home folder of whoever ran cfssl: `~/k8s/etcd-cert`).
///
/// ```
/// use k8s_bootstrap_core::adopt::CA_KEY_PLACES;
/// assert!(CA_KEY_PLACES.contains(&"/root/k8s/etcd-cert/ca-key.pem"));
/// ```
pub const CA_KEY_PLACES: [&str; 4] = ["{ssl}/ca-key.pem", "/root/k8s/etcd-cert/ca-key.pem", "/home/*/k8s/etcd-cert/ca-key.pem", "/root/etcd-cert/ca-key.pem"];

/// A private key's PEM text: never printed (its `Debug` says `<redacted>`).
///
/// ```
/// use k8s_bootstrap_core::adopt::SecretPem;
/// let k = SecretPem("-----BEGIN RSA PRIVATE KEY-----\nMIIE...".into());
/// assert_eq!(format!("{k:?}"), "<redacted private key>");
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretPem(pub String);

impl std::fmt::Debug for SecretPem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted private key>")
    }
}

/// What adoption found on one host: raw texts, as read.
///
/// ```
/// use k8s_bootstrap_core::adopt::HostFound;
/// let f = HostFound { name: "etcd01".into(), etcd_unit: Some("[Service]\nExecStart=/opt/etcd/bin/etcd\n".into()), ..HostFound::default() };
/// assert!(f.flanneld_unit.is_none() && f.ca_keys.is_empty());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostFound {
    /// The name given for the host (`--host NAME=ADDR`).
    pub name: String,
    /// Its address.
    pub address: Option<Ipv4Addr>,
    /// `systemctl cat etcd` (`None`: no etcd unit).
    pub etcd_unit: Option<String>,
    /// `systemctl cat flanneld`.
    pub flanneld_unit: Option<String>,
    /// `systemctl cat docker`.
    pub docker_unit: Option<String>,
    /// Each environment file the units name, by path (`None`: absent).
    pub env_files: BTreeMap<String, Option<String>>,
    /// The first line of `BINARY --version` of etcd and flanneld, by binary path.
    pub versions: BTreeMap<String, String>,
    /// Each certificate the etcd settings name, by path (`None`: unreadable or absent).
    pub pems: BTreeMap<String, Option<String>>,
    /// CA key candidates found (path -> PEM), from [`CA_KEY_PLACES`].
    pub ca_keys: BTreeMap<String, SecretPem>,
    /// `etcdctl -w json member list` through this member's own endpoint and
    /// certificates: its stdout, or why it failed.
    pub member_list: Option<Result<String, String>>,
    /// flannel's network config, read through the v3 API, then the v2 API.
    pub flannel_config: Option<(FlannelApi, String)>,
    /// `/etc/docker/daemon.json`.
    pub daemon_json: Option<String>,
}

/// The etcd API flannel's config was found in.
///
/// ```
/// use k8s_bootstrap_core::adopt::FlannelApi;
/// assert_eq!(serde_json::to_string(&FlannelApi::V2).unwrap(), "\"v2\"");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlannelApi {
    /// etcd's v2 store (flannel 0.17 and older).
    V2,
    /// etcd's v3 store (flannel 0.18 and later).
    V3,
}

/// Why adoption failed. Each names the host and, where there is one, the path.
///
/// ```
/// use k8s_bootstrap_core::adopt::AdoptError;
/// let e = AdoptError::File { host: "etcd02".into(), path: "/opt/etcd/ssl/ca.pem".into(), detail: "unreadable or missing".into() };
/// assert_eq!(e.to_string(), "etcd02: /opt/etcd/ssl/ca.pem: unreadable or missing");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdoptError {
    /// A host could not be read.
    #[error("{host}: {detail}")]
    Unreachable {
        /// Host.
        host: String,
        /// What failed.
        detail: String,
    },
    /// A file the running cluster needs is missing or unreadable.
    #[error("{host}: {path}: {detail}")]
    File {
        /// Host.
        host: String,
        /// Path on the host.
        path: String,
        /// What is wrong.
        detail: String,
    },
    /// Neither an etcd nor a flanneld unit on a host.
    #[error("{host}: no etcd and no flanneld unit (systemctl cat etcd / flanneld): nothing of a cluster to adopt here")]
    Nothing {
        /// Host.
        host: String,
    },
    /// A host's etcd belongs to another cluster than the others', or the
    /// others do not count it as a member.
    #[error("{host}: not a member of the cluster the other hosts are in: {detail}")]
    NotAMember {
        /// Host.
        host: String,
        /// What differs.
        detail: String,
    },
    /// A member of the running cluster that is not among the hosts given.
    #[error("the cluster has member {name} ({peer}) that is not among the hosts given: add it (--host {name}=ADDRESS)")]
    MissingHost {
        /// The member's name.
        name: String,
        /// Its peer URL.
        peer: String,
    },
    /// The members run different etcd versions.
    #[error("the members run different etcd versions ({found}): finish that upgrade by hand first, then adopt")]
    Versions {
        /// `host version` pairs.
        found: String,
    },
    /// The members trust different CAs.
    #[error("{host}: {path} differs from {other}'s: the members trust different CAs")]
    CaDiffers {
        /// Host.
        host: String,
        /// Its CA file.
        path: String,
        /// A host with another CA.
        other: String,
    },
    /// No host has the CA's key.
    #[error(
        "the CA key was not found (looked on every host at {looked}). New certificates for the members need it: \
         copy it from where cfssl made it (the tutorial's etcd-cert.sh leaves it in ~/k8s/etcd-cert/ca-key.pem on the machine it ran on) \
         and give it with --ca-key FILE"
    )]
    NoCaKey {
        /// Where it was looked for.
        looked: String,
    },
    /// A CA key that is not the CA certificate's.
    #[error("{path}: this key does not belong to the CA certificate {ca}")]
    CaKeyMismatch {
        /// The key's path (`host:path`, or a local file).
        path: String,
        /// The CA certificate's path.
        ca: String,
    },
    /// The spec file exists and `force` was not given.
    #[error("{path} exists: not overwriting it without --force")]
    SpecExists {
        /// The spec's path.
        path: String,
    },
    /// The PKI folder holds another CA.
    #[error("{path} holds another CA than the cluster's: never replaced; adopt into another --pki-dir")]
    OtherCa {
        /// The CA file in the PKI folder.
        path: String,
    },
    /// A local file could not be written or read.
    #[error("{path}: {detail}")]
    Local {
        /// Local path.
        path: String,
        /// What failed.
        detail: String,
    },
}

/// The result of adoption: the spec, the CA, and what was found. Made by
/// [`Adoption::from_found`] (or [`adopt`]); its `Debug` never shows the CA key.
///
/// ```no_run
/// # fn demo(found: &[k8s_bootstrap_core::adopt::HostFound]) -> Result<(), k8s_bootstrap_core::adopt::AdoptError> {
/// let a = k8s_bootstrap_core::adopt::Adoption::from_found(found, None)?;
/// for line in &a.insecure {
///     println!("to fix: {line}");
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Adoption {
    /// A spec that describes the running cluster (names, addresses,
    /// versions, layout, network, ports, data dir, token).
    pub spec: ClusterSpec,
    /// The spec as YAML, with comments saying what was found and what
    /// differs from a secure setup.
    pub yaml: String,
    /// The CA certificate (PEM).
    pub ca_cert: String,
    /// Where the CA key was found (`host:path`, or the file given), and the key.
    pub ca_key: (String, SecretPem),
    /// What differs from a secure setup, one line each (the migration `plan` shows).
    pub insecure: Vec<String>,
    /// What was found, one line each.
    pub found: Vec<String>,
    /// The running cluster's id and each member's id (hex), kept by the migration.
    pub cluster_id: String,
    /// Member name -> id (hex).
    pub member_ids: BTreeMap<String, String>,
}

/// The settings of a Go program that systemd runs from `unit`: its flags,
/// and for each one not given as a flag, its `{prefix}*` variable (etcd
/// reads `ETCD_*`, flanneld `FLANNELD_*`). Returns the binary too.
fn settings(unit: &systemd::Unit, env: &BTreeMap<String, String>, prefix: &str) -> (String, BTreeMap<String, String>) {
    let argv = unit.argv(env);
    let mut s = systemd::flags(&argv);
    for (k, v) in env {
        if let Some(rest) = k.strip_prefix(prefix) {
            s.entry(rest.to_ascii_lowercase().replace('_', "-")).or_insert_with(|| v.clone());
        }
    }
    (argv.first().cloned().unwrap_or_default(), s)
}

/// etcd's settings of one member.
fn etcd_settings(unit: &systemd::Unit, env: &BTreeMap<String, String>) -> (String, BTreeMap<String, String>) {
    settings(unit, env, "ETCD_")
}

/// flanneld's settings.
fn flanneld_settings(unit: &systemd::Unit, env: &BTreeMap<String, String>) -> (String, BTreeMap<String, String>) {
    settings(unit, env, "FLANNELD_")
}

/// The variables a unit's process gets: its environment files in order
/// (a missing optional one skipped), then `Environment=`.
fn unit_env(unit: &systemd::Unit, files: &BTreeMap<String, Option<String>>) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for (path, _) in &unit.environment_files {
        if let Some(Some(text)) = files.get(path) {
            env.extend(systemd::env_file(text));
        }
    }
    env.extend(unit.environment.clone());
    env
}

/// `etcd Version: 3.4.23` / `Flanneld version v0.11.0` / `v0.28.10` -> the version.
fn version_of(line: &str) -> Option<Version> {
    line.split_whitespace().rev().find_map(|w| w.trim_start_matches('v').parse().ok())
}

fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(p, _)| p)
}

/// `https://10.0.0.1:2380` -> (scheme, host, port).
fn url_parts(url: &str) -> Option<(&str, &str, u16)> {
    let (scheme, rest) = url.split_once("://")?;
    let (host, port) = rest.trim_end_matches('/').rsplit_once(':')?;
    Some((scheme, host, port.parse().ok()?))
}

/// One member, as its settings say.
#[derive(Debug, Clone)]
struct Member {
    host: String,
    name: String,
    binary: String,
    unit_path: String,
    settings: BTreeMap<String, String>,
}

/// One flannel node, as its flanneld unit says.
#[derive(Debug, Clone)]
struct Node {
    binary: String,
    settings: BTreeMap<String, String>,
    unit_path: String,
    /// `ExecStartPost=` (the tutorial's runs mk-docker-opts.sh there).
    post: String,
}

/// etcdctl's `member list -w json`.
#[derive(Deserialize)]
struct MemberList {
    header: ListHeader,
    #[serde(default)]
    members: Vec<ListMember>,
}

#[derive(Deserialize)]
struct ListHeader {
    cluster_id: u64,
}

#[derive(Deserialize)]
struct ListMember {
    #[serde(rename = "ID")]
    id: u64,
    #[serde(default)]
    name: String,
    #[serde(rename = "peerURLs", default)]
    peer_urls: Vec<String>,
}

/// flannel's network config.
#[derive(Deserialize)]
struct NetConfig {
    #[serde(rename = "Network")]
    network: String,
    #[serde(rename = "SubnetLen")]
    subnet_len: Option<u8>,
    #[serde(rename = "SubnetMin")]
    subnet_min: Option<Ipv4Addr>,
    #[serde(rename = "SubnetMax")]
    subnet_max: Option<Ipv4Addr>,
    #[serde(rename = "Backend")]
    backend: Option<serde_json::Value>,
}

impl Adoption {
    /// Turns what [`read`] found on every host into the spec and the CA.
    /// `ca_key`: a CA key given by hand (its name and PEM), used when no
    /// host has one. Pure: no host, no file.
    ///
    /// ```
    /// use k8s_bootstrap_core::adopt::{Adoption, AdoptError, HostFound};
    /// let bare = HostFound { name: "etcd01".into(), address: Some([10, 0, 0, 1].into()), ..HostFound::default() };
    /// assert_eq!(Adoption::from_found(&[bare], None).unwrap_err(), AdoptError::Nothing { host: "etcd01".into() });
    /// ```
    pub fn from_found(hosts: &[HostFound], ca_key: Option<(String, SecretPem)>) -> Result<Adoption, AdoptError> {
        let mut members = Vec::new();
        let mut nodes: BTreeMap<String, Node> = BTreeMap::new();
        let mut found = Vec::new();
        let mut insecure = Vec::new();
        for h in hosts {
            if h.etcd_unit.is_none() && h.flanneld_unit.is_none() {
                return Err(AdoptError::Nothing { host: h.name.clone() });
            }
            if let Some(text) = &h.etcd_unit {
                let unit = systemd::Unit::parse(text);
                for (path, optional) in &unit.environment_files {
                    if !optional && !matches!(h.env_files.get(path), Some(Some(_))) {
                        return Err(AdoptError::File { host: h.name.clone(), path: path.clone(), detail: "the etcd unit's environment file is missing".into() });
                    }
                }
                let env = unit_env(&unit, &h.env_files);
                let (binary, settings) = etcd_settings(&unit, &env);
                let name = settings.get("name").cloned().unwrap_or_else(|| "default".into());
                members.push(Member { host: h.name.clone(), name, binary, unit_path: unit.path.clone().unwrap_or_default(), settings });
            }
            if let Some(text) = &h.flanneld_unit {
                let unit = systemd::Unit::parse(text);
                let env = unit_env(&unit, &h.env_files);
                let (binary, settings) = flanneld_settings(&unit, &env);
                let post = unit.other.get("Service.ExecStartPost").cloned().unwrap_or_default();
                nodes.insert(h.name.clone(), Node { binary, settings, unit_path: unit.path.clone().unwrap_or_default(), post });
            }
        }
        let by_host = |name: &str| hosts.iter().find(|h| h.name == name).expect("a member is one of the hosts");

        // Versions: asked of each member's binary.
        let mut versions = BTreeMap::new();
        for m in &members {
            let h = by_host(&m.host);
            let v = h.versions.get(&m.binary).and_then(|l| version_of(l)).ok_or_else(|| AdoptError::File {
                host: m.host.clone(),
                path: m.binary.clone(),
                detail: format!("`{} --version` did not say its version: {:?}", m.binary, h.versions.get(&m.binary)),
            })?;
            versions.insert(m.host.clone(), v);
        }
        let distinct: BTreeSet<String> = versions.values().map(|v| v.to_string()).collect();
        if distinct.len() > 1 {
            return Err(AdoptError::Versions { found: versions.iter().map(|(h, v)| format!("{h} {v}")).collect::<Vec<_>>().join(", ") });
        }

        // Membership: every member's own view, one cluster id, each member in it.
        let mut cluster: Option<(u64, String, Vec<ListMember>)> = None;
        for m in &members {
            let h = by_host(&m.host);
            let text = match &h.member_list {
                Some(Ok(t)) => t,
                Some(Err(e)) => return Err(AdoptError::Unreachable { host: m.host.clone(), detail: format!("etcdctl member list through its own endpoint and certificates: {e}") }),
                None => return Err(AdoptError::Unreachable { host: m.host.clone(), detail: "etcd's member list was not read".into() }),
            };
            let list: MemberList = serde_json::from_str(text).map_err(|e| AdoptError::Unreachable { host: m.host.clone(), detail: format!("etcdctl member list: not its JSON ({e}): {text}") })?;
            match &cluster {
                Some((id, first, _)) if *id != list.header.cluster_id => {
                    return Err(AdoptError::NotAMember { host: m.host.clone(), detail: format!("its cluster id is {:x}, {first}'s is {id:x}", list.header.cluster_id) });
                }
                Some(_) => {}
                None => cluster = Some((list.header.cluster_id, m.host.clone(), list.members)),
            }
        }
        let (cluster_id, _, listed) = cluster.unwrap_or((0, String::new(), Vec::new()));
        let mut member_ids = BTreeMap::new();
        for m in &members {
            let peer = m.settings.get("initial-advertise-peer-urls").cloned().unwrap_or_default();
            match listed.iter().find(|l| l.peer_urls.iter().any(|p| peer.split(',').any(|q| q == p))) {
                Some(l) => {
                    member_ids.insert(m.name.clone(), format!("{:x}", l.id));
                }
                None => return Err(AdoptError::NotAMember { host: m.host.clone(), detail: format!("its peer URL {peer} is not in the cluster's member list") }),
            }
        }
        for l in &listed {
            if !member_ids.values().any(|id| *id == format!("{:x}", l.id)) {
                return Err(AdoptError::MissingHost { name: l.name.clone(), peer: l.peer_urls.join(",") });
            }
        }

        // The CA every member trusts, and its key.
        let mut ca: Option<(String, String, String)> = None; // (host, path, pem)
        for m in &members {
            let path = m.settings.get("trusted-ca-file").or_else(|| m.settings.get("peer-trusted-ca-file")).cloned().ok_or_else(|| AdoptError::File {
                host: m.host.clone(),
                path: m.unit_path.clone(),
                detail: "etcd is given no --trusted-ca-file: a cluster without TLS cannot be adopted (its clients would all have to change)".into(),
            })?;
            let pem = by_host(&m.host).pems.get(&path).cloned().flatten().ok_or_else(|| AdoptError::File { host: m.host.clone(), path: path.clone(), detail: "unreadable or missing".into() })?;
            match &ca {
                Some((other, _, first)) if *first != pem => return Err(AdoptError::CaDiffers { host: m.host.clone(), path, other: other.clone() }),
                Some(_) => {}
                None => ca = Some((m.host.clone(), path, pem)),
            }
        }
        let (_, ca_path, ca_cert) = ca.ok_or_else(|| AdoptError::Nothing { host: hosts.first().map(|h| h.name.clone()).unwrap_or_default() })?;
        // The first key found on a host that is the CA's (another CA's key
        // lying about is not it).
        let mut key: Option<(String, SecretPem)> = hosts.iter().find_map(|h| {
            h.ca_keys.iter().find_map(|(path, pem)| {
                let at = format!("{}:{path}", h.name);
                matches!(crate::pki::key_matches_cert(&at, pem.0.as_bytes(), ca_cert.as_bytes()), Ok(true)).then(|| (at, pem.clone()))
            })
        });
        if key.is_none()
            && let Some((name, pem)) = ca_key
        {
            match crate::pki::key_matches_cert(&name, pem.0.as_bytes(), ca_cert.as_bytes()) {
                Ok(true) => key = Some((name, pem)),
                Ok(false) => return Err(AdoptError::CaKeyMismatch { path: name, ca: ca_path }),
                Err(e) => return Err(AdoptError::Local { path: name, detail: e.to_string() }),
            }
        }
        let ssl_dir = parent(&ca_path).to_string();
        let ca_key = key.ok_or_else(|| {
            let places: Vec<String> = CA_KEY_PLACES.iter().map(|p| p.replace("{ssl}", &ssl_dir)).collect();
            AdoptError::NoCaKey { looked: places.join(", ") }
        })?;

        // The spec.
        let first = members.first();
        let etcd_version = versions.values().next().copied().unwrap_or(Version::new(3, 4, 23));
        let mut flannel_version = None;
        for (host, n) in &nodes {
            if let Some(v) = by_host(host).versions.get(&n.binary).and_then(|l| version_of(l)) {
                flannel_version = Some(v);
            }
        }
        let mut spec_hosts = Vec::new();
        for h in hosts {
            let member = members.iter().find(|m| m.host == h.name);
            let mut roles = Vec::new();
            if member.is_some() {
                roles.push(Role::Etcd);
            }
            if nodes.contains_key(&h.name) {
                roles.push(Role::Node);
            }
            let iface = nodes.get(&h.name).and_then(|n| n.settings.get("iface").cloned());
            let name = member.map(|m| m.name.clone()).unwrap_or_else(|| h.name.clone());
            if name != h.name {
                found.push(format!("{}: its etcd member name is {name}: the spec names the host that way", h.name));
            }
            let address = h.address.ok_or_else(|| AdoptError::Unreachable { host: h.name.clone(), detail: "no address".into() })?;
            let mut host = HostSpec::new(name, address, &roles);
            host.iface = iface;
            spec_hosts.push(host);
        }
        // No flanneld to ask: the release that reads the config where it was
        // found (0.11, the tutorial's, for the v2 store; `init`'s for v3).
        let config = hosts.iter().find_map(|h| h.flannel_config.clone());
        let flannel_version = flannel_version.unwrap_or(match &config {
            Some((FlannelApi::V2, _)) => Version::new(0, 11, 0),
            _ => Version::new(0, 26, 1),
        });
        if nodes.is_empty() {
            found.push(format!("no flanneld unit on any host: the spec has no nodes; flannel {flannel_version} stands for the release that reads the config where it was found"));
        }
        let mut spec = ClusterSpec::new(spec_hosts, etcd_version, flannel_version);
        if let Some(m) = first {
            let s = &m.settings;
            if let Some((_, _, port)) = s.get("advertise-client-urls").and_then(|u| url_parts(u.split(',').next()?)) {
                spec.etcd.client_port = port;
            }
            if let Some((_, _, port)) = s.get("initial-advertise-peer-urls").and_then(|u| url_parts(u.split(',').next()?)) {
                spec.etcd.peer_port = port;
            }
            if let Some(dd) = s.get("data-dir") {
                spec.etcd.data_dir = dd.clone();
            } else {
                spec.etcd.data_dir = format!("{}.etcd", m.name);
                found.push(format!("{}: no data dir set: etcd uses {}.etcd in its working directory", m.host, m.name));
            }
            if let Some(t) = s.get("initial-cluster-token") {
                spec.etcd.token = t.clone();
            }
            // /opt/etcd/bin/etcd -> /opt/etcd
            spec.layout.etcd_dir = parent(parent(&m.binary)).to_string();
            if !m.unit_path.is_empty() {
                spec.layout.systemd_dir = parent(&m.unit_path).to_string();
            }
        }
        if let Some(n) = nodes.values().next() {
            spec.layout.kubernetes_dir = parent(parent(&n.binary)).to_string();
            spec.network.ip_masq = n.settings.get("ip-masq").is_some_and(|v| v == "true");
            if let Some(p) = n.settings.get("etcd-prefix") {
                spec.network.etcd_prefix = p.clone();
            }
        }
        for h in hosts {
            if let Some(unit) = &h.docker_unit {
                let unit = systemd::Unit::parse(unit);
                if let Some(bin) = unit.argv(&BTreeMap::new()).first().filter(|b| b.starts_with('/')) {
                    spec.layout.dockerd = bin.clone();
                }
            }
            // docker's own settings in daemon.json stay as they are
            if let Some(json) = &h.daemon_json
                && let Ok(v) = serde_json::from_str::<serde_json::Value>(json)
            {
                if let Some(m) = v.get("registry-mirrors").and_then(|m| m.as_array()) {
                    spec.docker.registry_mirrors = m.iter().filter_map(|x| x.as_str().map(str::to_string)).collect();
                }
                if let Some(d) = v.get("storage-driver").and_then(|x| x.as_str()) {
                    spec.docker.storage_driver = Some(d.to_string());
                }
                if let Some(d) = v.get("data-root").and_then(|x| x.as_str()) {
                    spec.docker.data_root = Some(d.to_string());
                }
            }
        }
        match &config {
            Some((api, json)) => {
                let c: NetConfig = serde_json::from_str(json).map_err(|e| AdoptError::File {
                    host: hosts[0].name.clone(),
                    path: format!("{}/config", spec.network.etcd_prefix),
                    detail: format!("flannel's network config is not its JSON ({e}): {json}"),
                })?;
                spec.network.pod_cidr = c.network.parse::<Ipv4Cidr>().map_err(|e| AdoptError::File { host: hosts[0].name.clone(), path: format!("{}/config", spec.network.etcd_prefix), detail: format!("Network {:?}: {e}", c.network) })?;
                if let Some(l) = c.subnet_len {
                    spec.network.subnet_len = l;
                }
                spec.network.subnet_min = c.subnet_min;
                spec.network.subnet_max = c.subnet_max;
                if let Some(b) = c.backend {
                    // flannel's own casing (`Type`, `VNI`, `Port`, `DirectRouting`) as our spec reads it
                    let mut lower = serde_json::Map::new();
                    for (k, v) in b.as_object().cloned().unwrap_or_default() {
                        let k = match k.as_str() {
                            "Type" => "type".to_string(),
                            "VNI" => "vni".to_string(),
                            "Port" => "port".to_string(),
                            "DirectRouting" => "direct_routing".to_string(),
                            other => other.to_ascii_lowercase(),
                        };
                        lower.insert(k, if let serde_json::Value::String(s) = &v { serde_json::Value::String(s.to_ascii_lowercase().replace('-', "_")) } else { v });
                    }
                    if let Ok(b) = serde_json::from_value(serde_json::Value::Object(lower)) {
                        spec.network.backend = b;
                    }
                }
                found.push(format!("flannel's network config in etcd's {} store: {json}", if *api == FlannelApi::V2 { "v2" } else { "v3" }));
            }
            None if !nodes.is_empty() => found.push("no flannel network config in etcd (v3 or v2): the spec's network is the default".into()),
            None => {}
        }

        // What differs from a secure setup.
        for m in &members {
            let s = &m.settings;
            let plain: Vec<&str> = s.get("listen-client-urls").map(|u| u.split(',').filter(|u| u.starts_with("http://")).collect()).unwrap_or_default();
            if !plain.is_empty() {
                insecure.push(format!("{}: etcd listens in plaintext, with no authentication, on {}", m.name, plain.join(", ")));
            }
            if s.get("client-cert-auth").is_none_or(|v| v != "true") {
                insecure.push(format!("{}: no client-cert-auth: any client that reaches port {} reads and writes everything", m.name, spec.etcd.client_port));
            }
            if s.get("peer-client-cert-auth").is_none_or(|v| v != "true") {
                insecure.push(format!("{}: no peer-client-cert-auth: any host that reaches port {} can pose as a peer", m.name, spec.etcd.peer_port));
            }
            let cert = s.get("cert-file").cloned().unwrap_or_default();
            let shared: Vec<&str> = members.iter().filter(|o| o.settings.get("cert-file") == Some(&cert)).map(|o| o.name.as_str()).collect();
            if shared.len() > 1 || s.get("peer-cert-file") == Some(&cert) {
                insecure.push(format!("{}: {cert} is its server, peer and client certificate, shared by {}", m.name, shared.join(", ")));
            }
            found.push(format!("{} on {}: etcd {} ({}), unit {}, data dir {}, member id {}", m.name, m.host, versions[&m.host], m.binary, m.unit_path, s.get("data-dir").map(String::as_str).unwrap_or("?"), member_ids[&m.name]));
        }
        for (host, n) in &nodes {
            if n.post.contains("mk-docker-opts") && n.post.contains("subnet.env") {
                insecure.push(format!("{host}: mk-docker-opts.sh writes docker's options over flannel's subnet.env ({}): flanneld loses its lease file on restart", n.unit_path));
            }
            if let Some(cert) = n.settings.get("etcd-certfile") {
                found.push(format!("{host}: flanneld reads etcd with {cert}"));
            }
        }
        found.push(format!("cluster id {cluster_id:x}; the CA {ca_path}, its key at {}", ca_key.0));

        let yaml = commented_yaml(&spec, &found, &insecure);
        Ok(Adoption { spec, yaml, ca_cert, ca_key, insecure, found, cluster_id: format!("{cluster_id:x}"), member_ids })
    }

    /// What a front end reports once the adoption is written: where the
    /// spec and the CA went, where the key came from, the ids, what was
    /// found and what the migration fixes (never the key itself).
    ///
    /// ```no_run
    /// # fn demo(a: &k8s_bootstrap_core::adopt::Adoption) {
    /// let s = a.summary("cluster.yaml".as_ref(), "pki".as_ref());
    /// assert_eq!(s["spec_path"], "cluster.yaml");
    /// # }
    /// ```
    pub fn summary(&self, spec_path: &std::path::Path, pki_dir: &std::path::Path) -> serde_json::Value {
        serde_json::json!({
            "spec_path": spec_path.display().to_string(),
            "pki_dir": pki_dir.display().to_string(),
            "ca_key_from": self.ca_key.0,
            "cluster_id": self.cluster_id,
            "member_ids": self.member_ids,
            "found": self.found,
            "insecure": self.insecure,
        })
    }

    /// Writes the spec to `spec_path` (refused when it exists, unless
    /// `force`) and the CA into `pki_dir` (`ca.pem`, `ca-key.pem` 0600;
    /// refused when the folder holds another CA). Nothing is written when
    /// either is refused; each file is written whole (a temporary file,
    /// then renamed).
    ///
    /// ```no_run
    /// # fn demo(a: &k8s_bootstrap_core::adopt::Adoption) -> Result<(), k8s_bootstrap_core::adopt::AdoptError> {
    /// a.write(std::path::Path::new("cluster.yaml"), std::path::Path::new("pki"), false)?;
    /// # Ok(()) }
    /// ```
    pub fn write(&self, spec_path: &std::path::Path, pki_dir: &std::path::Path, force: bool) -> Result<(), AdoptError> {
        fn local(p: &std::path::Path) -> impl Fn(std::io::Error) -> AdoptError + '_ {
            move |e| AdoptError::Local { path: p.display().to_string(), detail: e.to_string() }
        }
        if spec_path.exists() && !force {
            return Err(AdoptError::SpecExists { path: spec_path.display().to_string() });
        }
        let ca_file = pki_dir.join("ca.pem");
        if let Ok(have) = std::fs::read_to_string(&ca_file)
            && have != self.ca_cert
        {
            return Err(AdoptError::OtherCa { path: ca_file.display().to_string() });
        }
        if !pki_dir.exists() {
            std::fs::create_dir_all(pki_dir).map_err(local(pki_dir))?;
            std::fs::set_permissions(pki_dir, std::os::unix::fs::PermissionsExt::from_mode(0o700)).map_err(local(pki_dir))?;
        }
        write_atomic(&ca_file, self.ca_cert.as_bytes(), 0o644).map_err(local(&ca_file))?;
        let key_file = pki_dir.join("ca-key.pem");
        write_atomic(&key_file, self.ca_key.1.0.as_bytes(), 0o600).map_err(local(&key_file))?;
        write_atomic(spec_path, self.yaml.as_bytes(), 0o644).map_err(local(spec_path))?;
        Ok(())
    }
}

/// Connects to `hosts` (name, address) over SSH as `opts` says (strict
/// host keys by default), reads them ([`read`]) and makes the
/// [`Adoption`] ([`Adoption::from_found`]). `ca_key`: a CA key file given by
/// hand (its name and PEM). Changes nothing anywhere; write the result
/// with [`Adoption::write`].
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use k8s_bootstrap_core::adopt::adopt;
/// use k8s_bootstrap_core::apply::ConnectOptions;
/// let hosts = [("etcd01".to_string(), "192.168.1.30".parse()?), ("etcd02".to_string(), "192.168.1.31".parse()?)];
/// let a = adopt(&hosts, &ConnectOptions::default(), None).await?;
/// a.write("cluster.yaml".as_ref(), "pki".as_ref(), false)?;
/// # Ok(()) }
/// ```
#[cfg(feature = "ssh")]
pub async fn adopt(hosts: &[(String, Ipv4Addr)], opts: &crate::apply::ConnectOptions, ca_key: Option<(String, SecretPem)>) -> Result<Adoption, AdoptError> {
    let spec = ClusterSpec::new(hosts.iter().map(|(n, a)| HostSpec::new(n.clone(), *a, &[Role::Etcd])).collect(), Version::new(3, 5, 17), Version::new(0, 26, 1));
    let mut transports = crate::apply::connect(&spec, opts).await;
    let mut list = Vec::new();
    for (name, addr) in hosts {
        let t = transports.remove(name).ok_or_else(|| AdoptError::Unreachable { host: name.clone(), detail: "not connected".into() })?;
        list.push((name.clone(), *addr, t));
    }
    let found = read(&list).await?;
    Adoption::from_found(&found, ca_key)
}

/// Writes `bytes` to `path` through a temporary file beside it, renamed over it.
fn write_atomic(path: &std::path::Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_file_name(format!(".{}.kb-tmp", path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default()));
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(mode).open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(mode))?;
    std::fs::rename(&tmp, path)
}

/// The spec's YAML under a header of comments: what was found, and what
/// the migration changes.
fn commented_yaml(spec: &ClusterSpec, found: &[String], insecure: &[String]) -> String {
    let mut out = String::from("# Written by `k8s-bootstrap adopt` from the running cluster.\n#\n# Found:\n");
    for f in found {
        out.push_str(&format!("#   - {f}\n"));
    }
    if !insecure.is_empty() {
        out.push_str("#\n# Differs from a secure setup (`k8s-bootstrap plan` lists the migration,\n# `apply` carries it out member by member, keeping data and member ids):\n");
        for f in insecure {
            out.push_str(&format!("#   - {f}\n"));
        }
    }
    out.push_str("#\n");
    out.push_str(&spec.to_yaml_string());
    out
}

#[cfg(test)]
mod tests;
