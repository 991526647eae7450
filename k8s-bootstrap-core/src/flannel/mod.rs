//! [`FlannelConfig`]: flannel's network config (JSON in etcd, v2 or v3 by
//! version), flanneld's options file and unit, and the docker options step.
//!
//! ```
//! use k8s_bootstrap_core::flannel::{FlannelConfig, Backend};
//! use k8s_bootstrap_core::etcd::EtcdApi;
//! use k8s_bootstrap_core::spec::Version;
//! let old = FlannelConfig::new(Version::new(0, 11, 0));
//! assert_eq!(old.etcd_api(), EtcdApi::V2);
//! assert_eq!(
//!     old.network_config_json(),
//!     r#"{"Network":"10.244.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan","VNI":1,"Port":8472}}"#
//! );
//! let new = FlannelConfig::new(Version::new(0, 26, 1)).backend(Backend::HostGw);
//! assert_eq!(new.etcd_api(), EtcdApi::V3);
//! assert!(new.network_config_json().contains(r#""Backend":{"Type":"host-gw"}"#));
//! ```

use std::net::Ipv4Addr;

use askama::Template;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::etcd::{EtcdApi, EtcdCluster};
use crate::model::{CertId, CertLayout, Command, HostCert, HostRender, Ipv4Cidr, Phase, Problem, RenderedFile, Version};
use crate::shell::join_argv;

/// The default pod network: not docker's 172.17.0.0/16.
///
/// ```
/// use k8s_bootstrap_core::flannel::{FlannelConfig, DEFAULT_NETWORK};
/// use k8s_bootstrap_core::spec::Ipv4Cidr;
/// assert_eq!(DEFAULT_NETWORK.to_string(), "10.244.0.0/16");
/// assert!(!DEFAULT_NETWORK.overlaps(&Ipv4Cidr::DOCKER_DEFAULT));
/// assert_eq!(FlannelConfig::default().network, DEFAULT_NETWORK);
/// ```
pub const DEFAULT_NETWORK: Ipv4Cidr = match Ipv4Cidr::from_octets(10, 244, 0, 0, 16) {
    Some(c) => c,
    None => unreachable!(),
};
/// flannel's default etcd prefix.
///
/// ```
/// use k8s_bootstrap_core::flannel::{FlannelConfig, DEFAULT_PREFIX};
/// assert_eq!(DEFAULT_PREFIX, "/coreos.com/network");
/// assert_eq!(FlannelConfig::default().config_key(), "/coreos.com/network/config");
/// ```
pub const DEFAULT_PREFIX: &str = "/coreos.com/network";
/// Where flanneld writes its lease (`FLANNEL_NETWORK`, `FLANNEL_SUBNET`,
/// `FLANNEL_MTU`, `FLANNEL_IPMASQ`) and reads it back on restart to keep
/// it. Only flanneld writes it: docker's unit reads its bridge from it
/// directly, with no mk-docker-opts.sh (whose `-d` over this file was the
/// tutorial's bug 5).
///
/// ```
/// use k8s_bootstrap_core::docker::DockerUnit;
/// use k8s_bootstrap_core::flannel::SUBNET_ENV;
/// let unit = DockerUnit::default().render().unwrap().files[0].text().to_string();
/// assert!(unit.contains(&format!("EnvironmentFile={SUBNET_ENV}\n")));
/// assert!(unit.contains("--bip=${FLANNEL_SUBNET} --mtu=${FLANNEL_MTU}"));
/// ```
pub const SUBNET_ENV: &str = "/run/flannel/subnet.env";

/// Whether flannel `v` needs etcd's v2 API (flannel <= 0.17; v3 from 0.18).
///
/// ```
/// use k8s_bootstrap_core::flannel::needs_etcd_v2;
/// use k8s_bootstrap_core::spec::Version;
/// assert!(needs_etcd_v2(Version::new(0, 11, 0))); // the tutorial's flannel
/// assert!(needs_etcd_v2(Version::new(0, 17, 0)));
/// assert!(!needs_etcd_v2(Version::new(0, 18, 0)));
/// ```
pub fn needs_etcd_v2(v: Version) -> bool {
    v.major_minor() < (0, 18)
}

