//! [`EtcdCluster`]: the etcd members, their env files and units, the admin
//! etcdctl wrappers and the health check, for one etcd version.
//!
//! Rules (see `shared/notes/traps.md`): every setting appears once, as an
//! `ETCD_*` variable, with a bare `ExecStart`; https only, also on
//! 127.0.0.1; client and peer cert auth on; `--enable-v2` only when asked
//! for and never from 3.6 (the v2 API is gone); `--tls-min-version` only
//! where the version knows it; no `--experimental-*` flag at all (etcd 3.7
//! removed every one of them, 3.6 deprecated them); `ETCDCTL_API` only for
//! the etcdctl of 3.5 and older (3.6 and later warn about it).
//!
//! ```
//! use k8s_bootstrap_core::etcd::EtcdCluster;
//! use k8s_bootstrap_core::spec::Version;
//! let cluster = EtcdCluster::new(Version::new(3, 4, 23))
//!     .member("etcd01", "192.168.1.30".parse().unwrap())
//!     .member("etcd02", "192.168.1.31".parse().unwrap())
//!     .member("etcd03", "192.168.1.32".parse().unwrap());
//! let r = cluster.render_member("etcd02").unwrap();
//! let env = r.file("/opt/etcd/cfg/etcd").unwrap().text();
//! assert!(env.contains(r#"ETCD_NAME="etcd02""#));
//! assert!(env.contains("etcd01=https://192.168.1.30:2380,etcd02=https://192.168.1.31:2380"));
//! assert!(!env.contains("http://"));
//! ```

pub mod upgrade;

use std::net::Ipv4Addr;

use askama::Template;
use serde::{Deserialize, Serialize};

use crate::model::{CertId, CertLayout, Command, HostCert, HostRender, Phase, Problem, RenderedFile, Version};
use crate::shell::shell_quote;

/// The error of the etcd builder.
///
/// ```
/// use k8s_bootstrap_core::etcd::{EtcdCluster, Error};
/// use k8s_bootstrap_core::spec::Version;
/// let etcd = EtcdCluster::new(Version::new(3, 5, 17)).member("etcd01", "192.168.1.30".parse().unwrap());
/// let err = etcd.render_member("etcd09").unwrap_err();
/// assert_eq!(err.to_string(), r#"no etcd member named "etcd09""#);
/// // Broken rules are all reported, each with its path.
/// let Err(Error::Invalid(problems)) = EtcdCluster::new(Version::new(3, 6, 0)).enable_v2(true).render_member("etcd01") else { panic!() };
/// let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
/// assert_eq!(paths, ["members", "enable_v2"]);
/// ```
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The settings break rules.
    #[error("invalid etcd settings:{}", crate::model::error_list(.0))]
    Invalid(Vec<Problem>),
    /// No member has this name.
    #[error("no etcd member named {0:?}")]
    UnknownMember(String),
    /// A template failed to render.
    #[error("rendering {file} failed")]
    Template {
        /// The file being rendered.
        file: String,
        /// The askama error.
        #[source]
        source: askama::Error,
    },
}

/// `Result` of this module.
///
/// ```
/// use k8s_bootstrap_core::etcd::{self, EtcdCluster};
/// fn env_of(cluster: &EtcdCluster, member: &str) -> etcd::Result<String> {
///     Ok(cluster.render_member(member)?.file(&cluster.env_file()).unwrap().text().to_string())
/// }
/// let cluster = EtcdCluster::default().member("etcd01", "192.168.1.30".parse().unwrap());
/// assert!(env_of(&cluster, "etcd01").unwrap().contains(r#"ETCD_NAME="etcd01""#));
/// assert!(env_of(&cluster, "etcd02").is_err());
/// ```
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `--initial-cluster-state`.
///
/// ```
/// use k8s_bootstrap_core::etcd::{EtcdCluster, InitialClusterState};
/// // A member joining after `etcdctl member add` starts with state existing.
/// let etcd = EtcdCluster::default()
///     .member("etcd01", "192.168.1.30".parse().unwrap())
///     .initial_state(serde_yaml_ng::from_str("existing").unwrap());
/// assert_eq!(etcd.initial_state, InitialClusterState::Existing);
/// let env = etcd.render_member("etcd01").unwrap().files[0].text().to_string();
/// assert!(env.contains(r#"ETCD_INITIAL_CLUSTER_STATE="existing""#));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InitialClusterState {
    /// A new cluster (default).
    #[default]
    New,
    /// Joining an existing cluster (after `etcdctl member add`).
    Existing,
}

impl InitialClusterState {
    /// `new` or `existing`.
    ///
    /// ```
    /// use k8s_bootstrap_core::etcd::InitialClusterState;
    /// assert_eq!(InitialClusterState::default().as_str(), "new");
    /// assert_eq!(InitialClusterState::Existing.as_str(), "existing");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            InitialClusterState::New => "new",
            InitialClusterState::Existing => "existing",
        }
    }
}

/// `--tls-min-version`.
///
/// ```
/// use k8s_bootstrap_core::etcd::{EtcdCluster, TlsMinVersion};
/// use k8s_bootstrap_core::spec::Version;
/// let env = |v: Version, t: TlsMinVersion| {
///     let c = EtcdCluster::new(v).member("etcd01", "192.168.1.30".parse().unwrap()).tls_min_version(t);
///     c.render_member("etcd01").unwrap().files[0].text().to_string()
/// };
/// assert!(env(Version::new(3, 5, 17), TlsMinVersion::Auto).contains(r#"ETCD_TLS_MIN_VERSION="TLS1.2""#));
/// assert!(!env(Version::new(3, 4, 23), TlsMinVersion::Auto).contains("TLS_MIN_VERSION")); // too old: left out
/// assert_eq!(serde_yaml_ng::from_str::<TlsMinVersion>("tls1.3").unwrap(), TlsMinVersion::Tls13);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TlsMinVersion {
    /// TLS1.2 where the etcd version knows the flag (3.4.25+, 3.5.8+, 3.6), otherwise absent (default).
    #[default]
    Auto,
    /// TLS1.2 (an error for versions without the flag).
    #[serde(rename = "tls1.2")]
    Tls12,
    /// TLS1.3 (an error for versions without the flag).
    #[serde(rename = "tls1.3")]
    Tls13,
    /// Never emitted.
    Off,
}

