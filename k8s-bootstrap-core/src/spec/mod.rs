//! The cluster spec: one typed description of the tutorial's cluster
//! (hosts, roles, versions, layout, network, PKI, etcd and docker settings),
//! read from YAML or built in Rust, validated as a whole.
//!
//! ```
//! use k8s_bootstrap_core::spec::ClusterSpec;
//! let spec = ClusterSpec::from_yaml_str(r#"
//! hosts:
//!   - { name: etcd01, address: 192.168.1.30, roles: [etcd, node] }
//!   - { name: etcd02, address: 192.168.1.31, roles: [etcd, node] }
//!   - { name: etcd03, address: 192.168.1.32, roles: [etcd, node] }
//! versions: { etcd: "3.5.17", flannel: "0.26.1" }
//! "#).unwrap();
//! assert!(spec.validate().unwrap().is_empty()); // no warnings
//! let rendered = spec.render().unwrap();
//! assert!(rendered.hosts["etcd01"].file("/opt/etcd/cfg/etcd").is_some());
//! ```
//!
//! Unknown fields are rejected with their path and position:
//!
//! ```
//! use k8s_bootstrap_core::spec::{ClusterSpec, SpecError};
//! let err = ClusterSpec::from_yaml_str("hosts: []\nversions: { etcd: '3.5', flannel: '0.26' }\nnetwrk: {}\n")
//!     .unwrap_err();
//! let SpecError::Parse { path, line, .. } = &err else { panic!() };
//! assert_eq!((path.as_str(), *line), ("netwrk", Some(3)));
//! assert!(err.to_string().contains("unknown field `netwrk`"));
//! ```

mod builders;
mod error;
mod locate;
mod skeleton;
mod validate;

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

pub use error::{SpecError, Warning};
pub use crate::model::{CertLayout, CidrParseError, Ipv4Cidr, Problem, Version, VersionParseError};
pub use skeleton::{HostArg, MemberAction, MemberChange, MemberRemoval, Skeleton, add_etcd_member, add_host, remove_etcd_member};

use crate::docker::{CgroupDriver, DockerInstall, DockerMode};
use crate::etcd::{InitialClusterState, TlsMinVersion};
use crate::flannel::Backend;
use crate::hostprep::{FirewallMode, SelinuxMode, TimeSync};
use crate::model::OsFamily;
use crate::pki::{KeyAlgorithm, Subject};

/// The whole cluster: read it from YAML ([`ClusterSpec::load`]) or build it
/// in Rust, then [`render`](ClusterSpec::render) it.
///
/// ```
/// use k8s_bootstrap_core::spec::{ClusterSpec, HostSpec, Role, Version};
/// let hosts = (0..3)
///     .map(|i| HostSpec::new(format!("etcd0{}", i + 1), [192, 168, 1, 30 + i].into(), &[Role::Etcd, Role::Node]))
///     .collect();
/// let mut spec = ClusterSpec::new(hosts, Version::new(3, 3, 13), Version::new(0, 11, 0));
/// spec.docker.registry_mirrors.push("http://f1361db2.m.daocloud.io".into());
/// let cluster = spec.render().unwrap();
/// let env = cluster.hosts["etcd02"].file("/opt/etcd/cfg/etcd").unwrap().text();
/// assert!(env.contains(r#"ETCD_ENABLE_V2="true""#)); // flannel 0.11 reads its config over v2
/// assert!(!env.contains("TLS_MIN_VERSION")); // etcd 3.3 has no such flag
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSpec {
    /// The machines, in order; etcd members keep this order.
    pub hosts: Vec<HostSpec>,
    /// Component versions.
    pub versions: Versions,
    /// Where things are installed.
    #[serde(default)]
    pub layout: Layout,
    /// The pod network (flannel) and the service CIDR.
    #[serde(default)]
    pub network: NetworkSpec,
    /// PKI settings, for the certificate bundle.
    #[serde(default)]
    pub pki: PkiSpec,
    /// etcd settings shared by all members.
    #[serde(default)]
    pub etcd: EtcdSpec,
    /// docker settings of the nodes.
    #[serde(default)]
    pub docker: DockerSpec,
    /// Host preparation (hostname, SELinux, firewall, time, swap, modules, sysctls).
    #[serde(default)]
    pub hostprep: HostPrepSpec,
    /// Binaries to install, as paths on the machine that runs k8s-bootstrap
    /// (used by apply, not by rendering).
    #[serde(default, skip_serializing_if = "BinariesSpec::is_empty")]
    pub binaries: BinariesSpec,
}