/// The error of the flannel builder.
///
/// ```
/// use k8s_bootstrap_core::flannel::{Error, FlannelConfig};
/// let f = FlannelConfig::default().subnet_len(31);
/// let err = f.render_node("etcd01", "192.168.1.30".parse().unwrap(), None).unwrap_err();
/// let Error::Invalid(problems) = &err else { panic!() };
/// assert_eq!(problems[0].path, "subnet_len");
/// assert!(err.to_string().starts_with("invalid flannel settings:\n  - subnet_len = 31: "));
/// ```
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The settings break rules.
    #[error("invalid flannel settings:{}", crate::model::error_list(.0))]
    Invalid(Vec<Problem>),
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
/// use k8s_bootstrap_core::flannel::{self, FlannelConfig};
/// fn options_line(f: &FlannelConfig) -> flannel::Result<String> {
///     let r = f.render_node("etcd01", "192.168.1.30".parse().unwrap(), Some("eth1"))?;
///     Ok(r.file(&f.env_file()).unwrap().text().to_string())
/// }
/// assert!(options_line(&FlannelConfig::default()).unwrap().contains("--iface=eth1"));
/// assert!(options_line(&FlannelConfig::default().etcd_prefix("coreos.com/network/")).is_err());
/// ```
pub type Result<T, E = Error> = std::result::Result<T, E>;

fn default_vni() -> u32 {
    1
}
fn default_vxlan_port() -> u16 {
    8472
}
fn default_udp_port() -> u16 {
    8285
}
fn default_wg_port() -> u16 {
    51820
}

/// flannel's backend. The JSON always carries `Type` (without it flannel
/// falls back to udp, whatever the docs say).
///
/// ```
/// use k8s_bootstrap_core::flannel::Backend;
/// // In the spec, `network.backend` is tagged by `type`; ports default as flannel's do.
/// let b: Backend = serde_yaml_ng::from_str("{ type: vxlan, vni: 4096 }").unwrap();
/// assert_eq!(b, Backend::Vxlan { vni: 4096, port: 8472, direct_routing: false });
/// let w: Backend = serde_yaml_ng::from_str("{ type: wireguard }").unwrap();
/// assert_eq!(w.udp_port(), Some(51820));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Backend {
    /// VXLAN (default): VNI 1, UDP port 8472.
    Vxlan {
        /// VXLAN network id (default 1).
        #[serde(default = "default_vni")]
        vni: u32,
        /// UDP port (default 8472, not 4789).
        #[serde(default = "default_vxlan_port")]
        port: u16,
        /// Route directly when hosts share a subnet.
        #[serde(default)]
        direct_routing: bool,
    },
    /// host-gw: routes via the hosts; needs L2 adjacency.
    HostGw,
    /// udp: slow, for debugging only.
    Udp {
        /// UDP port (default 8285).
        #[serde(default = "default_udp_port")]
        port: u16,
    },
    /// WireGuard (flannel >= 0.13).
    Wireguard {
        /// UDP listen port (default 51820).
        #[serde(default = "default_wg_port")]
        listen_port: u16,
    },
}

impl Default for Backend {
    fn default() -> Self {
        Backend::Vxlan { vni: 1, port: 8472, direct_routing: false }
    }
}