/// Whether etcd `v` knows `--tls-min-version` (3.4.25, 3.5.8, 3.6.0 and later).
///
/// ```
/// use k8s_bootstrap_core::etcd::supports_tls_min_version;
/// use k8s_bootstrap_core::spec::Version;
/// assert!(!supports_tls_min_version(Version::new(3, 3, 13)));
/// assert!(!supports_tls_min_version(Version::new(3, 4, 24)));
/// assert!(supports_tls_min_version(Version::new(3, 4, 25)));
/// assert!(supports_tls_min_version(Version::minor(3, 6)));
/// ```
pub fn supports_tls_min_version(v: Version) -> bool {
    match v.major_minor() {
        (3, 4) => v.triple() >= (3, 4, 25),
        (3, 5) => v.triple() >= (3, 5, 8),
        (3, m) => m >= 6,
        (ma, _) => ma > 3,
    }
}

/// Whether etcd `v` still has the v2 API (`--enable-v2` removed in 3.6;
/// 3.7 removed the v2 store, v2 discovery and client/v2 altogether).
///
/// ```
/// use k8s_bootstrap_core::etcd::has_v2_api;
/// use k8s_bootstrap_core::spec::Version;
/// assert!(has_v2_api(Version::new(3, 5, 17)));
/// assert!(!has_v2_api(Version::new(3, 6, 0))); // flannel <= 0.17 cannot use it
/// assert!(!has_v2_api(Version::new(3, 7, 3)));
/// ```
pub fn has_v2_api(v: Version) -> bool {
    v.major_minor() < (3, 6)
}

/// The etcd API an etcdctl call uses.
///
/// ```
/// use k8s_bootstrap_core::etcd::{EtcdApi, EtcdCluster};
/// let etcd = EtcdCluster::default();
/// assert_eq!(etcd.etcdctl_wrapper(EtcdApi::V3), "/opt/etcd/bin/etcdctl-admin");
/// assert_eq!(etcd.etcdctl_wrapper(EtcdApi::V2), "/opt/etcd/bin/etcdctl-admin-v2");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EtcdApi {
    /// v2 (`set`, `cluster-health`, `--ca-file`).
    V2,
    /// v3 (`put`, `endpoint health`, `--cacert`).
    V3,
}

/// One member.
///
/// ```
/// use k8s_bootstrap_core::etcd::{EtcdCluster, EtcdMember};
/// let m = EtcdMember::new("etcd02", "192.168.1.31".parse().unwrap()).ports(12379, 12380);
/// assert_eq!((m.client_port, m.peer_port, m.data_dir.as_deref()), (Some(12379), Some(12380), None));
/// let etcd = EtcdCluster::default().with_member(m);
/// assert_eq!(etcd.initial_cluster(), "etcd02=https://192.168.1.31:12380");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EtcdMember {
    /// Member name (also the host name).
    pub name: String,
    /// Address it listens and advertises on.
    pub address: Ipv4Addr,
    /// Client port override (to run several members on one address).
    pub client_port: Option<u16>,
    /// Peer port override.
    pub peer_port: Option<u16>,
    /// Data dir override.
    pub data_dir: Option<String>,
}

impl EtcdMember {
    /// A member with the cluster's ports and data dir.
    ///
    /// ```
    /// use k8s_bootstrap_core::etcd::EtcdMember;
    /// let m = EtcdMember::new("etcd01", "192.168.1.30".parse().unwrap());
    /// assert_eq!(m.name, "etcd01");
    /// assert_eq!((m.client_port, m.peer_port), (None, None)); // the cluster's ports
    /// ```
    pub fn new(name: impl Into<String>, address: Ipv4Addr) -> Self {
        EtcdMember { name: name.into(), address, client_port: None, peer_port: None, data_dir: None }
    }
    /// Overrides the ports.
    ///
    /// ```
    /// use k8s_bootstrap_core::etcd::{EtcdCluster, EtcdMember};
    /// // A second member on the same machine needs its own ports.
    /// let etcd = EtcdCluster::default()
    ///     .member("a", "10.0.0.1".parse().unwrap())
    ///     .with_member(EtcdMember::new("b", "10.0.0.1".parse().unwrap()).ports(12379, 12380));
    /// assert_eq!(etcd.client_endpoints(), "https://10.0.0.1:2379,https://10.0.0.1:12379");
    /// ```
    #[must_use]
    pub fn ports(mut self, client: u16, peer: u16) -> Self {
        self.client_port = Some(client);
        self.peer_port = Some(peer);
        self
    }
    /// Overrides the data dir.
    ///
    /// ```
    /// use k8s_bootstrap_core::etcd::{EtcdCluster, EtcdMember};
    /// let etcd = EtcdCluster::default()
    ///     .with_member(EtcdMember::new("b", "10.0.0.1".parse().unwrap()).data_dir("/var/lib/etcd/b"));
    /// let env = etcd.render_member("b").unwrap().files[0].text().to_string();
    /// assert!(env.contains(r#"ETCD_DATA_DIR="/var/lib/etcd/b""#));
    /// ```
    #[must_use]
    pub fn data_dir(mut self, dir: impl Into<String>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }
}

/// The etcd releases k8s-bootstrap renders for: the oldest and newest minor
/// (3.3, the tutorial's, to 3.7). Every minor between them is in
/// [`KNOWN_MINORS`]; others are refused by validation.
///
/// ```
/// use k8s_bootstrap_core::etcd::SUPPORTED_VERSIONS;
/// assert_eq!(SUPPORTED_VERSIONS.0.to_string(), "3.3");
/// assert_eq!(SUPPORTED_VERSIONS.1.to_string(), "3.7");
/// ```
pub const SUPPORTED_VERSIONS: (Version, Version) = (KNOWN_MINORS[0], KNOWN_MINORS[KNOWN_MINORS.len() - 1]);

/// Every etcd minor k8s-bootstrap knows, oldest first. A version of
/// another minor is refused, with this list in the reason.
///
/// ```
/// use k8s_bootstrap_core::etcd::{EtcdCluster, KNOWN_MINORS};
/// use k8s_bootstrap_core::spec::Version;
/// let known: Vec<String> = KNOWN_MINORS.iter().map(|v| v.to_string()).collect();
/// assert_eq!(known, ["3.3", "3.4", "3.5", "3.6", "3.7"]);
/// let p = EtcdCluster::new(Version::new(3, 8, 0)).member("etcd01", "192.168.1.30".parse().unwrap()).validate();
/// assert_eq!(p[0].rule, "etcd 3.3, 3.4, 3.5, 3.6 or 3.7 is supported");
/// ```
pub const KNOWN_MINORS: [Version; 5] = [Version::minor(3, 3), Version::minor(3, 4), Version::minor(3, 5), Version::minor(3, 6), Version::minor(3, 7)];