/// Binaries apply installs, each a path on the control machine (the one
/// running k8s-bootstrap). A binary left out is expected on the host already.
///
/// ```
/// use k8s_bootstrap_core::spec::BinariesSpec;
/// let b = BinariesSpec { etcd: Some("/usr/bin/etcd".into()), ..Default::default() };
/// assert!(!b.is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BinariesSpec {
    /// etcd, installed to `<etcd_dir>/bin/etcd` on etcd members.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etcd: Option<String>,
    /// etcdctl, installed to `<etcd_dir>/bin/etcdctl` on etcd members.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etcdctl: Option<String>,
    /// flanneld, installed to `<kubernetes_dir>/bin/flanneld` on nodes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flanneld: Option<String>,
    /// No longer used (a warning says so): docker takes its bridge from
    /// flanneld's subnet.env itself, so mk-docker-opts.sh is not installed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mk_docker_opts: Option<String>,
    /// etcd's release tarball in the upstream layout
    /// (`etcd-v3.3.13-linux-amd64.tar.gz`): etcd and etcdctl come from it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etcd_release: Option<ReleaseSource>,
    /// flannel's release tarball (`flannel-v0.11.0-linux-amd64.tar.gz`):
    /// flanneld comes from it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flannel_release: Option<ReleaseSource>,
}

/// Where a release tarball comes from: a file on the control machine, or
/// a URL (then `sha256` is required), fetched once on the control machine.
///
/// ```
/// use k8s_bootstrap_core::spec::ReleaseSource;
/// let r: ReleaseSource = serde_yaml_ng::from_str("{ path: ./etcd-v3.3.13-linux-amd64.tar.gz }").unwrap();
/// assert!(r.url.is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseSource {
    /// A tarball on the control machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// A tarball to download (http or https).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Its SHA-256 (hex); required with `url`, checked with `path` too when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

impl BinariesSpec {
    /// Whether no binary is named.
    ///
    /// ```
    /// use k8s_bootstrap_core::spec::{BinariesSpec, ReleaseSource};
    /// assert!(BinariesSpec::default().is_empty()); // binaries expected on the hosts already
    /// let b = BinariesSpec {
    ///     etcd_release: Some(ReleaseSource { path: Some("./etcd-v3.4.23-linux-amd64.tar.gz".into()), ..Default::default() }),
    ///     ..Default::default()
    /// };
    /// assert!(!b.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.etcd.is_none()
            && self.etcdctl.is_none()
            && self.flanneld.is_none()
            && self.mk_docker_opts.is_none()
            && self.etcd_release.is_none()
            && self.flannel_release.is_none()
    }
}

/// A role a host plays.
///
/// ```
/// use k8s_bootstrap_core::spec::Role;
/// // Written in kebab-case in the spec's YAML.
/// let roles: Vec<Role> = serde_yaml_ng::from_str("[etcd, node]").unwrap();
/// assert_eq!(roles, [Role::Etcd, Role::Node]);
/// assert!(serde_yaml_ng::from_str::<Role>("master").is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// An etcd member.
    Etcd,
    /// A node: flanneld and docker.
    Node,
}

/// One machine.
///
/// ```
/// use k8s_bootstrap_core::spec::{HostSpec, Role};
/// let h: HostSpec = serde_yaml_ng::from_str(
///     "{ name: etcd01, address: 192.168.1.30, roles: [etcd, node], iface: eth1 }",
/// ).unwrap();
/// assert!(h.has(Role::Etcd) && h.has(Role::Node));
/// assert_eq!(h.iface.as_deref(), Some("eth1"));
/// assert_eq!(h.ssh, None); // optional sections stay unset
/// // A typo is an error, not a silently ignored field.
/// assert!(serde_yaml_ng::from_str::<HostSpec>("{ name: etcd01, adress: 192.168.1.30, roles: [etcd] }").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostSpec {
    /// Host name; also the etcd member name. `[a-z0-9-]`, starts with a letter or digit, at most 63 characters.
    pub name: String,
    /// The IPv4 address the other hosts reach it on.
    pub address: Ipv4Addr,
    /// Its roles.
    pub roles: Vec<Role>,
    /// How to reach it over SSH (used by the runner, not by rendering).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh: Option<SshSpec>,
    /// The network interface flannel uses (`--iface`); default: the one holding `address`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iface: Option<String>,
    /// The OS family, when known; otherwise commands are guarded by a check of `/etc/os-release`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<OsFamily>,
    /// docker's bridge address in daemon-json mode (`10.244.5.1/24`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_bip: Option<String>,
}