impl Backend {
    /// The name in flannel's JSON.
    ///
    /// ```
    /// use k8s_bootstrap_core::flannel::Backend;
    /// assert_eq!(Backend::default().type_name(), "vxlan");
    /// assert_eq!(Backend::HostGw.type_name(), "host-gw");
    /// ```
    pub fn type_name(&self) -> &'static str {
        match self {
            Backend::Vxlan { .. } => "vxlan",
            Backend::HostGw => "host-gw",
            Backend::Udp { .. } => "udp",
            Backend::Wireguard { .. } => "wireguard",
        }
    }
    /// The UDP port the backend needs open between nodes.
    ///
    /// ```
    /// use k8s_bootstrap_core::flannel::Backend;
    /// assert_eq!(Backend::default().udp_port(), Some(8472)); // opened between nodes by host prep
    /// assert_eq!(Backend::Udp { port: 8285 }.udp_port(), Some(8285));
    /// assert_eq!(Backend::HostGw.udp_port(), None);
    /// ```
    pub fn udp_port(&self) -> Option<u16> {
        match self {
            Backend::Vxlan { port, .. } | Backend::Udp { port } => Some(*port),
            Backend::Wireguard { listen_port } => Some(*listen_port),
            Backend::HostGw => None,
        }
    }
    fn to_json(&self) -> String {
        let mut m = Fields::default();
        m.insert("Type".into(), json!(self.type_name()));
        match self {
            Backend::Vxlan { vni, port, direct_routing } => {
                m.insert("VNI".into(), json!(vni));
                m.insert("Port".into(), json!(port));
                if *direct_routing {
                    m.insert("DirectRouting".into(), json!(true));
                }
            }
            Backend::Udp { port } => {
                m.insert("Port".into(), json!(port));
            }
            Backend::Wireguard { listen_port } => {
                m.insert("ListenPort".into(), json!(listen_port));
            }
            Backend::HostGw => {}
        }
        m.finish()
    }
}

/// A JSON object that keeps its keys in insertion order (flannel's docs order).
#[derive(Default)]
struct Fields(Vec<String>);

impl Fields {
    fn insert(&mut self, key: String, value: Value) {
        self.raw(&key, value.to_string());
    }
    fn raw(&mut self, key: &str, json: String) {
        self.0.push(format!("{}:{json}", Value::from(key)));
    }
    fn finish(self) -> String {
        format!("{{{}}}", self.0.join(","))
    }
}

/// The flannel releases k8s-bootstrap renders for: the oldest and newest
/// minor (0.11, the tutorial's, to 0.28, the one the tests run). Others are refused by validation.
///
/// ```
/// use k8s_bootstrap_core::flannel::SUPPORTED_VERSIONS;
/// assert_eq!(SUPPORTED_VERSIONS.1.to_string(), "0.28");
/// ```
pub const SUPPORTED_VERSIONS: (Version, Version) = (Version::minor(0, 11), Version::minor(0, 28));

/// flannel for one version. `Default` is flannel 0.26.1 on 10.244.0.0/16, vxlan.
///
/// ```
/// use k8s_bootstrap_core::flannel::FlannelConfig;
/// use k8s_bootstrap_core::spec::Version;
/// let f = FlannelConfig::new(Version::new(0, 11, 0))
///     .network("10.244.0.0/16".parse().unwrap())
///     .subnet_len(24)
///     .etcd_endpoints("https://192.168.1.30:2379,https://192.168.1.31:2379");
/// let node = f.render_node("etcd02", "192.168.1.31".parse().unwrap(), Some("eth1")).unwrap();
/// let unit = node.file("/usr/lib/systemd/system/flanneld.service").unwrap().text();
/// // nothing runs after flanneld to rewrite its subnet.env (the tutorial's bug 5)
/// assert!(!unit.contains("mk-docker-opts") && !unit.contains("ExecStartPost"));
/// // flanneld authenticates with its own client certificate, not a server.pem
/// let opts = f.options("192.168.1.31".parse().unwrap(), Some("eth1"));
/// assert!(opts.contains(&"--etcd-certfile=/opt/kubernetes/ssl/flanneld.pem".to_string()));
/// // rules are checked, all at once
/// assert_eq!(f.clone().subnet_len(31).validate()[0].path, "subnet_len");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlannelConfig {
    /// flannel version.
    pub version: Version,
    /// `Network`.
    pub network: Ipv4Cidr,
    /// `SubnetLen`.
    pub subnet_len: u8,
    /// `SubnetMin`.
    pub subnet_min: Option<Ipv4Addr>,
    /// `SubnetMax`.
    pub subnet_max: Option<Ipv4Addr>,
    /// `Backend`.
    pub backend: Backend,
    /// etcd prefix (default `/coreos.com/network`).
    pub etcd_prefix: String,
    /// etcd client URLs.
    pub etcd_endpoints: String,
    /// `--ip-masq`.
    pub ip_masq: bool,
    /// Install root with `cfg/`, `bin/`, `ssl/` (default `/opt/kubernetes`).
    pub kubernetes_dir: String,
    /// Unit directory.
    pub systemd_dir: String,
    /// Which certificate files.
    pub cert_layout: CertLayout,
}

