//! Which certificate a file pair holds, and which files a cluster uses.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Which certificate of a bundle a file pair holds.
///
/// Its [`CertId::cert_file`] and [`CertId::key_file`] are the file names
/// (relative to the ssl directory) every other part of the project uses.
///
/// ```
/// use k8s_bootstrap_core::pki::CertId;
/// let id = CertId::Server("etcd01".into());
/// assert_eq!(id.cert_file(), "etcd01-server.pem");
/// assert_eq!(id.key_file(), "etcd01-server-key.pem");
/// assert_eq!(CertId::Ca.cert_file(), "ca.pem");
/// assert_eq!(CertId::TutorialServer.cert_file(), "server.pem");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "member")]
pub enum CertId {
    /// The CA (`ca.pem`, `ca-key.pem`).
    Ca,
    /// An etcd member's server (client-facing) cert (`<member>-server.pem`).
    Server(String),
    /// An etcd member's peer cert (`<member>-peer.pem`).
    Peer(String),
    /// The etcd admin client cert for etcdctl and health checks (`admin.pem`).
    AdminClient,
    /// The flanneld client cert (`flanneld.pem`).
    FlannelClient,
    /// The tutorial's single shared cert (`server.pem`), tutorial layout only.
    TutorialServer,
}

impl CertId {
    /// The stem of the file names (`ca`, `etcd01-server`, `admin`, ...).
    ///
    /// ```
    /// use k8s_bootstrap_core::pki::CertId;
    /// assert_eq!(CertId::Peer("etcd02".into()).stem(), "etcd02-peer");
    /// assert_eq!(CertId::FlannelClient.stem(), "flanneld");
    /// assert_eq!(CertId::AdminClient.to_string(), "admin"); // Display is the stem
    /// ```
    pub fn stem(&self) -> String {
        match self {
            CertId::Ca => "ca".into(),
            CertId::Server(m) => format!("{m}-server"),
            CertId::Peer(m) => format!("{m}-peer"),
            CertId::AdminClient => "admin".into(),
            CertId::FlannelClient => "flanneld".into(),
            CertId::TutorialServer => "server".into(),
        }
    }
    /// The certificate's file name, `<stem>.pem`.
    ///
    /// ```
    /// use k8s_bootstrap_core::pki::CertId;
    /// assert_eq!(CertId::Peer("etcd02".into()).cert_file(), "etcd02-peer.pem");
    /// assert_eq!(CertId::FlannelClient.cert_file(), "flanneld.pem");
    /// ```
    pub fn cert_file(&self) -> String {
        format!("{}.pem", self.stem())
    }
    /// The private key's file name, `<stem>-key.pem`.
    ///
    /// ```
    /// use k8s_bootstrap_core::pki::CertId;
    /// assert_eq!(CertId::Peer("etcd02".into()).key_file(), "etcd02-peer-key.pem");
    /// assert_eq!(CertId::Ca.key_file(), "ca-key.pem");
    /// ```
    pub fn key_file(&self) -> String {
        format!("{}-key.pem", self.stem())
    }
    /// The member this cert belongs to, for server and peer certs.
    ///
    /// ```
    /// use k8s_bootstrap_core::pki::CertId;
    /// assert_eq!(CertId::Server("etcd03".into()).member(), Some("etcd03"));
    /// assert_eq!(CertId::AdminClient.member(), None);
    /// ```
    pub fn member(&self) -> Option<&str> {
        match self {
            CertId::Server(m) | CertId::Peer(m) => Some(m),
            _ => None,
        }
    }
}

impl fmt::Display for CertId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.stem())
    }
}

/// Where each certificate goes.
///
/// ```
/// use k8s_bootstrap_core::spec::{CertLayout, ClusterSpec, HostSpec, Role, Version};
/// assert_eq!(serde_yaml_ng::from_str::<CertLayout>("per-member").unwrap(), CertLayout::default());
/// let hosts = vec![HostSpec::new("etcd01", [192, 168, 1, 30].into(), &[Role::Etcd])];
/// let mut spec = ClusterSpec::new(hosts, Version::new(3, 5, 17), Version::new(0, 26, 1));
/// spec.pki.layout = CertLayout::Tutorial;
/// let env = spec.render().unwrap().hosts["etcd01"].file("/opt/etcd/cfg/etcd").unwrap().text().to_string();
/// assert!(env.contains(r#"ETCD_PEER_CERT_FILE="/opt/etcd/ssl/server.pem""#));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CertLayout {
    /// Per-member server and peer certs, separate admin and flanneld client certs (default).
    #[default]
    PerMember,
    /// The tutorial's single `server.pem` for everything (kept for comparison only).
    Tutorial,
}

impl CertLayout {
    /// The certificate that plays the role `id` in this layout: in the
    /// tutorial layout every leaf is the shared `server.pem`.
    ///
    /// ```
    /// use k8s_bootstrap_core::pki::CertId;
    /// use k8s_bootstrap_core::spec::CertLayout;
    /// assert_eq!(CertLayout::Tutorial.cert(CertId::AdminClient), CertId::TutorialServer);
    /// assert_eq!(CertLayout::PerMember.cert(CertId::AdminClient), CertId::AdminClient);
    /// assert_eq!(CertLayout::Tutorial.cert(CertId::Ca), CertId::Ca);
    /// ```
    pub fn cert(self, id: CertId) -> CertId {
        match self {
            CertLayout::Tutorial if id != CertId::Ca => CertId::TutorialServer,
            _ => id,
        }
    }
}