impl HostSpec {
    /// A host with a name, an address and roles.
    ///
    /// ```
    /// use k8s_bootstrap_core::spec::{HostSpec, Role};
    /// let h = HostSpec::new("node04", [192, 168, 1, 33].into(), &[Role::Node]);
    /// assert_eq!(h.address.to_string(), "192.168.1.33");
    /// assert_eq!((h.ssh, h.iface, h.os), (None, None, None));
    /// ```
    pub fn new(name: impl Into<String>, address: Ipv4Addr, roles: &[Role]) -> Self {
        HostSpec { name: name.into(), address, roles: roles.to_vec(), ssh: None, iface: None, os: None, docker_bip: None }
    }
    /// Whether the host has `role`.
    ///
    /// ```
    /// use k8s_bootstrap_core::spec::{HostSpec, Role};
    /// let h = HostSpec::new("node04", [192, 168, 1, 33].into(), &[Role::Node]);
    /// assert!(h.has(Role::Node));
    /// assert!(!h.has(Role::Etcd));
    /// ```
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

/// SSH access to a host. Whatever is not given here comes from the
/// OpenSSH config files (`~/.ssh/config`, or the one named by
/// [`crate::apply::ConnectOptions::ssh_config`]) for the host's name or
/// address, then from the defaults (user `root`, port 22, the ssh agent and
/// `~/.ssh/id_*`); what is given here wins over those files.
///
/// ```
/// use k8s_bootstrap_core::spec::SshSpec;
/// let s: SshSpec = serde_yaml_ng::from_str("{ user: vagrant, identity: ~/.ssh/id_ed25519, proxy_jump: admin@bastion:2222 }").unwrap();
/// assert_eq!((s.user.as_deref(), s.port), (Some("vagrant"), None));
/// assert_eq!(s.proxy_jump.as_deref(), Some("admin@bastion:2222"));
/// let d: SshSpec = serde_yaml_ng::from_str("{}").unwrap();
/// assert_eq!(d, SshSpec::default()); // nothing given: ~/.ssh/config, then root on port 22
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SshSpec {
    /// Login user (default: ssh_config's `User`, else `root`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Port (default: ssh_config's `Port`, else 22).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Path of the private key, tried before ssh_config's `IdentityFile`s;
    /// default: the ssh agent and `~/.ssh/id_*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    /// Expected host key fingerprint (`SHA256:...`), pinned instead of known_hosts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_key: Option<String>,
    /// Jump hosts, as OpenSSH's `ProxyJump` (`[user@]host[:port]`, several
    /// separated by commas, the first one reached first; `none` for a direct
    /// connection); each jump host's own settings come from ssh_config.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_jump: Option<String>,
}

/// Component versions.
///
/// ```
/// use k8s_bootstrap_core::spec::{Version, Versions};
/// let v: Versions = serde_yaml_ng::from_str("{ etcd: '3.3.13', flannel: v0.11.0 }").unwrap();
/// assert_eq!(v.etcd, Version::new(3, 3, 13));
/// assert_eq!(v.flannel.to_string(), "0.11.0");
/// assert!(serde_yaml_ng::from_str::<Versions>("{ etcd: '3.3.13' }").is_err()); // both are required
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Versions {
    /// etcd, 3.3 to 3.7 (`"3.4.23"`).
    pub etcd: Version,
    /// flannel, 0.11 to 0.28 (`"0.26.1"`).
    pub flannel: Version,
}

/// Install layout.
///
/// ```
/// use k8s_bootstrap_core::spec::{ClusterSpec, HostSpec, Layout, Role, Version};
/// assert_eq!(Layout::default().etcd_dir, "/opt/etcd");
/// let hosts = vec![HostSpec::new("etcd01", [192, 168, 1, 30].into(), &[Role::Etcd])];
/// let mut spec = ClusterSpec::new(hosts, Version::new(3, 5, 17), Version::new(0, 26, 1));
/// spec.layout.etcd_dir = "/srv/etcd".into();
/// let r = spec.render().unwrap();
/// assert!(r.hosts["etcd01"].file("/srv/etcd/cfg/etcd").is_some());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Layout {
    /// etcd's root, with `cfg/`, `bin/`, `ssl/` (default `/opt/etcd`).
    pub etcd_dir: String,
    /// flannel's root, with `cfg/`, `bin/`, `ssl/` (default `/opt/kubernetes`).
    pub kubernetes_dir: String,
    /// Where unit files go (default `/usr/lib/systemd/system`, as in the tutorial).
    pub systemd_dir: String,
    /// dockerd's path (default `/usr/bin/dockerd`).
    pub dockerd: String,
}