impl Default for FlannelConfig {
    fn default() -> Self {
        FlannelConfig::new(Version::new(0, 26, 1))
    }
}

#[derive(Template)]
#[template(path = "flanneld.env")]
struct EnvTemplate<'a> {
    version: Version,
    host: &'a str,
    options: String,
}

#[derive(Template)]
#[template(path = "flanneld.service")]
struct UnitTemplate<'a> {
    version: Version,
    env_file: &'a str,
    flanneld_bin: &'a str,
}

fn tmpl(file: &str, r: askama::Result<String>) -> Result<String> {
    crate::model::text_file(r).map_err(|source| Error::Template { file: file.to_string(), source })
}

impl FlannelConfig {
    /// flannel `version` with default settings.
    ///
    /// ```
    /// use k8s_bootstrap_core::flannel::FlannelConfig;
    /// use k8s_bootstrap_core::spec::Version;
    /// let f = FlannelConfig::new(Version::new(0, 26, 1));
    /// assert_eq!((f.network.to_string(), f.subnet_len), ("10.244.0.0/16".to_string(), 24));
    /// assert_eq!(f.etcd_endpoints, "https://127.0.0.1:2379"); // set the members' endpoints
    /// assert!(f.validate().is_empty());
    /// ```
    pub fn new(version: Version) -> Self {
        FlannelConfig {
            version,
            network: DEFAULT_NETWORK,
            subnet_len: 24,
            subnet_min: None,
            subnet_max: None,
            backend: Backend::default(),
            etcd_prefix: DEFAULT_PREFIX.into(),
            etcd_endpoints: "https://127.0.0.1:2379".into(),
            ip_masq: true,
            kubernetes_dir: "/opt/kubernetes".into(),
            systemd_dir: "/usr/lib/systemd/system".into(),
            cert_layout: CertLayout::PerMember,
        }
    }