/// Whether `v` is of a minor in [`KNOWN_MINORS`] (any patch level).
///
/// ```
/// use k8s_bootstrap_core::etcd::is_known;
/// use k8s_bootstrap_core::spec::Version;
/// assert!(is_known(Version::new(3, 7, 3)));
/// assert!(is_known(Version::minor(3, 3)));
/// assert!(!is_known(Version::new(3, 2, 26)));
/// assert!(!is_known(Version::new(3, 8, 0)));
/// ```
pub fn is_known(v: Version) -> bool {
    KNOWN_MINORS.iter().any(|k| k.major_minor() == v.major_minor())
}

/// "etcd 3.3, 3.4, 3.5, 3.6 or 3.7 is supported", from [`KNOWN_MINORS`].
fn known_rule() -> String {
    let names: Vec<String> = KNOWN_MINORS.iter().map(|v| v.to_string()).collect();
    let (last, rest) = names.split_last().expect("at least one known minor");
    format!("etcd {} or {last} is supported", rest.join(", "))
}

/// Whether the etcdctl of `v` reads `ETCDCTL_API` (3.5 and older: it picks
/// the v2 or v3 commands). From 3.6 etcdctl only speaks v3 and warns
/// `unrecognized environment variable ETCDCTL_API=3` on every call, so the
/// rendered wrappers leave it out.
///
/// ```
/// use k8s_bootstrap_core::etcd::{etcdctl_reads_api_env, EtcdCluster};
/// use k8s_bootstrap_core::spec::Version;
/// assert!(etcdctl_reads_api_env(Version::new(3, 5, 17)));
/// assert!(!etcdctl_reads_api_env(Version::new(3, 6, 16)));
/// let etcd = EtcdCluster::new(Version::new(3, 7, 3)).member("etcd01", "192.168.1.30".parse().unwrap());
/// let wrapper = etcd.render_member("etcd01").unwrap().file("/opt/etcd/bin/etcdctl-admin").unwrap().text().to_string();
/// assert!(!wrapper.contains("ETCDCTL_API"));
/// ```
pub fn etcdctl_reads_api_env(v: Version) -> bool {
    v.major_minor() < (3, 6)
}

/// What etcd logs when it cannot start on its own data dir: the bbolt
/// database, the WAL or a snapshot damaged, or a raft log behind what the
/// cluster committed (a data dir restored from an old copy). The same
/// words in every release 3.4-3.7 (read from their binaries); etcd exits
/// on each, and systemd restarts it into the same failure.
///
/// ```
/// use k8s_bootstrap_core::etcd::DATA_ERRORS;
/// // etcd 3.4's panic on a bbolt file whose meta pages were overwritten
/// let line = "panic: cannot open database at /var/lib/etcd/default.etcd/member/snap/db (invalid database)";
/// assert!(DATA_ERRORS.iter().any(|e| line.contains(e)));
/// ```
pub const DATA_ERRORS: [&str; 11] = [
    "cannot open database",
    "failed to open database",
    "invalid database",
    "checksum error",
    "failed to find database snapshot file",
    "failed to recover v3 backend",
    "crc mismatch",
    "failed to read WAL",
    "failed to open WAL",
    "read wal error",
    "is out of range [lastIndex",
];

/// A sh script that tells about data dir `data_dir` of the etcd that
/// systemd runs as `etcd`: `{prefix}data 1` when it holds a member
/// (`member/`), else `{prefix}data 0`; and when it does while the unit is
/// not active, `{prefix}dataerr LINE`: the last line of etcd's journal
/// with one of [`DATA_ERRORS`] since etcd last served clients (`ready to
/// serve client requests`), cut to 300 bytes. No such line: etcd did not
/// fail on its data, or never logged it.
///
/// ```
/// use k8s_bootstrap_core::etcd::data_check_script;
/// let s = data_check_script("/var/lib/etcd/default.etcd", "p ");
/// assert!(s.contains("[ -d /var/lib/etcd/default.etcd/member ]") && s.contains("dataerr"));
/// ```
pub fn data_check_script(data_dir: &str, prefix: &str) -> String {
    let dd = crate::shell::join_argv(&[data_dir.to_string()]);
    let pats = crate::shell::join_argv(&[DATA_ERRORS.join("|")]);
    let prefix_q = crate::shell::join_argv(&[prefix.to_string()]);
    format!(
        "if [ -d {dd}/member ]; then echo {prefix_q}'data 1'; \
         if ! systemctl is-active --quiet etcd; then \
         journalctl -u etcd -n 400 -o cat --no-pager 2>/dev/null | awk -v pats={pats} -v pre={prefix_q} \
         'BEGIN {{ n = split(pats, p, \"|\") }} /ready to serve client requests/ {{ e = \"\" }} {{ for (i = 1; i <= n; i++) if (index($0, p[i])) e = $0 }} END {{ if (e != \"\") print pre \"dataerr \" substr(e, 1, 300) }}'; \
         fi; else echo {prefix_q}'data 0'; fi\n"
    )
}

/// One line of [`data_check_script`]'s output, its prefix taken off.
///
/// ```
/// use k8s_bootstrap_core::etcd::DataCheck;
/// assert_eq!(DataCheck::parse("data 1"), Some(DataCheck::Member(true)));
/// assert_eq!(DataCheck::parse("dataerr panic: checksum error"), Some(DataCheck::Error("panic: checksum error".into())));
/// assert_eq!(DataCheck::parse("etcd"), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataCheck {
    /// `data 1`: the data dir holds a member; `data 0`: it does not.
    Member(bool),
    /// The journal line that tells the data dir is damaged.
    Error(String),
}

impl DataCheck {
    /// The line, or `None` when it is not one of the script's.
    pub fn parse(line: &str) -> Option<Self> {
        let (what, rest) = line.split_once(' ').unwrap_or((line, ""));
        match what {
            "data" => Some(Self::Member(rest.trim() == "1")),
            "dataerr" => Some(Self::Error(rest.trim().to_string())),
            _ => None,
        }
    }
}