impl Default for Layout {
    fn default() -> Self {
        Layout {
            etcd_dir: "/opt/etcd".into(),
            kubernetes_dir: "/opt/kubernetes".into(),
            systemd_dir: "/usr/lib/systemd/system".into(),
            dockerd: "/usr/bin/dockerd".into(),
        }
    }
}

/// The pod network and flannel's settings.
///
/// ```
/// use k8s_bootstrap_core::flannel::Backend;
/// use k8s_bootstrap_core::spec::NetworkSpec;
/// let n: NetworkSpec = serde_yaml_ng::from_str("{ pod_cidr: 10.245.0.0/16, backend: { type: host-gw } }").unwrap();
/// assert_eq!(n.pod_cidr.to_string(), "10.245.0.0/16");
/// assert_eq!(n.backend, Backend::HostGw);
/// assert_eq!(n.subnet_len, 24); // the rest keeps its default
/// assert_eq!(n.service_cidr.unwrap().to_string(), "10.96.0.0/12");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkSpec {
    /// flannel's `Network` (default 10.244.0.0/16; 172.17.0.0/16 collides with docker's default bridge).
    pub pod_cidr: Ipv4Cidr,
    /// flannel's `SubnetLen` (default 24).
    pub subnet_len: u8,
    /// flannel's `SubnetMin`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subnet_min: Option<Ipv4Addr>,
    /// flannel's `SubnetMax`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subnet_max: Option<Ipv4Addr>,
    /// flannel's backend (default vxlan, VNI 1, port 8472).
    pub backend: Backend,
    /// The Kubernetes service CIDR, which must not overlap the pod network.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_cidr: Option<Ipv4Cidr>,
    /// etcd key prefix of flannel (default `/coreos.com/network`).
    pub etcd_prefix: String,
    /// flanneld `--ip-masq` (default true).
    pub ip_masq: bool,
}

impl Default for NetworkSpec {
    fn default() -> Self {
        NetworkSpec {
            pod_cidr: crate::flannel::DEFAULT_NETWORK,
            subnet_len: 24,
            subnet_min: None,
            subnet_max: None,
            backend: Backend::default(),
            service_cidr: Some(Ipv4Cidr::new(Ipv4Addr::new(10, 96, 0, 0), 12).expect("valid")),
            etcd_prefix: crate::flannel::DEFAULT_PREFIX.into(),
            ip_masq: true,
        }
    }
}

/// PKI settings; the certificate bundle is built from them.
///
/// ```
/// use k8s_bootstrap_core::spec::PkiSpec;
/// let p: PkiSpec = serde_yaml_ng::from_str("{ leaf_validity_days: 90, extra_sans: [etcd.example.com] }").unwrap();
/// assert_eq!(p.leaf_validity_days, 90);
/// assert_eq!(p.ca_validity_days, 3650); // defaults fill the rest
/// assert_eq!(p.ca_subject.common_name, "etcd CA");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PkiSpec {
    /// The CA's subject.
    pub ca_subject: Subject,
    /// Key algorithm of every key (default rsa-2048).
    pub key_algorithm: KeyAlgorithm,
    /// CA validity in days (default 3650).
    pub ca_validity_days: u32,
    /// Leaf validity in days (default 365).
    pub leaf_validity_days: u32,
    /// Renew leaves this many days before they expire (default 30).
    pub renew_before_days: u32,
    /// Extra SANs (names or IPs) added to every server and peer cert.
    pub extra_sans: Vec<String>,
    /// Which files (default per-member).
    pub layout: CertLayout,
}