    /// Sets `Network`.
    ///
    /// ```
    /// use k8s_bootstrap_core::flannel::FlannelConfig;
    /// let f = FlannelConfig::default().network("10.245.0.0/16".parse().unwrap());
    /// assert!(f.network_config_json().starts_with(r#"{"Network":"10.245.0.0/16","#));
    /// assert_eq!(f.network("10.245.0.0/29".parse().unwrap()).validate()[0].path, "pod_cidr"); // too small
    /// ```
    #[must_use]
    pub fn network(mut self, n: Ipv4Cidr) -> Self {
        self.network = n;
        self
    }
    /// Sets `SubnetLen`.
    ///
    /// ```
    /// use k8s_bootstrap_core::flannel::FlannelConfig;
    /// let f = FlannelConfig::default().subnet_len(26);
    /// assert!(f.network_config_json().contains(r#""SubnetLen":26"#));
    /// assert_eq!(f.subnet_len(31).validate()[0].path, "subnet_len");
    /// ```
    #[must_use]
    pub fn subnet_len(mut self, len: u8) -> Self {
        self.subnet_len = len;
        self
    }
    /// Sets `SubnetMin` and `SubnetMax`.
    ///
    /// ```
    /// use k8s_bootstrap_core::flannel::FlannelConfig;
    /// let f = FlannelConfig::default().subnet_range("10.244.10.0".parse().unwrap(), "10.244.99.0".parse().unwrap());
    /// assert!(f.network_config_json().contains(r#""SubnetMin":"10.244.10.0","SubnetMax":"10.244.99.0""#));
    /// let off = FlannelConfig::default().subnet_range("10.244.10.1".parse().unwrap(), "10.244.99.0".parse().unwrap());
    /// assert_eq!(off.validate()[0].fix.as_deref(), Some("use 10.244.10.0")); // not on a /24 boundary
    /// ```
    #[must_use]
    pub fn subnet_range(mut self, min: Ipv4Addr, max: Ipv4Addr) -> Self {
        self.subnet_min = Some(min);
        self.subnet_max = Some(max);
        self
    }
    /// Sets the backend.
    ///
    /// ```
    /// use k8s_bootstrap_core::flannel::{Backend, FlannelConfig};
    /// use k8s_bootstrap_core::spec::Version;
    /// let f = FlannelConfig::default().backend(Backend::Wireguard { listen_port: 51820 });
    /// assert!(f.network_config_json().ends_with(r#""Backend":{"Type":"wireguard","ListenPort":51820}}"#));
    /// let old = FlannelConfig::new(Version::new(0, 11, 0)).backend(Backend::Wireguard { listen_port: 51820 });
    /// assert_eq!(old.validate()[0].path, "backend.type"); // wireguard came with 0.13
    /// ```
    #[must_use]
    pub fn backend(mut self, b: Backend) -> Self {
        self.backend = b;
        self
    }
    /// Sets the etcd endpoints (`https://a:2379,https://b:2379`).
    ///
    /// ```
    /// use k8s_bootstrap_core::flannel::FlannelConfig;
    /// let f = FlannelConfig::default().etcd_endpoints("https://192.168.1.30:2379,https://192.168.1.31:2379");
    /// let opts = f.options("192.168.1.30".parse().unwrap(), None);
    /// assert_eq!(opts[0], "--etcd-endpoints=https://192.168.1.30:2379,https://192.168.1.31:2379");
    /// ```
    #[must_use]
    pub fn etcd_endpoints(mut self, e: impl Into<String>) -> Self {
        self.etcd_endpoints = e.into();
        self
    }
    /// Sets the etcd prefix.
    ///
    /// ```
    /// use k8s_bootstrap_core::flannel::FlannelConfig;
    /// let f = FlannelConfig::default().etcd_prefix("/k8s/network");
    /// assert_eq!(f.config_key(), "/k8s/network/config");
    /// assert_eq!(f.etcd_prefix("/k8s/network/").validate()[0].path, "etcd_prefix");
    /// ```
    #[must_use]
    pub fn etcd_prefix(mut self, p: impl Into<String>) -> Self {
        self.etcd_prefix = p.into();
        self
    }