/// An etcd cluster for one etcd version. `Default` is etcd 3.5.17 with no
/// members and the tutorial's layout.
///
/// ```
/// use k8s_bootstrap_core::etcd::{EtcdApi, EtcdCluster, EtcdMember, TlsMinVersion};
/// use k8s_bootstrap_core::spec::Version;
/// // Two members on one machine need their own ports and data dirs.
/// let etcd = EtcdCluster::new(Version::new(3, 3, 13))
///     .with_member(EtcdMember::new("a", "10.0.0.1".parse().unwrap()))
///     .with_member(EtcdMember::new("b", "10.0.0.1".parse().unwrap()).ports(12379, 12380).data_dir("/var/lib/etcd/b"))
///     .enable_v2(true); // flannel <= 0.17 reads its config over v2
/// assert!(etcd.validate().is_empty());
/// assert_eq!(etcd.client_endpoints(), "https://10.0.0.1:2379,https://10.0.0.1:12379");
/// // etcdctl's v2 and v3 TLS flags differ: --ca-file vs --cacert.
/// assert!(etcd.etcdctl_flags(EtcdApi::V2)[1].starts_with("--ca-file="));
/// assert!(etcd.etcdctl_flags(EtcdApi::V3)[1].starts_with("--cacert="));
/// // etcd 3.3 has no --tls-min-version: asking for it is a problem, not a silent drop.
/// let p = etcd.tls_min_version(TlsMinVersion::Tls12).validate();
/// assert_eq!(p[0].path, "tls_min_version");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EtcdCluster {
    /// etcd version.
    pub version: Version,
    /// Members, in order.
    pub members: Vec<EtcdMember>,
    /// Client port (default 2379).
    pub client_port: u16,
    /// Peer port (default 2380).
    pub peer_port: u16,
    /// Data dir (default `/var/lib/etcd/default.etcd`).
    pub data_dir: String,
    /// Initial cluster token (default `etcd-cluster`).
    pub token: String,
    /// Initial cluster state.
    pub initial_state: InitialClusterState,
    /// `--tls-min-version`.
    pub tls_min_version: TlsMinVersion,
    /// Enable the v2 API (for flannel <= 0.17). Refused from 3.6.
    pub enable_v2: bool,
    /// Install root with `cfg/`, `bin/`, `ssl/` (default `/opt/etcd`).
    pub etcd_dir: String,
    /// Unit directory (default `/usr/lib/systemd/system`).
    pub systemd_dir: String,
    /// Which certificate files.
    pub cert_layout: CertLayout,
}

impl Default for EtcdCluster {
    fn default() -> Self {
        EtcdCluster::new(Version::new(3, 5, 17))
    }
}

#[derive(Template)]
#[template(path = "etcd.env")]
struct EnvTemplate<'a> {
    version: Version,
    name: &'a str,
    sections: Vec<Section>,
}

struct Section {
    title: &'static str,
    vars: Vec<(&'static str, String)>,
}

#[derive(Template)]
#[template(path = "etcd.service")]
struct UnitTemplate<'a> {
    version: Version,
    name: &'a str,
    env_file: &'a str,
    etcd_bin: &'a str,
}

#[derive(Template)]
#[template(path = "etcdctl.sh")]
struct EtcdctlTemplate<'a> {
    version: Version,
    api: u8,
    set_api_env: bool,
    path: &'a str,
    example: &'a str,
    etcdctl_bin: &'a str,
    flags: Vec<String>,
}

fn tmpl(file: &str, r: askama::Result<String>) -> Result<String> {
    crate::model::text_file(r).map_err(|source| Error::Template { file: file.to_string(), source })
}

impl EtcdCluster {
    /// A cluster of etcd `version` with default settings and no members.
    ///
    /// ```
    /// use k8s_bootstrap_core::etcd::EtcdCluster;
    /// use k8s_bootstrap_core::spec::Version;
    /// let etcd = EtcdCluster::new(Version::new(3, 4, 23));
    /// assert_eq!((etcd.client_port, etcd.peer_port, etcd.token.as_str()), (2379, 2380, "etcd-cluster"));
    /// assert_eq!(etcd.validate()[0].path, "members"); // add members before rendering
    /// ```
    pub fn new(version: Version) -> Self {
        EtcdCluster {
            version,
            members: Vec::new(),
            client_port: 2379,
            peer_port: 2380,
            data_dir: "/var/lib/etcd/default.etcd".into(),
            token: "etcd-cluster".into(),
            initial_state: InitialClusterState::New,
            tls_min_version: TlsMinVersion::Auto,
            enable_v2: false,
            etcd_dir: "/opt/etcd".into(),
            systemd_dir: "/usr/lib/systemd/system".into(),
            cert_layout: CertLayout::PerMember,
        }
    }