impl Default for PkiSpec {
    fn default() -> Self {
        PkiSpec {
            ca_subject: Subject::new("etcd CA").country("CN").state("Beijing").locality("Beijing"),
            key_algorithm: KeyAlgorithm::default(),
            ca_validity_days: 3650,
            leaf_validity_days: 365,
            renew_before_days: 30,
            extra_sans: Vec::new(),
            layout: CertLayout::default(),
        }
    }
}

/// etcd settings shared by the members.
///
/// ```
/// use k8s_bootstrap_core::etcd::{InitialClusterState, TlsMinVersion};
/// use k8s_bootstrap_core::spec::EtcdSpec;
/// let e: EtcdSpec = serde_yaml_ng::from_str("{ token: etcd-cluster-prod, initial_state: existing, tls_min_version: tls1.3 }").unwrap();
/// assert_eq!(e.initial_state, InitialClusterState::Existing);
/// assert_eq!(e.tls_min_version, TlsMinVersion::Tls13);
/// assert_eq!((e.client_port, e.peer_port), (2379, 2380));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EtcdSpec {
    /// Client port (default 2379).
    pub client_port: u16,
    /// Peer port (default 2380).
    pub peer_port: u16,
    /// Data directory (default `/var/lib/etcd/default.etcd`).
    pub data_dir: String,
    /// Initial cluster token (default `etcd-cluster`).
    pub token: String,
    /// Initial cluster state (default new).
    pub initial_state: InitialClusterState,
    /// `--tls-min-version` (default auto: TLS1.2 where the version knows the flag).
    pub tls_min_version: TlsMinVersion,
}

impl Default for EtcdSpec {
    fn default() -> Self {
        let d = crate::etcd::EtcdCluster::default();
        EtcdSpec {
            client_port: d.client_port,
            peer_port: d.peer_port,
            data_dir: d.data_dir,
            token: d.token,
            initial_state: d.initial_state,
            tls_min_version: d.tls_min_version,
        }
    }
}

/// docker settings of the nodes.
///
/// ```
/// use k8s_bootstrap_core::docker::{CgroupDriver, DockerMode};
/// use k8s_bootstrap_core::spec::DockerSpec;
/// let d: DockerSpec = serde_yaml_ng::from_str("{ mode: daemon-json, mtu: 1450, cgroup_driver: systemd }").unwrap();
/// assert_eq!(d.mode, DockerMode::DaemonJson);
/// assert_eq!((d.mtu, d.cgroup_driver), (Some(1450), Some(CgroupDriver::Systemd)));
/// assert_eq!(DockerSpec::default().mode, DockerMode::FlannelEnv);
/// // An air-gapped site: the engine's .deb files from a folder of the control machine.
/// let d: DockerSpec = serde_yaml_ng::from_str("install: { offline: ./packages/docker }").unwrap();
/// assert_eq!(d.install, k8s_bootstrap_core::docker::DockerInstall::Offline("./packages/docker".into()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DockerSpec {
    /// How docker gets its bridge settings (default flannel-env).
    pub mode: DockerMode,
    /// `data-root`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_root: Option<String>,
    /// `storage-driver`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_driver: Option<String>,
    /// `registry-mirrors` (the tutorial sets one).
    pub registry_mirrors: Vec<String>,
    /// cgroup driver.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cgroup_driver: Option<CgroupDriver>,
    /// `mtu` in daemon.json (daemon-json mode only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// Where a node without dockerd gets the engine from (default
    /// `packages`: the host's package manager and repositories); see
    /// [`crate::docker::EngineInstall`].
    pub install: DockerInstall,
}

/// Host preparation settings.
///
/// ```
/// use k8s_bootstrap_core::hostprep::{FirewallMode, SelinuxMode};
/// use k8s_bootstrap_core::spec::HostPrepSpec;
/// // The tutorial's choices: SELinux off, firewalld stopped.
/// let h: HostPrepSpec = serde_yaml_ng::from_str("{ selinux: disabled, firewall: stop }").unwrap();
/// assert_eq!((h.selinux, h.firewall), (SelinuxMode::Disabled, FirewallMode::Stop));
/// assert!(h.swap_off && h.set_hostname);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HostPrepSpec {
    /// Set the hostname to the host's name (default true).
    pub set_hostname: bool,
    /// SELinux (default permissive).
    pub selinux: SelinuxMode,
    /// Firewall (default open-ports).
    pub firewall: FirewallMode,
    /// Time sync (default auto: chrony on RHEL, systemd-timesyncd on Debian).
    pub time_sync: TimeSync,
    /// Turn swap off (default true).
    pub swap_off: bool,
}