    /// Checks flannel's rules; every problem at once. Paths use the spec's names.
    ///
    /// ```
    /// use k8s_bootstrap_core::flannel::{Backend, FlannelConfig};
    /// use k8s_bootstrap_core::spec::Version;
    /// let f = FlannelConfig::new(Version::new(0, 10, 0))
    ///     .subnet_len(31)
    ///     .backend(Backend::Vxlan { vni: 0, port: 8472, direct_routing: false });
    /// let paths: Vec<String> = f.validate().into_iter().map(|p| p.path).collect();
    /// assert_eq!(paths, ["version", "subnet_len", "backend.vni"]);
    /// ```
    pub fn validate(&self) -> Vec<Problem> {
        let mut p = Vec::new();
        let v = self.version;
        let (lo, hi) = SUPPORTED_VERSIONS;
        if v.major_minor() < lo.major_minor() || v.major_minor() > hi.major_minor() {
            p.push(Problem::new("version", v, "flannel 0.11 to 0.28 is supported").fix("use for example 0.26.1"));
        }
        let net = self.network;
        if net.prefix() > 28 {
            p.push(Problem::new("pod_cidr", net, "flannel rejects networks smaller than /28").fix("use for example 10.244.0.0/16"));
        }
        if self.subnet_len > 30 {
            p.push(Problem::new("subnet_len", self.subnet_len, "flannel's SubnetLen must be <= 30").fix("use 24"));
        } else if u32::from(self.subnet_len) < u32::from(net.prefix()) + 2 {
            p.push(
                Problem::new("subnet_len", self.subnet_len, format!("the network {net} must hold at least 4 subnets of /{}", self.subnet_len))
                    .fix(format!("use a SubnetLen of at least {}", net.prefix() + 2)),
            );
        }
        let sub_mask = if self.subnet_len == 0 || self.subnet_len > 32 { 0 } else { u32::MAX << (32 - u32::from(self.subnet_len)) };
        for (field, ip) in [("subnet_min", self.subnet_min), ("subnet_max", self.subnet_max)] {
            if let Some(ip) = ip {
                if !net.contains(ip) {
                    p.push(Problem::new(field, ip, format!("must be inside the network {net}")));
                } else if u32::from(ip) & !sub_mask != 0 {
                    p.push(Problem::new(field, ip, format!("must be aligned to SubnetLen /{}", self.subnet_len)).fix(format!("use {}", Ipv4Addr::from(u32::from(ip) & sub_mask))));
                }
            }
        }
        if let (Some(a), Some(b)) = (self.subnet_min, self.subnet_max)
            && a > b
        {
            p.push(Problem::new("subnet_min", a, format!("must not be above subnet_max {b}")));
        }
        match &self.backend {
            Backend::Vxlan { vni, port, .. } => {
                if *vni == 0 || *vni > 16_777_215 {
                    p.push(Problem::new("backend.vni", vni, "a VXLAN VNI is 1-16777215"));
                }
                if *port == 0 {
                    p.push(Problem::new("backend.port", port, "ports are 1-65535"));
                }
            }
            Backend::Udp { port } if *port == 0 => p.push(Problem::new("backend.port", port, "ports are 1-65535")),
            Backend::Wireguard { listen_port } => {
                if *listen_port == 0 {
                    p.push(Problem::new("backend.listen_port", listen_port, "ports are 1-65535"));
                }
                if v.major_minor() < (0, 13) {
                    p.push(Problem::new("backend.type", "wireguard", format!("flannel {v} has no wireguard backend (from 0.13)")).fix("use vxlan"));
                }
            }
            _ => {}
        }
        if !self.etcd_prefix.starts_with('/') || self.etcd_prefix.ends_with('/') || self.etcd_prefix.contains(char::is_whitespace) {
            p.push(Problem::new("etcd_prefix", &self.etcd_prefix, "an etcd prefix starts with / and has no trailing / or spaces").fix(format!("use {DEFAULT_PREFIX}")));
        }
        for (field, path) in [("kubernetes_dir", &self.kubernetes_dir), ("systemd_dir", &self.systemd_dir)] {
            if let Some(rule) = crate::model::path_rule(path) {
                p.push(Problem::new(field, path, rule));
            }
        }
        p
    }

    /// The etcd API this flannel version reads its config through.
    ///
    /// ```
    /// use k8s_bootstrap_core::etcd::EtcdApi;
    /// use k8s_bootstrap_core::flannel::FlannelConfig;
    /// use k8s_bootstrap_core::spec::Version;
    /// assert_eq!(FlannelConfig::new(Version::new(0, 17, 0)).etcd_api(), EtcdApi::V2);
    /// assert_eq!(FlannelConfig::new(Version::new(0, 18, 0)).etcd_api(), EtcdApi::V3);
    /// ```
    pub fn etcd_api(&self) -> EtcdApi {
        if needs_etcd_v2(self.version) { EtcdApi::V2 } else { EtcdApi::V3 }
    }

    /// The etcd key of the network config (`<prefix>/config`).
    ///
    /// ```
    /// use k8s_bootstrap_core::flannel::FlannelConfig;
    /// assert_eq!(FlannelConfig::default().config_key(), "/coreos.com/network/config");
    /// ```
    pub fn config_key(&self) -> String {
        format!("{}/config", self.etcd_prefix)
    }