    /// Adds a member.
    ///
    /// ```
    /// use k8s_bootstrap_core::etcd::EtcdCluster;
    /// let etcd = EtcdCluster::default()
    ///     .member("etcd01", "192.168.1.30".parse().unwrap())
    ///     .member("etcd02", "192.168.1.31".parse().unwrap());
    /// assert_eq!(etcd.members[1].name, "etcd02");
    /// assert_eq!(etcd.client_endpoints(), "https://192.168.1.30:2379,https://192.168.1.31:2379");
    /// ```
    #[must_use]
    pub fn member(mut self, name: impl Into<String>, address: Ipv4Addr) -> Self {
        self.members.push(EtcdMember::new(name, address));
        self
    }
    /// Adds a member with overrides.
    ///
    /// ```
    /// use k8s_bootstrap_core::etcd::{EtcdCluster, EtcdMember};
    /// let etcd = EtcdCluster::default().with_member(EtcdMember::new("etcd01", "192.168.1.30".parse().unwrap()).ports(2381, 2382));
    /// assert_eq!(etcd.initial_cluster(), "etcd01=https://192.168.1.30:2382");
    /// ```
    #[must_use]
    pub fn with_member(mut self, member: EtcdMember) -> Self {
        self.members.push(member);
        self
    }
    /// Sets the client and peer ports.
    ///
    /// ```
    /// use k8s_bootstrap_core::etcd::EtcdCluster;
    /// let etcd = EtcdCluster::default().member("etcd01", "192.168.1.30".parse().unwrap());
    /// assert_eq!(etcd.clone().ports(12379, 12380).client_endpoints(), "https://192.168.1.30:12379");
    /// assert_eq!(etcd.ports(2379, 2379).validate()[0].path, "peer_port"); // must differ
    /// ```
    #[must_use]
    pub fn ports(mut self, client: u16, peer: u16) -> Self {
        self.client_port = client;
        self.peer_port = peer;
        self
    }
    /// Sets the data dir.
    ///
    /// ```
    /// use k8s_bootstrap_core::etcd::EtcdCluster;
    /// let etcd = EtcdCluster::default().member("etcd01", "192.168.1.30".parse().unwrap()).data_dir("/data/etcd");
    /// let r = etcd.render_member("etcd01").unwrap();
    /// assert!(r.files[0].text().contains(r#"ETCD_DATA_DIR="/data/etcd""#));
    /// assert!(r.commands.iter().any(|c| c.argv == ["install", "-d", "-m", "0700", "/data/etcd"]));
    /// ```
    #[must_use]
    pub fn data_dir(mut self, dir: impl Into<String>) -> Self {
        self.data_dir = dir.into();
        self
    }
    /// Sets the initial cluster token.
    ///
    /// ```
    /// use k8s_bootstrap_core::etcd::EtcdCluster;
    /// let etcd = EtcdCluster::default().member("etcd01", "192.168.1.30".parse().unwrap());
    /// let env = etcd.clone().token("etcd-cluster-prod").render_member("etcd01").unwrap().files[0].text().to_string();
    /// assert!(env.contains(r#"ETCD_INITIAL_CLUSTER_TOKEN="etcd-cluster-prod""#));
    /// assert_eq!(etcd.token("my token").validate()[0].path, "token");
    /// ```
    #[must_use]
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = token.into();
        self
    }
    /// Sets the initial cluster state.
    ///
    /// ```
    /// use k8s_bootstrap_core::etcd::{EtcdCluster, InitialClusterState};
    /// let etcd = EtcdCluster::default()
    ///     .member("etcd04", "192.168.1.33".parse().unwrap())
    ///     .initial_state(InitialClusterState::Existing);
    /// let env = etcd.render_member("etcd04").unwrap().files[0].text().to_string();
    /// assert!(env.contains(r#"ETCD_INITIAL_CLUSTER_STATE="existing""#));
    /// ```
    #[must_use]
    pub fn initial_state(mut self, state: InitialClusterState) -> Self {
        self.initial_state = state;
        self
    }
    /// Sets `--tls-min-version`.
    ///
    /// ```
    /// use k8s_bootstrap_core::etcd::{EtcdCluster, TlsMinVersion};
    /// let etcd = EtcdCluster::default() // etcd 3.5.17
    ///     .member("etcd01", "192.168.1.30".parse().unwrap())
    ///     .tls_min_version(TlsMinVersion::Tls13);
    /// let env = etcd.render_member("etcd01").unwrap().files[0].text().to_string();
    /// assert!(env.contains(r#"ETCD_TLS_MIN_VERSION="TLS1.3""#));
    /// ```
    #[must_use]
    pub fn tls_min_version(mut self, v: TlsMinVersion) -> Self {
        self.tls_min_version = v;
        self
    }
    /// Enables the v2 API (for flannel <= 0.17).
    ///
    /// ```
    /// use k8s_bootstrap_core::etcd::EtcdCluster;
    /// use k8s_bootstrap_core::spec::Version;
    /// let etcd = EtcdCluster::new(Version::new(3, 4, 23)).member("etcd01", "192.168.1.30".parse().unwrap()).enable_v2(true);
    /// let r = etcd.render_member("etcd01").unwrap();
    /// assert!(r.files[0].text().contains(r#"ETCD_ENABLE_V2="true""#));
    /// assert!(r.file("/opt/etcd/bin/etcdctl-admin-v2").is_some()); // for `set` and `cluster-health`
    /// ```
    #[must_use]
    pub fn enable_v2(mut self, on: bool) -> Self {
        self.enable_v2 = on;
        self
    }
    /// Sets the install root (`cfg/`, `bin/`, `ssl/` below it).
    ///
    /// ```
    /// use k8s_bootstrap_core::etcd::EtcdCluster;
    /// let etcd = EtcdCluster::default().etcd_dir("/srv/etcd");
    /// assert_eq!(etcd.env_file(), "/srv/etcd/cfg/etcd");
    /// assert_eq!(etcd.dir("ssl"), "/srv/etcd/ssl");
    /// ```
    #[must_use]
    pub fn etcd_dir(mut self, dir: impl Into<String>) -> Self {
        self.etcd_dir = dir.into();
        self
    }
    /// Sets the unit directory.
    ///
    /// ```
    /// use k8s_bootstrap_core::etcd::EtcdCluster;
    /// let etcd = EtcdCluster::default().systemd_dir("/etc/systemd/system");
    /// assert_eq!(etcd.unit_file(), "/etc/systemd/system/etcd.service");
    /// ```
    #[must_use]
    pub fn systemd_dir(mut self, dir: impl Into<String>) -> Self {
        self.systemd_dir = dir.into();
        self
    }
    /// Sets the certificate layout.
    ///
    /// ```
    /// use k8s_bootstrap_core::etcd::EtcdCluster;
    /// use k8s_bootstrap_core::spec::CertLayout;
    /// let certs = EtcdCluster::default().cert_layout(CertLayout::Tutorial).member_certs("etcd01");
    /// let paths: Vec<&str> = certs.iter().map(|c| c.cert_path.as_str()).collect();
    /// assert_eq!(paths, ["/opt/etcd/ssl/ca.pem", "/opt/etcd/ssl/server.pem"]);
    /// ```
    #[must_use]
    pub fn cert_layout(mut self, layout: CertLayout) -> Self {
        self.cert_layout = layout;
        self
    }

    /// Checks the settings; every problem at once. Paths are relative to this builder.
    ///
    /// ```
    /// use k8s_bootstrap_core::etcd::EtcdCluster;
    /// use k8s_bootstrap_core::spec::Version;
    /// let etcd = EtcdCluster::new(Version::new(3, 2, 26))
    ///     .member("etcd01", "192.168.1.30".parse().unwrap())
    ///     .member("etcd01", "192.168.1.31".parse().unwrap());
    /// let paths: Vec<String> = etcd.validate().into_iter().map(|p| p.path).collect();
    /// assert_eq!(paths, ["version", "members[1].name"]); // every problem at once
    /// ```
    pub fn validate(&self) -> Vec<Problem> {
        let mut p = Vec::new();
        let v = self.version;
        if !is_known(v) {
            p.push(Problem::new("version", v, known_rule()).fix("use one of those minors, for example 3.6.16"));
        }
        if self.members.is_empty() {
            p.push(Problem::new("members", "[]", "an etcd cluster needs at least one member").fix("give at least one host the etcd role"));
        }
        if self.enable_v2 && !has_v2_api(v) {
            p.push(
                Problem::new("enable_v2", "true", format!("etcd {v} has no v2 API (removed in 3.6); flannel <= 0.17 needs it"))
                    .fix("use flannel >= 0.18 (etcd v3 API) or etcd <= 3.5"),
            );
        }
        if matches!(self.tls_min_version, TlsMinVersion::Tls12 | TlsMinVersion::Tls13) && !supports_tls_min_version(v) {
            p.push(
                Problem::new("tls_min_version", format!("{:?}", self.tls_min_version), format!("etcd {v} has no --tls-min-version (3.4.25, 3.5.8, 3.6.0 and later)"))
                    .fix("use auto, or a newer patch release"),
            );
        }
        for (field, port) in [("client_port", self.client_port), ("peer_port", self.peer_port)] {
            if port == 0 {
                p.push(Problem::new(field, port, "ports are 1-65535"));
            }
        }
        if self.client_port == self.peer_port {
            p.push(Problem::new("peer_port", self.peer_port, "client and peer ports must differ").fix("use 2379 and 2380"));
        }
        for (field, path) in [("data_dir", &self.data_dir), ("etcd_dir", &self.etcd_dir), ("systemd_dir", &self.systemd_dir)] {
            if let Some(rule) = crate::model::path_rule(path) {
                p.push(Problem::new(field, path, rule));
            }
        }
        if self.token.is_empty() || !self.token.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) {
            p.push(Problem::new("token", &self.token, "the token is non-empty and made of [A-Za-z0-9._-]"));
        }
        let mut seen_names = std::collections::HashSet::new();
        let mut seen_urls = std::collections::HashSet::new();
        for (i, m) in self.members.iter().enumerate() {
            let at = format!("members[{i}]");
            if let Some(rule) = crate::model::name_rule(&m.name) {
                p.push(Problem::new(format!("{at}.name"), &m.name, rule));
            }
            if !seen_names.insert(&m.name) {
                p.push(Problem::new(format!("{at}.name"), &m.name, "member names must be unique"));
            }
            let (c, pp) = (self.member_client_port(m), self.member_peer_port(m));
            if c == pp {
                p.push(Problem::new(format!("{at}.peer_port"), pp, "client and peer ports must differ"));
            }
            for (field, port) in [("client_port", c), ("peer_port", pp)] {
                if !seen_urls.insert((m.address, port)) {
                    p.push(Problem::new(format!("{at}.{field}"), format!("{}:{port}", m.address), "two listeners on one address and port").fix("give members on one address distinct ports"));
                }
            }
            if let Some(d) = &m.data_dir
                && let Some(rule) = crate::model::path_rule(d)
            {
                p.push(Problem::new(format!("{at}.data_dir"), d, rule));
            }
        }
        p
    }

    fn member_client_port(&self, m: &EtcdMember) -> u16 {
        m.client_port.unwrap_or(self.client_port)
    }
    fn member_peer_port(&self, m: &EtcdMember) -> u16 {
        m.peer_port.unwrap_or(self.peer_port)
    }

    /// `cfg/`, `bin/`, `ssl/` below the install root.
    ///
    /// ```
    /// use k8s_bootstrap_core::etcd::EtcdCluster;
    /// assert_eq!(EtcdCluster::default().dir("bin"), "/opt/etcd/bin");
    /// assert_eq!(EtcdCluster::default().etcd_dir("/srv/etcd/").dir("ssl"), "/srv/etcd/ssl");
    /// ```
    pub fn dir(&self, sub: &str) -> String {
        format!("{}/{sub}", self.etcd_dir.trim_end_matches('/'))
    }
    /// Path of the env file (`/opt/etcd/cfg/etcd`).
    ///
    /// ```
    /// use k8s_bootstrap_core::etcd::EtcdCluster;
    /// assert_eq!(EtcdCluster::default().env_file(), "/opt/etcd/cfg/etcd");
    /// ```
    pub fn env_file(&self) -> String {
        format!("{}/etcd", self.dir("cfg"))
    }
    /// Path of the unit (`/usr/lib/systemd/system/etcd.service`).
    ///
    /// ```
    /// use k8s_bootstrap_core::etcd::EtcdCluster;
    /// assert_eq!(EtcdCluster::default().unit_file(), "/usr/lib/systemd/system/etcd.service");
    /// ```
    pub fn unit_file(&self) -> String {
        format!("{}/etcd.service", self.systemd_dir.trim_end_matches('/'))
    }
    /// Path of the v3 admin etcdctl wrapper (`/opt/etcd/bin/etcdctl-admin`).
    ///
    /// ```
    /// use k8s_bootstrap_core::etcd::{EtcdApi, EtcdCluster};
    /// let etcd = EtcdCluster::default().etcd_dir("/srv/etcd");
    /// assert_eq!(etcd.etcdctl_wrapper(EtcdApi::V3), "/srv/etcd/bin/etcdctl-admin");
    /// assert_eq!(etcd.etcdctl_wrapper(EtcdApi::V2), "/srv/etcd/bin/etcdctl-admin-v2");
    /// ```
    pub fn etcdctl_wrapper(&self, api: EtcdApi) -> String {
        match api {
            EtcdApi::V3 => format!("{}/etcdctl-admin", self.dir("bin")),
            EtcdApi::V2 => format!("{}/etcdctl-admin-v2", self.dir("bin")),
        }
    }

    /// The client URLs of every member, comma-separated (`https://a:2379,...`).
    ///
    /// ```
    /// use k8s_bootstrap_core::etcd::EtcdCluster;
    /// let etcd = EtcdCluster::default()
    ///     .member("etcd01", "192.168.1.30".parse().unwrap())
    ///     .member("etcd02", "192.168.1.31".parse().unwrap());
    /// assert_eq!(etcd.client_endpoints(), "https://192.168.1.30:2379,https://192.168.1.31:2379");
    /// ```
    pub fn client_endpoints(&self) -> String {
        self.members
            .iter()
            .map(|m| format!("https://{}:{}", m.address, self.member_client_port(m)))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// `--initial-cluster`: every member with its own name and peer URL.
    ///
    /// ```
    /// use k8s_bootstrap_core::etcd::EtcdCluster;
    /// let etcd = EtcdCluster::default()
    ///     .member("etcd01", "192.168.1.30".parse().unwrap())
    ///     .member("etcd02", "192.168.1.31".parse().unwrap());
    /// assert_eq!(etcd.initial_cluster(), "etcd01=https://192.168.1.30:2380,etcd02=https://192.168.1.31:2380");
    /// ```
    pub fn initial_cluster(&self) -> String {
        self.members
            .iter()
            .map(|m| format!("{}=https://{}:{}", m.name, m.address, self.member_peer_port(m)))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn cert(&self, id: CertId) -> HostCert {
        let id = self.cert_layout.cert(id);
        // The admin client certificate is etcdctl's: etcd does not read it.
        let etcdctls = id == CertId::AdminClient;
        let c = HostCert::new(id, &self.dir("ssl"));
        if etcdctls { c } else { c.restarts("etcd") }
    }

    /// The certificate and key member `name` shows its peers.
    ///
    /// ```
    /// use k8s_bootstrap_core::etcd::EtcdCluster;
    /// let peer = EtcdCluster::default().peer_cert("etcd02");
    /// assert_eq!((peer.cert_path.as_str(), peer.key_path.as_deref()), ("/opt/etcd/ssl/etcd02-peer.pem", Some("/opt/etcd/ssl/etcd02-peer-key.pem")));
    /// ```
    pub fn peer_cert(&self, name: &str) -> HostCert {
        self.cert(CertId::Peer(name.into()))
    }

    /// The certificates a member's host needs: CA, its server and peer certs, admin client.
    ///
    /// ```
    /// use k8s_bootstrap_core::etcd::EtcdCluster;
    /// let certs = EtcdCluster::default().member_certs("etcd02");
    /// let files: Vec<&str> = certs.iter().map(|c| c.cert_path.as_str()).collect();
    /// assert_eq!(files, [
    ///     "/opt/etcd/ssl/ca.pem", "/opt/etcd/ssl/etcd02-server.pem",
    ///     "/opt/etcd/ssl/etcd02-peer.pem", "/opt/etcd/ssl/admin.pem",
    /// ]);
    /// assert_eq!(certs[0].key_path, None); // the CA key stays on the workstation
    /// ```
    pub fn member_certs(&self, name: &str) -> Vec<HostCert> {
        let mut v = vec![
            self.cert(CertId::Ca),
            self.cert(CertId::Server(name.into())),
            self.cert(CertId::Peer(name.into())),
            self.cert(CertId::AdminClient),
        ];
        v.dedup();
        v
    }

    /// The `ETCD_*` settings of a member, grouped as in the tutorial.
    fn sections(&self, m: &EtcdMember) -> Vec<Section> {
        let (c, p) = (self.member_client_port(m), self.member_peer_port(m));
        let mut client_urls = vec![format!("https://{}:{c}", m.address)];
        if !m.address.is_loopback() {
            client_urls.push(format!("https://127.0.0.1:{c}"));
        }
        let server = self.cert(CertId::Server(m.name.clone()));
        let peer = self.cert(CertId::Peer(m.name.clone()));
        let ca = self.cert(CertId::Ca).cert_path;
        let key = |h: &HostCert| h.key_path.clone().unwrap_or_default();
        let mut security = vec![
            ("ETCD_CERT_FILE", server.cert_path.clone()),
            ("ETCD_KEY_FILE", key(&server)),
            ("ETCD_TRUSTED_CA_FILE", ca.clone()),
            ("ETCD_CLIENT_CERT_AUTH", "true".into()),
            ("ETCD_PEER_CERT_FILE", peer.cert_path.clone()),
            ("ETCD_PEER_KEY_FILE", key(&peer)),
            ("ETCD_PEER_TRUSTED_CA_FILE", ca),
            ("ETCD_PEER_CLIENT_CERT_AUTH", "true".into()),
        ];
        let tls = match self.tls_min_version {
            TlsMinVersion::Auto if supports_tls_min_version(self.version) => Some("TLS1.2"),
            TlsMinVersion::Tls12 => Some("TLS1.2"),
            TlsMinVersion::Tls13 => Some("TLS1.3"),
            _ => None,
        };
        if let Some(t) = tls {
            security.push(("ETCD_TLS_MIN_VERSION", t.into()));
        }
        let mut sections = vec![
            Section {
                title: "Member",
                vars: vec![
                    ("ETCD_NAME", m.name.clone()),
                    ("ETCD_DATA_DIR", m.data_dir.clone().unwrap_or_else(|| self.data_dir.clone())),
                    ("ETCD_LISTEN_PEER_URLS", format!("https://{}:{p}", m.address)),
                    ("ETCD_LISTEN_CLIENT_URLS", client_urls.join(",")),
                ],
            },
            Section {
                title: "Clustering",
                vars: vec![
                    ("ETCD_INITIAL_ADVERTISE_PEER_URLS", format!("https://{}:{p}", m.address)),
                    ("ETCD_ADVERTISE_CLIENT_URLS", format!("https://{}:{c}", m.address)),
                    ("ETCD_INITIAL_CLUSTER", self.initial_cluster()),
                    ("ETCD_INITIAL_CLUSTER_TOKEN", self.token.clone()),
                    ("ETCD_INITIAL_CLUSTER_STATE", self.initial_state.as_str().into()),
                ],
            },
            Section { title: "Security", vars: security },
        ];
        if has_v2_api(self.version) {
            sections.push(Section { title: "API", vars: vec![("ETCD_ENABLE_V2", self.enable_v2.to_string())] });
        }
        sections
    }

    /// etcdctl's TLS and endpoint flags for the admin client, in the form
    /// of `api` (v2: `--ca-file`, v3: `--cacert`).
    ///
    /// ```
    /// use k8s_bootstrap_core::etcd::{EtcdApi, EtcdCluster};
    /// let etcd = EtcdCluster::default().member("etcd01", "192.168.1.30".parse().unwrap());
    /// assert_eq!(etcd.etcdctl_flags(EtcdApi::V3), [
    ///     "--endpoints=https://192.168.1.30:2379",
    ///     "--cacert=/opt/etcd/ssl/ca.pem",
    ///     "--cert=/opt/etcd/ssl/admin.pem",
    ///     "--key=/opt/etcd/ssl/admin-key.pem",
    /// ]);
    /// assert_eq!(etcd.etcdctl_flags(EtcdApi::V2)[2], "--cert-file=/opt/etcd/ssl/admin.pem");
    /// ```
    pub fn etcdctl_flags(&self, api: EtcdApi) -> Vec<String> {
        let ca = self.cert(CertId::Ca).cert_path;
        let admin = self.cert(CertId::AdminClient);
        let key = admin.key_path.clone().unwrap_or_default();
        let (a, b, c) = match api {
            EtcdApi::V2 => ("--ca-file", "--cert-file", "--key-file"),
            EtcdApi::V3 => ("--cacert", "--cert", "--key"),
        };
        vec![
            format!("--endpoints={}", self.client_endpoints()),
            format!("{a}={ca}"),
            format!("{b}={}", admin.cert_path),
            format!("{c}={key}"),
        ]
    }

    /// The health check for this version, as arguments after the v3 wrapper:
    /// `endpoint health --cluster` from 3.4, `endpoint health` over every
    /// listed endpoint for 3.3.
    ///
    /// ```
    /// use k8s_bootstrap_core::etcd::EtcdCluster;
    /// use k8s_bootstrap_core::spec::Version;
    /// assert_eq!(EtcdCluster::new(Version::new(3, 4, 23)).health_args(), ["endpoint", "health", "--cluster"]);
    /// assert_eq!(EtcdCluster::new(Version::new(3, 3, 13)).health_args(), ["endpoint", "health"]);
    /// ```
    pub fn health_args(&self) -> Vec<String> {
        let mut v = vec!["endpoint".to_string(), "health".to_string()];
        if self.version.major_minor() >= (3, 4) {
            v.push("--cluster".into());
        }
        v
    }

    /// The health check command (run on a member, through the admin wrapper).
    ///
    /// ```
    /// use k8s_bootstrap_core::etcd::EtcdCluster;
    /// use k8s_bootstrap_core::render::Phase;
    /// let c = EtcdCluster::default().health_command();
    /// assert_eq!(c.phase, Phase::EtcdHealthy);
    /// assert_eq!(c.to_shell(), "/opt/etcd/bin/etcdctl-admin endpoint health --cluster");
    /// ```
    pub fn health_command(&self) -> Command {
        let mut argv = vec![self.etcdctl_wrapper(EtcdApi::V3)];
        argv.extend(self.health_args());
        Command::new(Phase::EtcdHealthy, "check that every etcd member is healthy", argv)
    }

    /// Renders the files, commands and certs of one member.
    ///
    /// ```
    /// use k8s_bootstrap_core::etcd::EtcdCluster;
    /// let etcd = EtcdCluster::default()
    ///     .member("etcd01", "192.168.1.30".parse().unwrap())
    ///     .member("etcd02", "192.168.1.31".parse().unwrap());
    /// let r = etcd.render_member("etcd02").unwrap();
    /// let paths: Vec<&str> = r.files.iter().map(|f| f.path.as_str()).collect();
    /// assert_eq!(paths, ["/opt/etcd/cfg/etcd", "/usr/lib/systemd/system/etcd.service", "/opt/etcd/bin/etcdctl-admin"]);
    /// assert_eq!(r.files[0].mode, 0o640);
    /// assert!(r.files[1].text().contains("ExecStart=/opt/etcd/bin/etcd\n")); // settings only in the env file
    /// assert_eq!(r.certs.len(), 4);
    /// ```
    pub fn render_member(&self, name: &str) -> Result<HostRender> {
        let problems = self.validate();
        if !problems.is_empty() {
            return Err(Error::Invalid(problems));
        }
        let m = self.members.iter().find(|m| m.name == name).ok_or_else(|| Error::UnknownMember(name.into()))?;
        let mut out = HostRender::default();
        let env_file = self.env_file();
        let env = EnvTemplate { version: self.version, name, sections: self.sections(m) };
        out.files.push(RenderedFile::new(&env_file, tmpl(&env_file, env.render())?, 0o640).restarts("etcd"));
        let etcd_bin = format!("{}/etcd", self.dir("bin"));
        let unit = UnitTemplate { version: self.version, name, env_file: &env_file, etcd_bin: &etcd_bin };
        let unit_file = self.unit_file();
        out.files.push(RenderedFile::new(&unit_file, tmpl(&unit_file, unit.render())?, 0o644).defines_unit("etcd"));
        let etcdctl_bin = format!("{}/etcdctl", self.dir("bin"));
        let mut apis = vec![EtcdApi::V3];
        if self.enable_v2 {
            apis.push(EtcdApi::V2);
        }
        for api in apis {
            let path = self.etcdctl_wrapper(api);
            let (n, example) = match api {
                EtcdApi::V3 => (3, self.health_args().join(" ")),
                EtcdApi::V2 => (2, "cluster-health".to_string()),
            };
            let flags = self.etcdctl_flags(api).iter().map(|f| shell_quote(f).into_owned()).collect();
            let t = EtcdctlTemplate { version: self.version, api: n, set_api_env: etcdctl_reads_api_env(self.version), path: &path, example: &example, etcdctl_bin: &etcdctl_bin, flags };
            out.files.push(RenderedFile::new(&path, tmpl(&path, t.render())?, 0o750));
        }
        let data_dir = m.data_dir.clone().unwrap_or_else(|| self.data_dir.clone());
        out.commands.push(
            Command::new(Phase::Install, "create etcd's data dir, readable by root only", ["install", "-d", "-m", "0700", &data_dir])
                .unless(["test", "-d", &data_dir]),
        );
        out.commands.push(Command::enable_at_boot("etcd"));
        out.commands.push(self.health_command());
        out.certs = self.member_certs(name);
        Ok(out)
    }
}

#[cfg(test)]
mod data_check_tests {
    use super::data_check_script;

    /// Runs the script with `systemctl` and `journalctl` replaced: the unit
    /// is `active` or not, the journal is `journal`.
    fn run(active: bool, journal: &str, member: bool) -> String {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let data = dir.path().join("data");
        if member {
            std::fs::create_dir_all(data.join("member")).unwrap();
        }
        std::fs::write(dir.path().join("journal"), journal).unwrap();
        let fake = |name: &str, body: String| {
            let p = bin.join(name);
            std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
            std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        };
        fake("systemctl", format!("exit {}", if active { 0 } else { 3 }));
        fake("journalctl", format!("cat {}", dir.path().join("journal").display()));
        let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
        let out = std::process::Command::new("sh").arg("-c").arg(data_check_script(&data.to_string_lossy(), "p ")).env("PATH", path).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// etcd 3.4.23's journal on a member whose bbolt file lost its meta
    /// pages (captured from the real etcd on a test host), restarted by
    /// systemd into the same panic.
    const DAMAGED: &str = "etcd Version: 3.4.23\n\
        the server is already initialized as member before, starting as etcd member...\n\
        cannot open database at /var/lib/etcd/default.etcd/member/snap/db (invalid database)\n\
        panic: cannot open database at /var/lib/etcd/default.etcd/member/snap/db (invalid database)\n\
        goroutine 130 [running]:\n\
        etcd.service: Main process exited, code=exited, status=2/INVALIDARGUMENT\n";

    #[test]
    fn a_failing_member_names_etcds_own_words_on_its_data() {
        assert_eq!(run(false, DAMAGED, true), "p data 1\np dataerr panic: cannot open database at /var/lib/etcd/default.etcd/member/snap/db (invalid database)\n");
        // a WAL record whose CRC no longer matches (etcd 3.5's zap line)
        let wal = r#"{"level":"fatal","msg":"failed to open WAL","error":"walpb: crc mismatch"}"#;
        assert_eq!(run(false, wal, true), format!("p data 1\np dataerr {wal}\n"));
    }

    #[test]
    fn a_member_that_served_since_or_runs_or_has_no_data_names_nothing() {
        let served = format!("{DAMAGED}ready to serve client requests\n");
        assert_eq!(run(false, &served, true), "p data 1\n");
        assert_eq!(run(true, DAMAGED, true), "p data 1\n");
        assert_eq!(run(false, DAMAGED, false), "p data 0\n");
        assert_eq!(run(false, "etcd.service: Main process exited, code=exited, status=1/FAILURE\n", true), "p data 1\n");
    }
}