impl Default for HostPrepSpec {
    fn default() -> Self {
        HostPrepSpec {
            set_hostname: true,
            selinux: SelinuxMode::default(),
            firewall: FirewallMode::default(),
            time_sync: TimeSync::default(),
            swap_off: true,
        }
    }
}

impl ClusterSpec {
    /// A spec with these hosts and versions and every other section at its default.
    ///
    /// ```
    /// use k8s_bootstrap_core::spec::{ClusterSpec, HostSpec, Role, Version};
    /// let hosts = vec![HostSpec::new("etcd01", [192, 168, 1, 30].into(), &[Role::Etcd, Role::Node])];
    /// let spec = ClusterSpec::new(hosts, Version::new(3, 5, 17), Version::new(0, 26, 1));
    /// assert_eq!(spec.network.pod_cidr.to_string(), "10.244.0.0/16");
    /// assert!(spec.validate().unwrap().is_empty());
    /// ```
    pub fn new(hosts: Vec<HostSpec>, etcd: Version, flannel: Version) -> Self {
        ClusterSpec {
            hosts,
            versions: Versions { etcd, flannel },
            layout: Layout::default(),
            network: NetworkSpec::default(),
            pki: PkiSpec::default(),
            etcd: EtcdSpec::default(),
            docker: DockerSpec::default(),
            hostprep: HostPrepSpec::default(),
            binaries: BinariesSpec::default(),
        }
    }