    /// The network config JSON (compact, keys in flannel's order; `Backend.Type` always set).
    ///
    /// ```
    /// use k8s_bootstrap_core::flannel::{Backend, FlannelConfig};
    /// let json = FlannelConfig::default().backend(Backend::HostGw).network_config_json();
    /// assert_eq!(json, r#"{"Network":"10.244.0.0/16","SubnetLen":24,"Backend":{"Type":"host-gw"}}"#);
    /// let v: serde_json::Value = serde_json::from_str(&json).unwrap(); // valid JSON
    /// assert_eq!(v["Backend"]["Type"], "host-gw");
    /// ```
    pub fn network_config_json(&self) -> String {
        let mut m = Fields::default();
        m.insert("Network".into(), json!(self.network.to_string()));
        m.insert("SubnetLen".into(), json!(self.subnet_len));
        if let Some(a) = self.subnet_min {
            m.insert("SubnetMin".into(), json!(a.to_string()));
        }
        if let Some(a) = self.subnet_max {
            m.insert("SubnetMax".into(), json!(a.to_string()));
        }
        m.raw("Backend", self.backend.to_json());
        m.finish()
    }

    /// The command that writes the network config into etcd, through the
    /// admin wrapper of `etcd`: `set` over v2 for flannel <= 0.17, `put`
    /// over v3 from 0.18. Skipped when the key already holds this JSON.
    ///
    /// ```
    /// use k8s_bootstrap_core::etcd::EtcdCluster;
    /// use k8s_bootstrap_core::flannel::FlannelConfig;
    /// use k8s_bootstrap_core::spec::Version;
    /// let etcd = EtcdCluster::new(Version::new(3, 3, 13));
    /// let old = FlannelConfig::new(Version::new(0, 11, 0)).config_command(&etcd);
    /// assert_eq!(old.argv[..3], ["/opt/etcd/bin/etcdctl-admin-v2", "set", "/coreos.com/network/config"]);
    /// let new = FlannelConfig::new(Version::new(0, 26, 1)).config_command(&etcd);
    /// assert_eq!(new.argv[..2], ["/opt/etcd/bin/etcdctl-admin", "put"]);
    /// assert!(new.check.is_some()); // skipped when the key already holds this JSON
    /// ```
    pub fn config_command(&self, etcd: &EtcdCluster) -> Command {
        let api = self.etcd_api();
        let wrapper = etcd.etcdctl_wrapper(api);
        let json = self.network_config_json();
        let key = self.config_key();
        let (verb, get) = match api {
            EtcdApi::V2 => ("set", vec![wrapper.clone(), "get".into(), key.clone()]),
            EtcdApi::V3 => ("put", vec![wrapper.clone(), "get".into(), "--print-value-only".into(), key.clone()]),
        };
        let check = format!("[ \"$({})\" = {} ]", join_argv(&get), crate::shell::shell_quote(&json));
        Command::new(
            Phase::FlannelConfig,
            format!("write flannel's network config through the etcd {api:?} API (flannel {} reads it there)", self.version),
            [wrapper, verb.to_string(), key, json],
        )
        .unless(["sh".to_string(), "-c".to_string(), check])
    }

    fn dir(&self, sub: &str) -> String {
        format!("{}/{sub}", self.kubernetes_dir.trim_end_matches('/'))
    }

    /// Path of flanneld's options file (`/opt/kubernetes/cfg/flanneld`).
    ///
    /// ```
    /// use k8s_bootstrap_core::flannel::FlannelConfig;
    /// assert_eq!(FlannelConfig::default().env_file(), "/opt/kubernetes/cfg/flanneld");
    /// ```
    pub fn env_file(&self) -> String {
        format!("{}/flanneld", self.dir("cfg"))
    }

    /// Path of the unit (`/usr/lib/systemd/system/flanneld.service`).
    ///
    /// ```
    /// use k8s_bootstrap_core::flannel::FlannelConfig;
    /// assert_eq!(FlannelConfig::default().unit_file(), "/usr/lib/systemd/system/flanneld.service");
    /// ```
    pub fn unit_file(&self) -> String {
        format!("{}/flanneld.service", self.systemd_dir.trim_end_matches('/'))
    }

    fn cert(&self, id: CertId) -> HostCert {
        HostCert::new(self.cert_layout.cert(id), &self.dir("ssl")).restarts("flanneld")
    }

    /// flanneld's command-line options for a host (`public_ip`, and `iface` or the address).
    ///
    /// ```
    /// use k8s_bootstrap_core::flannel::FlannelConfig;
    /// let f = FlannelConfig::default();
    /// let opts = f.options("192.168.1.31".parse().unwrap(), None);
    /// assert!(opts.contains(&"--iface=192.168.1.31".to_string())); // no iface: the address picks it
    /// assert!(opts.contains(&"--etcd-keyfile=/opt/kubernetes/ssl/flanneld-key.pem".to_string()));
    /// assert_eq!(opts.last().unwrap(), "--ip-masq");
    /// ```
    pub fn options(&self, public_ip: Ipv4Addr, iface: Option<&str>) -> Vec<String> {
        let ca = self.cert(CertId::Ca);
        let client = self.cert(CertId::FlannelClient);
        let mut o = vec![
            format!("--etcd-endpoints={}", self.etcd_endpoints),
            format!("--etcd-cafile={}", ca.cert_path),
            format!("--etcd-certfile={}", client.cert_path),
            format!("--etcd-keyfile={}", client.key_path.unwrap_or_default()),
            format!("--etcd-prefix={}", self.etcd_prefix),
            format!("--iface={}", iface.map(str::to_string).unwrap_or_else(|| public_ip.to_string())),
            format!("--public-ip={public_ip}"),
        ];
        if self.ip_masq {
            o.push("--ip-masq".into());
        }
        o
    }

    /// Renders the files, commands and certs of a node.
    ///
    /// ```
    /// use k8s_bootstrap_core::flannel::FlannelConfig;
    /// let r = FlannelConfig::default().render_node("etcd01", "192.168.1.30".parse().unwrap(), Some("eth1")).unwrap();
    /// let env = r.file("/opt/kubernetes/cfg/flanneld").unwrap().text();
    /// assert!(env.contains("--public-ip=192.168.1.30 --ip-masq\""));
    /// let certs: Vec<&str> = r.certs.iter().map(|c| c.cert_path.as_str()).collect();
    /// assert_eq!(certs, ["/opt/kubernetes/ssl/ca.pem", "/opt/kubernetes/ssl/flanneld.pem"]);
    /// ```
    pub fn render_node(&self, host: &str, public_ip: Ipv4Addr, iface: Option<&str>) -> Result<HostRender> {
        let problems = self.validate();
        if !problems.is_empty() {
            return Err(Error::Invalid(problems));
        }
        let mut out = HostRender::default();
        let env_file = self.env_file();
        let env = EnvTemplate { version: self.version, host, options: self.options(public_ip, iface).join(" ") };
        out.files.push(RenderedFile::new(&env_file, tmpl(&env_file, env.render())?, 0o644).restarts("flanneld"));
        let flanneld_bin = format!("{}/flanneld", self.dir("bin"));
        let unit = UnitTemplate {
            version: self.version,
            env_file: &env_file,
            flanneld_bin: &flanneld_bin,
        };
        let unit_file = self.unit_file();
        out.files.push(RenderedFile::new(&unit_file, tmpl(&unit_file, unit.render())?, 0o644).defines_unit("flanneld"));
        out.commands.push(Command::enable_at_boot("flanneld"));
        out.certs = vec![self.cert(CertId::Ca), self.cert(CertId::FlannelClient)];
        out.certs.dedup();
        Ok(out)
    }
}