    /// Reads a spec from YAML. Errors carry the field path and the line and
    /// column. The result is not validated yet: see [`ClusterSpec::validate`].
    ///
    /// ```
    /// use k8s_bootstrap_core::spec::{ClusterSpec, SpecError};
    /// let spec = ClusterSpec::from_yaml_str("hosts: []\nversions: { etcd: '3.5.17', flannel: '0.26.1' }\n").unwrap();
    /// assert!(spec.hosts.is_empty()); // reads fine; validate() would refuse it
    /// let err = ClusterSpec::from_yaml_str("hosts: []\n").unwrap_err();
    /// let SpecError::Parse { rule, .. } = &err else { panic!() };
    /// assert!(rule.contains("missing field `versions`"));
    /// ```
    pub fn from_yaml_str(yaml: &str) -> Result<Self, SpecError> {
        let de = serde_yaml_ng::Deserializer::from_str(yaml);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let loc = inner.location();
            let line = loc.as_ref().map(|l| l.line());
            let column = loc.as_ref().map(|l| l.column());
            let value = line
                .and_then(|l| yaml.lines().nth(l.saturating_sub(1)))
                .map(|s| s.trim_end().to_string());
            let mut rule = inner.to_string();
            // serde_yaml_ng appends " at line L column C"; we report those as fields.
            if let Some(i) = rule.find(" at line ") {
                rule.truncate(i);
            }
            // ... and starts with its own copy of the path.
            if let Some((pre, rest)) = rule.split_once(": ")
                && !pre.contains(' ')
            {
                rule = rest.to_string();
            }
            SpecError::Parse { path, line, column, value, rule }
        })
    }

    /// Reads and validates a spec from YAML: [`ClusterSpec::from_yaml_str`]
    /// then [`ClusterSpec::validate`], with the line and column of every
    /// problem and warning whose field is written in the YAML.
    ///
    /// ```
    /// use k8s_bootstrap_core::spec::{ClusterSpec, SpecError};
    /// let yaml = "hosts:\n  - { name: etcd01, address: 10.0.0.1, roles: [etcd] }\n\
    ///             versions: { etcd: '3.5.17', flannel: '0.26.1' }\n\
    ///             network:\n  subnet_len: 31\n";
    /// let SpecError::Invalid { problems } = ClusterSpec::load(yaml).unwrap_err() else { panic!() };
    /// assert_eq!(problems[0].path, "network.subnet_len");
    /// assert_eq!(problems[0].location, Some((5, 15)));
    /// assert!(problems[0].to_string().starts_with("network.subnet_len (line 5, column 15) = 31: "));
    /// ```
    pub fn load(yaml: &str) -> Result<(ClusterSpec, Vec<Warning>), SpecError> {
        let spec = ClusterSpec::from_yaml_str(yaml)?;
        let at = |mut p: Problem| {
            p.location = locate::locate(yaml, &p.path);
            p
        };
        match spec.validate() {
            Ok(w) => Ok((spec, w.into_iter().map(at).collect())),
            Err(SpecError::Invalid { problems }) => Err(SpecError::Invalid { problems: problems.into_iter().map(at).collect() }),
            Err(e) => Err(e),
        }
    }

    /// Writes the spec as YAML.
    ///
    /// ```
    /// use k8s_bootstrap_core::spec::{ClusterSpec, HostSpec, Role, Version};
    /// let hosts = vec![HostSpec::new("etcd01", [192, 168, 1, 30].into(), &[Role::Etcd, Role::Node])];
    /// let spec = ClusterSpec::new(hosts, Version::new(3, 5, 17), Version::new(0, 26, 1));
    /// let yaml = spec.to_yaml_string();
    /// assert!(yaml.contains("name: etcd01") && yaml.contains("etcd: 3.5.17"));
    /// assert_eq!(ClusterSpec::from_yaml_str(&yaml).unwrap(), spec); // round-trips
    /// ```
    pub fn to_yaml_string(&self) -> String {
        serde_yaml_ng::to_string(self).expect("a ClusterSpec always serializes")
    }

    /// The hosts with `role`, in spec order.
    ///
    /// ```
    /// use k8s_bootstrap_core::spec::{ClusterSpec, HostSpec, Role, Version};
    /// let hosts = vec![
    ///     HostSpec::new("etcd01", [192, 168, 1, 30].into(), &[Role::Etcd, Role::Node]),
    ///     HostSpec::new("node04", [192, 168, 1, 33].into(), &[Role::Node]),
    /// ];
    /// let spec = ClusterSpec::new(hosts, Version::new(3, 5, 17), Version::new(0, 26, 1));
    /// let nodes: Vec<&str> = spec.hosts_with(Role::Node).map(|h| h.name.as_str()).collect();
    /// assert_eq!(nodes, ["etcd01", "node04"]);
    /// assert_eq!(spec.hosts_with(Role::Etcd).count(), 1);
    /// ```
    pub fn hosts_with(&self, role: Role) -> impl Iterator<Item = &HostSpec> {
        self.hosts.iter().filter(move |h| h.has(role))
    }

    /// Checks every rule at once. Returns the warnings when the spec is
    /// usable, or [`SpecError::Invalid`] with every problem found.
    ///
    /// ```
    /// use k8s_bootstrap_core::spec::{ClusterSpec, HostSpec, Role, Version};
    /// let hosts = vec![
    ///     HostSpec::new("etcd01", [192, 168, 1, 30].into(), &[Role::Etcd, Role::Node]),
    ///     HostSpec::new("etcd02", [192, 168, 1, 31].into(), &[Role::Etcd, Role::Node]),
    /// ];
    /// let mut spec = ClusterSpec::new(hosts, Version::new(3, 5, 17), Version::new(0, 26, 1));
    /// // Two members work, but tolerate no more failures than one: a warning.
    /// assert_eq!(spec.validate().unwrap()[0].path, "hosts");
    /// // The same address twice is a problem: the spec is refused.
    /// spec.hosts[1].address = spec.hosts[0].address;
    /// let err = spec.validate().unwrap_err();
    /// assert!(err.problems().iter().any(|p| p.path == "hosts[1].address"));
    /// ```
    pub fn validate(&self) -> Result<Vec<Warning>, SpecError> {
        let (problems, warnings) = validate::check(self);
        if problems.is_empty() { Ok(warnings) } else { Err(SpecError::Invalid { problems }) }
    }

    /// Whether flannel needs etcd's v2 API (flannel <= 0.17).
    ///
    /// ```
    /// use k8s_bootstrap_core::spec::{ClusterSpec, Version};
    /// let tutorial = ClusterSpec::new(vec![], Version::new(3, 3, 13), Version::new(0, 11, 0));
    /// assert!(tutorial.needs_etcd_v2());
    /// let current = ClusterSpec::new(vec![], Version::new(3, 5, 17), Version::new(0, 26, 1));
    /// assert!(!current.needs_etcd_v2());
    /// ```
    pub fn needs_etcd_v2(&self) -> bool {
        crate::flannel::needs_etcd_v2(self.versions.flannel)
    }
}
