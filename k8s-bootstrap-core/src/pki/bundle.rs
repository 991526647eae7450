//! [`CertBundle`]: the validated description of every certificate a cluster
//! needs, and its builder.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

use super::validate::{self, San};
use super::{CertId, Error, KeyAlgorithm, Result, Subject};

/// Default validity of a generated CA, in days (10 years, as kubeadm).
///
/// ```
/// use k8s_bootstrap_core::pki::{inspect_cert, CertBundle, EtcdMember, KeyAlgorithm, DEFAULT_CA_VALIDITY_DAYS};
/// let issued = CertBundle::builder().key_algorithm(KeyAlgorithm::EcdsaP256)
///     .member(EtcdMember::new("etcd01", ["192.168.1.30"])).build()?.generate()?;
/// let ca = inspect_cert("ca.pem", &issued.file("ca.pem").unwrap().contents, time::OffsetDateTime::now_utc())?;
/// assert!(ca.is_ca);
/// assert_eq!(ca.validity_days, DEFAULT_CA_VALIDITY_DAYS);
/// # Ok::<(), k8s_bootstrap_core::pki::Error>(())
/// ```
pub const DEFAULT_CA_VALIDITY_DAYS: i64 = 3650;
/// Default validity of a leaf certificate, in days (1 year, as kubeadm).
///
/// ```
/// use k8s_bootstrap_core::pki::{inspect, CertBundle, EtcdMember, KeyAlgorithm, DEFAULT_LEAF_VALIDITY_DAYS};
/// let issued = CertBundle::builder().key_algorithm(KeyAlgorithm::EcdsaP256)
///     .member(EtcdMember::new("etcd01", ["192.168.1.30"])).build()?.generate()?;
/// let infos = inspect(&issued.as_existing(), time::OffsetDateTime::now_utc())?;
/// assert!(infos.iter().filter(|i| !i.is_ca).all(|i| i.validity_days == DEFAULT_LEAF_VALIDITY_DAYS));
/// # Ok::<(), k8s_bootstrap_core::pki::Error>(())
/// ```
pub const DEFAULT_LEAF_VALIDITY_DAYS: i64 = 365;
/// Default renewal window: a certificate expiring within this many days is re-issued.
///
/// ```
/// use k8s_bootstrap_core::pki::{CertBundle, Error, DEFAULT_RENEW_BEFORE_DAYS};
/// // The renewal window must be shorter than a leaf's life.
/// let err = CertBundle::builder().leaf_validity_days(DEFAULT_RENEW_BEFORE_DAYS).build().unwrap_err();
/// let Error::InvalidField { field, value, .. } = err else { panic!() };
/// assert_eq!((field.as_str(), value.as_str()), ("renew_before_days", "30"));
/// ```
pub const DEFAULT_RENEW_BEFORE_DAYS: i64 = 30;

/// Which files a bundle consists of.
///
/// ```
/// use k8s_bootstrap_core::pki::{CertBundle, CertId, EtcdMember, Layout};
/// let tutorial = CertBundle::builder()
///     .layout(Layout::Tutorial)
///     .members([EtcdMember::new("etcd01", ["192.168.1.30"]), EtcdMember::new("etcd02", ["192.168.1.31"])])
///     .build()?;
/// assert_eq!(tutorial.wanted(), [CertId::Ca, CertId::TutorialServer]); // ca.pem + server.pem
/// assert_eq!(serde_json::to_string(&Layout::PerMember).unwrap(), r#""per-member""#);
/// # Ok::<(), k8s_bootstrap_core::pki::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Layout {
    /// One server and one peer certificate per etcd member, plus separate
    /// admin and flanneld client certificates (the secure default).
    #[default]
    PerMember,
    /// Exactly the tutorial's files: `ca.pem`, `ca-key.pem`, `server.pem`,
    /// `server-key.pem`, one server certificate listing every member's
    /// addresses and used for server, peer and client auth, for people
    /// migrating from the tutorial.
    Tutorial,
}

/// An etcd member as the PKI sees it: a name and its addresses.
///
/// ```
/// use k8s_bootstrap_core::pki::EtcdMember;
/// let m = EtcdMember::new("etcd01", ["192.168.1.30"]).dns_name("etcd01.example.com");
/// assert_eq!(m.addresses, ["192.168.1.30", "etcd01.example.com"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EtcdMember {
    /// The member's name (etcd `--name`), also a SAN of its certificates.
    pub name: String,
    /// IP addresses and DNS names of the member; at least one IP address.
    pub addresses: Vec<String>,
}

impl EtcdMember {
    /// A member with a name and addresses (IPs or DNS names).
    ///
    /// ```
    /// use k8s_bootstrap_core::pki::EtcdMember;
    /// let m = EtcdMember::new("etcd01", ["192.168.1.30", "10.0.0.30"]);
    /// assert_eq!((m.name.as_str(), m.addresses.len()), ("etcd01", 2));
    /// ```
    pub fn new<I, S>(name: impl Into<String>, addresses: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        EtcdMember { name: name.into(), addresses: addresses.into_iter().map(Into::into).collect() }
    }

    /// Adds a DNS name (or another IP) to the member's addresses.
    ///
    /// ```
    /// use k8s_bootstrap_core::pki::{CertBundle, EtcdMember, KeyAlgorithm, inspect};
    /// let m = EtcdMember::new("etcd01", ["192.168.1.30"]).dns_name("etcd01.cluster.local");
    /// let issued = CertBundle::builder().key_algorithm(KeyAlgorithm::EcdsaP256).member(m).build()?.generate()?;
    /// let infos = inspect(&issued.as_existing(), time::OffsetDateTime::now_utc())?;
    /// let server = infos.iter().find(|i| i.path == "etcd01-server.pem").unwrap();
    /// assert!(server.sans.contains(&"etcd01.cluster.local".to_string()));
    /// # Ok::<(), k8s_bootstrap_core::pki::Error>(())
    /// ```
    #[must_use]
    pub fn dns_name(mut self, name: impl Into<String>) -> Self {
        self.addresses.push(name.into());
        self
    }
}

/// Extended key usages a leaf certificate may carry.
///
/// ```
/// use k8s_bootstrap_core::pki::ExtKeyUsage;
/// assert_eq!(serde_json::to_string(&ExtKeyUsage::ServerAuth).unwrap(), r#""server-auth""#);
/// assert!(ExtKeyUsage::ServerAuth < ExtKeyUsage::ClientAuth); // the order reports list them in
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExtKeyUsage {
    /// TLS web server authentication.
    ServerAuth,
    /// TLS web client authentication.
    ClientAuth,
}

/// The builder of a [`CertBundle`]. Every setter takes and returns the
/// builder; [`CertBundleBuilder::build`] validates everything at once and
/// names the first bad field with its value.
///
/// ```
/// use k8s_bootstrap_core::pki::{CertBundle, EtcdMember, KeyAlgorithm, Subject};
/// let bundle = CertBundle::builder()
///     .ca_subject(Subject::new("etcd CA").country("CN").state("Beijing").locality("Beijing"))
///     .key_algorithm(KeyAlgorithm::EcdsaP256)
///     .member(EtcdMember::new("etcd01", ["192.168.1.30"]))
///     .build()
///     .unwrap();
/// assert_eq!(bundle.wanted().len(), 5); // ca, server, peer, admin, flanneld
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct CertBundleBuilder {
    ca_subject: Subject,
    ca_validity_days: i64,
    leaf_validity_days: i64,
    renew_before_days: i64,
    key_algorithm: KeyAlgorithm,
    members: Vec<EtcdMember>,
    extra_sans: Vec<String>,
    admin_client: bool,
    flannel_client: bool,
    layout: Layout,
    tutorial_server_subject: Option<Subject>,
    external_ca: Option<(String, Option<String>)>,
    /// A CA key was given without its certificate ([`CertBundleBuilder::existing_ca_parts`]).
    orphan_ca_key: bool,
    replace_expiring_ca: bool,
    target_versions: (Option<MajorMinor>, Option<MajorMinor>),
}

/// A `(major, minor)` version.
type MajorMinor = (u32, u32);

impl Default for CertBundleBuilder {
    fn default() -> Self {
        CertBundleBuilder {
            ca_subject: Subject::new("etcd CA"),
            ca_validity_days: DEFAULT_CA_VALIDITY_DAYS,
            leaf_validity_days: DEFAULT_LEAF_VALIDITY_DAYS,
            renew_before_days: DEFAULT_RENEW_BEFORE_DAYS,
            key_algorithm: KeyAlgorithm::default(),
            members: Vec::new(),
            extra_sans: Vec::new(),
            admin_client: true,
            flannel_client: true,
            layout: Layout::PerMember,
            tutorial_server_subject: None,
            external_ca: None,
            orphan_ca_key: false,
            replace_expiring_ca: false,
            target_versions: (None, None),
        }
    }
}

impl CertBundleBuilder {
    /// The subject of a generated CA (default `CN=etcd CA`).
    ///
    /// ```
    /// use k8s_bootstrap_core::pki::{CertBundle, Error, Subject};
    /// let err = CertBundle::builder().ca_subject(Subject::new("")).build().unwrap_err();
    /// assert!(matches!(err, Error::InvalidField { field, .. } if field == "ca.subject.common_name"));
    /// ```
    pub fn ca_subject(mut self, s: Subject) -> Self {
        self.ca_subject = s;
        self
    }
    /// Validity of a generated CA in days (default 3650).
    ///
    /// ```
    /// use k8s_bootstrap_core::pki::{CertBundle, Error};
    /// // A leaf may not outlive a generated CA (default leaves: 365 days).
    /// let err = CertBundle::builder().ca_validity_days(180).build().unwrap_err();
    /// assert_eq!(err.to_string(), r#"invalid leaf_validity_days "365": must not exceed ca_validity_days (180)"#);
    /// assert!(CertBundle::builder().ca_validity_days(180).leaf_validity_days(90).build().is_ok());
    /// ```
    pub fn ca_validity_days(mut self, days: i64) -> Self {
        self.ca_validity_days = days;
        self
    }
    /// Validity of leaf certificates in days (default 365).
    ///
    /// ```
    /// use k8s_bootstrap_core::pki::{inspect, CertBundle, EtcdMember, KeyAlgorithm};
    /// let issued = CertBundle::builder()
    ///     .key_algorithm(KeyAlgorithm::EcdsaP256)
    ///     .leaf_validity_days(90)
    ///     .renew_before_days(15)
    ///     .member(EtcdMember::new("etcd01", ["192.168.1.30"]))
    ///     .build()?
    ///     .generate()?;
    /// let infos = inspect(&issued.as_existing(), time::OffsetDateTime::now_utc())?;
    /// assert!(infos.iter().filter(|i| !i.is_ca).all(|i| i.validity_days == 90));
    /// # Ok::<(), k8s_bootstrap_core::pki::Error>(())
    /// ```
    pub fn leaf_validity_days(mut self, days: i64) -> Self {
        self.leaf_validity_days = days;
        self
    }
    /// Certificates expiring within this many days are re-issued (default 30).
    ///
    /// ```
    /// use k8s_bootstrap_core::pki::{CertBundle, Change, EtcdMember, KeyAlgorithm};
    /// let b = |renew| CertBundle::builder().key_algorithm(KeyAlgorithm::EcdsaP256).renew_before_days(renew)
    ///     .member(EtcdMember::new("etcd01", ["192.168.1.30"])).build().unwrap();
    /// let first = b(30).generate()?;
    /// // 340 days later the leaves have 25 days left: outside a 20-day window, inside a 30-day one.
    /// let later = time::OffsetDateTime::now_utc() + time::Duration::days(340);
    /// assert_eq!(b(20).reconcile(&first.as_existing(), later)?.issued().count(), 0);
    /// let again = b(30).reconcile(&first.as_existing(), later)?;
    /// assert!(matches!(&again.actions[1].change, Change::Issued { reason } if reason.starts_with("expires in 2")));
    /// # Ok::<(), k8s_bootstrap_core::pki::Error>(())
    /// ```
    pub fn renew_before_days(mut self, days: i64) -> Self {
        self.renew_before_days = days;
        self
    }
    /// The key algorithm of every generated key (default RSA 2048).
    ///
    /// ```
    /// use k8s_bootstrap_core::pki::{inspect, CertBundle, EtcdMember, KeyAlgorithm};
    /// let issued = CertBundle::builder().key_algorithm(KeyAlgorithm::EcdsaP256)
    ///     .member(EtcdMember::new("etcd01", ["192.168.1.30"])).build()?.generate()?;
    /// let infos = inspect(&issued.as_existing(), time::OffsetDateTime::now_utc())?;
    /// assert!(infos.iter().all(|i| i.key_algorithm == "ecdsa-p256"));
    /// # Ok::<(), k8s_bootstrap_core::pki::Error>(())
    /// ```
    pub fn key_algorithm(mut self, alg: KeyAlgorithm) -> Self {
        self.key_algorithm = alg;
        self
    }
    /// Adds an etcd member.
    ///
    /// ```
    /// use k8s_bootstrap_core::pki::{CertBundle, CertId, EtcdMember};
    /// let bundle = CertBundle::builder().member(EtcdMember::new("etcd01", ["192.168.1.30"])).build()?;
    /// assert!(bundle.wanted().contains(&CertId::Peer("etcd01".into())));
    /// // A member needs an IP address: etcd checks a peer's IP against its certificate.
    /// assert!(CertBundle::builder().member(EtcdMember::new("etcd02", ["etcd02.example.com"])).build().is_err());
    /// # Ok::<(), k8s_bootstrap_core::pki::Error>(())
    /// ```
    pub fn member(mut self, m: EtcdMember) -> Self {
        self.members.push(m);
        self
    }
    /// Adds several etcd members.
    ///
    /// ```
    /// use k8s_bootstrap_core::pki::{CertBundle, EtcdMember};
    /// let bundle = CertBundle::builder()
    ///     .members((0..3).map(|i| EtcdMember::new(format!("etcd0{}", i + 1), [format!("192.168.1.{}", 30 + i)])))
    ///     .build()?;
    /// assert_eq!(bundle.wanted().len(), 1 + 3 * 2 + 2); // CA, server + peer each, admin, flanneld
    /// # Ok::<(), k8s_bootstrap_core::pki::Error>(())
    /// ```
    pub fn members(mut self, ms: impl IntoIterator<Item = EtcdMember>) -> Self {
        self.members.extend(ms);
        self
    }
    /// An extra SAN (IP or DNS name) added to every server and peer
    /// certificate, e.g. a load balancer's address.
    ///
    /// ```
    /// use k8s_bootstrap_core::pki::{inspect, CertBundle, EtcdMember, KeyAlgorithm};
    /// let issued = CertBundle::builder()
    ///     .key_algorithm(KeyAlgorithm::EcdsaP256)
    ///     .member(EtcdMember::new("etcd01", ["192.168.1.30"]))
    ///     .extra_san("192.168.1.100") // a load balancer in front of etcd
    ///     .build()?
    ///     .generate()?;
    /// let infos = inspect(&issued.as_existing(), time::OffsetDateTime::now_utc())?;
    /// let peer = infos.iter().find(|i| i.path == "etcd01-peer.pem").unwrap();
    /// assert!(peer.sans.contains(&"192.168.1.100".to_string()));
    /// # Ok::<(), k8s_bootstrap_core::pki::Error>(())
    /// ```
    pub fn extra_san(mut self, san: impl Into<String>) -> Self {
        self.extra_sans.push(san.into());
        self
    }
    /// Whether to issue the etcd admin client certificate (default true).
    ///
    /// ```
    /// use k8s_bootstrap_core::pki::{CertBundle, CertId, EtcdMember};
    /// let bundle = CertBundle::builder().member(EtcdMember::new("etcd01", ["192.168.1.30"])).admin_client(false).build()?;
    /// assert!(!bundle.wanted().contains(&CertId::AdminClient));
    /// # Ok::<(), k8s_bootstrap_core::pki::Error>(())
    /// ```
    pub fn admin_client(mut self, yes: bool) -> Self {
        self.admin_client = yes;
        self
    }
    /// Whether to issue the flanneld client certificate (default true).
    ///
    /// ```
    /// use k8s_bootstrap_core::pki::{CertBundle, CertId, EtcdMember};
    /// let bundle = CertBundle::builder().member(EtcdMember::new("etcd01", ["192.168.1.30"])).flannel_client(false).build()?;
    /// assert_eq!(bundle.wanted().last(), Some(&CertId::AdminClient));
    /// # Ok::<(), k8s_bootstrap_core::pki::Error>(())
    /// ```
    pub fn flannel_client(mut self, yes: bool) -> Self {
        self.flannel_client = yes;
        self
    }
    /// The file layout (default [`Layout::PerMember`]).
    ///
    /// ```
    /// use k8s_bootstrap_core::pki::{CertBundle, Error, Layout};
    /// // The tutorial's server.pem lists the members' addresses: it needs some.
    /// let err = CertBundle::builder().layout(Layout::Tutorial).build().unwrap_err();
    /// assert!(matches!(err, Error::InvalidField { field, .. } if field == "members"));
    /// ```
    pub fn layout(mut self, layout: Layout) -> Self {
        self.layout = layout;
        self
    }
    /// The subject of the tutorial layout's `server.pem` (default: CN `etcd`
    /// with the CA subject's other fields, as the tutorial's server-csr.json).
    ///
    /// ```
    /// use k8s_bootstrap_core::pki::{inspect_cert, CertBundle, EtcdMember, KeyAlgorithm, Layout, Subject};
    /// let issued = CertBundle::builder()
    ///     .layout(Layout::Tutorial)
    ///     .key_algorithm(KeyAlgorithm::EcdsaP256)
    ///     .ca_subject(Subject::new("etcd CA").country("CN"))
    ///     .tutorial_server_subject(Subject::new("etcd-server").country("CN"))
    ///     .member(EtcdMember::new("etcd01", ["192.168.1.30"]))
    ///     .build()?
    ///     .generate()?;
    /// let server = inspect_cert("server.pem", &issued.file("server.pem").unwrap().contents, time::OffsetDateTime::now_utc())?;
    /// assert_eq!((server.subject.as_str(), server.issuer.as_str()), ("C=CN, CN=etcd-server", "C=CN, CN=etcd CA"));
    /// # Ok::<(), k8s_bootstrap_core::pki::Error>(())
    /// ```
    pub fn tutorial_server_subject(mut self, s: Subject) -> Self {
        self.tutorial_server_subject = Some(s);
        self
    }
    /// Signs leaves with an existing CA (PEM certificate and, to issue new
    /// leaves, its PEM private key) instead of generating one.
    ///
    /// ```
    /// use k8s_bootstrap_core::pki::{CertBundle, Change, EtcdMember, Error, KeyAlgorithm};
    /// // Your own CA (here: one made by an earlier bundle).
    /// let ours = CertBundle::builder().key_algorithm(KeyAlgorithm::EcdsaP256).build()?.generate()?;
    /// let pem = |p: &str| String::from_utf8(ours.file(p).unwrap().contents.clone()).unwrap();
    /// let issued = CertBundle::builder()
    ///     .key_algorithm(KeyAlgorithm::EcdsaP256)
    ///     .existing_ca(pem("ca.pem"), Some(pem("ca-key.pem")))
    ///     .member(EtcdMember::new("etcd01", ["192.168.1.30"]))
    ///     .build()?
    ///     .generate()?;
    /// assert_eq!(issued.actions[0].change, Change::Imported);
    /// assert_eq!(issued.file("ca.pem").unwrap().contents, ours.file("ca.pem").unwrap().contents);
    /// // A leaf certificate is not a CA.
    /// let err = CertBundle::builder().existing_ca(pem("admin.pem"), None).build().unwrap_err();
    /// assert!(matches!(err, Error::NotACa { .. }));
    /// # Ok::<(), k8s_bootstrap_core::pki::Error>(())
    /// ```
    pub fn existing_ca(mut self, cert_pem: impl Into<String>, key_pem: Option<String>) -> Self {
        self.external_ca = Some((cert_pem.into(), key_pem));
        self.orphan_ca_key = false;
        self
    }
    /// [`existing_ca`](Self::existing_ca) from parts that may each be
    /// missing, as front ends take them (Python's `existing_ca_cert=` and
    /// `existing_ca_key=`): neither is no existing CA, a certificate alone is
    /// an external CA, and a key without its certificate is refused by
    /// [`build`](Self::build).
    ///
    /// ```
    /// use k8s_bootstrap_core::pki::{CertBundle, Error};
    /// let b = CertBundle::builder().existing_ca_parts(None, None).build()?; // a CA of its own
    /// assert_eq!(b.wanted()[0].stem(), "ca");
    /// let err = CertBundle::builder().existing_ca_parts(None, Some("-----BEGIN PRIVATE KEY-----".into())).build().unwrap_err();
    /// assert!(matches!(&err, Error::InvalidField { field, value, .. } if field == "existing_ca.key" && value == "<private key>"));
    /// # Ok::<(), k8s_bootstrap_core::pki::Error>(())
    /// ```
    pub fn existing_ca_parts(mut self, cert_pem: Option<String>, key_pem: Option<String>) -> Self {
        self.orphan_ca_key = cert_pem.is_none() && key_pem.is_some();
        self.external_ca = cert_pem.map(|c| (c, key_pem));
        self
    }
    /// Allows replacing a CA that is expired or expires within the renewal
    /// window (every leaf is then re-issued). Off by default: an expiring CA
    /// is an error, never replaced silently.
    ///
    /// ```
    /// use k8s_bootstrap_core::pki::{CertBundle, Change, Error, KeyAlgorithm};
    /// let b = |replace| CertBundle::builder().key_algorithm(KeyAlgorithm::EcdsaP256).ca_validity_days(400)
    ///     .replace_expiring_ca(replace).build().unwrap();
    /// let first = b(false).generate()?;
    /// let later = time::OffsetDateTime::now_utc() + time::Duration::days(390); // 10 days left
    /// assert!(matches!(b(false).reconcile(&first.as_existing(), later), Err(Error::CaExpiring { .. })));
    /// let rotated = b(true).reconcile(&first.as_existing(), later)?;
    /// assert!(matches!(&rotated.actions[0].change, Change::Issued { .. }));
    /// # Ok::<(), k8s_bootstrap_core::pki::Error>(())
    /// ```
    pub fn replace_expiring_ca(mut self, yes: bool) -> Self {
        self.replace_expiring_ca = yes;
        self
    }
    /// The etcd and flannel `(major, minor)` versions the certificates are
    /// for, used to warn about key algorithms their TLS stack lacks.
    ///
    /// ```
    /// use k8s_bootstrap_core::pki::{CertBundle, KeyAlgorithm};
    /// let b = CertBundle::builder().key_algorithm(KeyAlgorithm::Ed25519);
    /// assert!(b.clone().build()?.warnings().is_empty());
    /// let old = b.target_versions(Some((3, 3)), Some((0, 11))).build()?;
    /// assert!(old.warnings()[0].contains("etcd 3.3 and flannel 0.11"));
    /// # Ok::<(), k8s_bootstrap_core::pki::Error>(())
    /// ```
    pub fn target_versions(mut self, etcd: Option<(u32, u32)>, flannel: Option<(u32, u32)>) -> Self {
        self.target_versions = (etcd, flannel);
        self
    }

    /// Validates every input and returns the bundle description.
    ///
    /// ```
    /// use k8s_bootstrap_core::pki::{CertBundle, EtcdMember, Error};
    /// let err = CertBundle::builder()
    ///     .members([EtcdMember::new("etcd01", ["192.168.1.30"]), EtcdMember::new("etcd02", ["192.168.1.30"])])
    ///     .build()
    ///     .unwrap_err();
    /// let Error::InvalidField { field, reason, .. } = err else { panic!() };
    /// assert_eq!(field, "members[1].addresses[0]");
    /// assert_eq!(reason, "address already used by member etcd01");
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidField`] naming the field (`members[1].addresses[0]`,
    /// `ca.subject.common_name`, `leaf_validity_days`, ...) and its value;
    /// [`Error::BadPem`], [`Error::NotACa`] or [`Error::CaKeyMismatch`] for a
    /// bad existing CA; [`Error::InvalidField`] `existing_ca.key` for a CA key
    /// without its certificate.
    pub fn build(self) -> Result<CertBundle> {
        if self.orphan_ca_key {
            return Err(Error::invalid("existing_ca.key", "<private key>", "a CA key needs its certificate (existing_ca.cert)"));
        }
        validate::check_subject("ca.subject", &self.ca_subject)?;
        validate::check_validity("ca_validity_days", self.ca_validity_days)?;
        validate::check_validity("leaf_validity_days", self.leaf_validity_days)?;
        if self.external_ca.is_none() && self.leaf_validity_days > self.ca_validity_days {
            return Err(Error::invalid(
                "leaf_validity_days",
                self.leaf_validity_days.to_string(),
                format!("must not exceed ca_validity_days ({})", self.ca_validity_days),
            ));
        }
        if self.renew_before_days < 0 || self.renew_before_days >= self.leaf_validity_days {
            return Err(Error::invalid(
                "renew_before_days",
                self.renew_before_days.to_string(),
                format!("must be between 0 and leaf_validity_days - 1 ({})", self.leaf_validity_days - 1),
            ));
        }
        if let Some(s) = &self.tutorial_server_subject {
            validate::check_subject("tutorial_server_subject", s)?;
        }

        let mut names = BTreeMap::new();
        let mut ips: BTreeMap<IpAddr, String> = BTreeMap::new();
        let mut members = Vec::with_capacity(self.members.len());
        for (i, m) in self.members.iter().enumerate() {
            validate::check_member_name(&format!("members[{i}].name"), &m.name)?;
            if let Some(prev) = names.insert(m.name.clone(), i) {
                return Err(Error::invalid(
                    format!("members[{i}].name"),
                    &m.name,
                    format!("duplicate member name (also members[{prev}].name)"),
                ));
            }
            let mut sans = BTreeSet::new();
            for (j, a) in m.addresses.iter().enumerate() {
                let field = format!("members[{i}].addresses[{j}]");
                let san = validate::parse_san(&field, a)?;
                if let San::Ip(ip) = san {
                    if ip.is_unspecified() || ip.is_multicast() {
                        return Err(Error::invalid(field, a, "not a unicast address a member can be reached at"));
                    }
                    if !ip.is_loopback()
                        && let Some(other) = ips.insert(ip, m.name.clone())
                        && other != m.name
                    {
                        return Err(Error::invalid(field, a, format!("address already used by member {other}")));
                    }
                }
                sans.insert(san);
            }
            if !sans.iter().any(|s| matches!(s, San::Ip(_))) {
                return Err(Error::invalid(
                    format!("members[{i}].addresses"),
                    format!("{:?}", m.addresses),
                    "at least one IP address is needed: etcd checks a peer's IP against its certificate",
                ));
            }
            members.push((m.name.clone(), sans));
        }
        let mut extra = BTreeSet::new();
        for (i, s) in self.extra_sans.iter().enumerate() {
            extra.insert(validate::parse_san(&format!("extra_sans[{i}]"), s)?);
        }
        if self.layout == Layout::Tutorial && members.is_empty() && extra.is_empty() {
            return Err(Error::invalid(
                "members",
                "[]",
                "the tutorial layout's server.pem needs the members' addresses",
            ));
        }

        let external_ca = match self.external_ca {
            None => None,
            Some((cert, key)) => Some(super::issue::LoadedCa::load("existing_ca.cert", &cert, "existing_ca.key", key.as_deref())?),
        };

        let mut warnings = Vec::new();
        if let Some(w) = self.key_algorithm.compatibility_warning(self.target_versions.0, self.target_versions.1) {
            warnings.push(w);
        }
        if members.len() % 2 == 0 && !members.is_empty() {
            warnings.push(format!(
                "{} etcd members: an even member count tolerates no more failures than one member fewer",
                members.len()
            ));
        }

        Ok(CertBundle {
            ca_subject: self.ca_subject,
            ca_validity_days: self.ca_validity_days,
            leaf_validity_days: self.leaf_validity_days,
            renew_before_days: self.renew_before_days,
            key_algorithm: self.key_algorithm,
            members,
            extra_sans: extra,
            admin_client: self.admin_client,
            flannel_client: self.flannel_client,
            layout: self.layout,
            tutorial_server_subject: self.tutorial_server_subject,
            external_ca,
            replace_expiring_ca: self.replace_expiring_ca,
            warnings,
            cfssl: None,
        })
    }
}

/// Overrides taken from cfssl JSON inputs (see [`super::cfssl`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CfsslOverrides {
    pub server_key_algorithm: KeyAlgorithm,
    pub server_validity_days: i64,
    pub server_key_usages: Vec<KeyUsage>,
    pub server_ext_key_usages: BTreeSet<ExtKeyUsage>,
}

/// Key usages the bundle issues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum KeyUsage {
    DigitalSignature,
    KeyEncipherment,
    KeyCertSign,
    CrlSign,
}

/// A validated description of every certificate of a cluster. Build it with
/// [`CertBundle::builder`], then [`CertBundle::generate`] or
/// [`CertBundle::reconcile`] to get the files.
///
/// The bundle does no I/O: existing files come in as a map and new files go
/// out as [`super::BundleFile`] values.
///
/// ```
/// use k8s_bootstrap_core::pki::{CertBundle, CertId, Change, EtcdMember, KeyAlgorithm};
/// let bundle = CertBundle::builder()
///     .key_algorithm(KeyAlgorithm::EcdsaP256)
///     .members([EtcdMember::new("etcd01", ["192.168.1.30"]), EtcdMember::new("etcd02", ["192.168.1.31"])])
///     .build()?;
/// let now = time::OffsetDateTime::now_utc();
/// let first = bundle.generate()?;
/// assert_eq!(first.file("etcd01-server-key.pem").unwrap().mode, 0o600);
///
/// // Later: a member's address changed. Only its certificates are re-issued, with the reason.
/// let moved = CertBundle::builder()
///     .key_algorithm(KeyAlgorithm::EcdsaP256)
///     .members([EtcdMember::new("etcd01", ["192.168.1.30"]), EtcdMember::new("etcd02", ["192.168.1.41"])])
///     .build()?
///     .reconcile(&first.as_existing(), now)?;
/// let reissued: Vec<&CertId> = moved.issued().map(|a| &a.id).collect();
/// assert_eq!(reissued, [&CertId::Server("etcd02".into()), &CertId::Peer("etcd02".into())]);
/// assert!(matches!(&moved.actions[0].change, Change::Kept)); // the CA is kept
/// # Ok::<(), k8s_bootstrap_core::pki::Error>(())
/// ```
#[derive(Debug)]
pub struct CertBundle {
    pub(crate) ca_subject: Subject,
    pub(crate) ca_validity_days: i64,
    pub(crate) leaf_validity_days: i64,
    pub(crate) renew_before_days: i64,
    pub(crate) key_algorithm: KeyAlgorithm,
    pub(crate) members: Vec<(String, BTreeSet<San>)>,
    pub(crate) extra_sans: BTreeSet<San>,
    pub(crate) admin_client: bool,
    pub(crate) flannel_client: bool,
    pub(crate) layout: Layout,
    pub(crate) tutorial_server_subject: Option<Subject>,
    pub(crate) external_ca: Option<super::issue::LoadedCa>,
    pub(crate) replace_expiring_ca: bool,
    pub(crate) warnings: Vec<String>,
    pub(crate) cfssl: Option<CfsslOverrides>,
}

/// What one leaf certificate must look like.
#[derive(Debug, Clone)]
pub(crate) struct LeafSpec {
    pub id: CertId,
    pub subject: Subject,
    pub sans: BTreeSet<San>,
    pub key_usages: Vec<KeyUsage>,
    pub ext_key_usages: BTreeSet<ExtKeyUsage>,
    pub key_algorithm: KeyAlgorithm,
    pub validity_days: i64,
}

impl CertBundle {
    /// A builder with the defaults (RSA 2048, CA `CN=etcd CA` for 10 years,
    /// leaves for 1 year, renewal 30 days before expiry, per-member layout,
    /// admin and flanneld client certificates).
    ///
    /// ```
    /// use k8s_bootstrap_core::pki::{CertBundle, CertId, KeyAlgorithm, Layout};
    /// let bundle = CertBundle::builder().build()?; // no member: a CA and the two client certs
    /// assert_eq!((bundle.layout(), bundle.key_algorithm()), (Layout::PerMember, KeyAlgorithm::Rsa2048));
    /// assert_eq!(bundle.wanted(), [CertId::Ca, CertId::AdminClient, CertId::FlannelClient]);
    /// # Ok::<(), k8s_bootstrap_core::pki::Error>(())
    /// ```
    pub fn builder() -> CertBundleBuilder {
        CertBundleBuilder::default()
    }

    /// Warnings found while validating (key algorithm vs versions, even
    /// member count).
    ///
    /// ```
    /// use k8s_bootstrap_core::pki::{CertBundle, EtcdMember};
    /// let two = CertBundle::builder()
    ///     .members([EtcdMember::new("etcd01", ["192.168.1.30"]), EtcdMember::new("etcd02", ["192.168.1.31"])])
    ///     .build()?;
    /// assert!(two.warnings()[0].starts_with("2 etcd members: an even member count"));
    /// # Ok::<(), k8s_bootstrap_core::pki::Error>(())
    /// ```
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The layout of this bundle.
    ///
    /// ```
    /// use k8s_bootstrap_core::pki::{CertBundle, EtcdMember, Layout};
    /// let b = CertBundle::builder().layout(Layout::Tutorial).member(EtcdMember::new("etcd01", ["192.168.1.30"])).build()?;
    /// assert_eq!(b.layout(), Layout::Tutorial);
    /// # Ok::<(), k8s_bootstrap_core::pki::Error>(())
    /// ```
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The key algorithm of generated keys.
    ///
    /// ```
    /// use k8s_bootstrap_core::pki::{CertBundle, KeyAlgorithm};
    /// assert_eq!(CertBundle::builder().key_algorithm(KeyAlgorithm::EcdsaP384).build()?.key_algorithm(), KeyAlgorithm::EcdsaP384);
    /// # Ok::<(), k8s_bootstrap_core::pki::Error>(())
    /// ```
    pub fn key_algorithm(&self) -> KeyAlgorithm {
        self.key_algorithm
    }

    /// Every certificate the bundle consists of, CA first.
    ///
    /// ```
    /// use k8s_bootstrap_core::pki::{CertBundle, EtcdMember};
    /// let b = CertBundle::builder().member(EtcdMember::new("etcd01", ["192.168.1.30"])).build()?;
    /// let files: Vec<String> = b.wanted().iter().map(|id| id.cert_file()).collect();
    /// assert_eq!(files, ["ca.pem", "etcd01-server.pem", "etcd01-peer.pem", "admin.pem", "flanneld.pem"]);
    /// # Ok::<(), k8s_bootstrap_core::pki::Error>(())
    /// ```
    pub fn wanted(&self) -> Vec<CertId> {
        let mut v = vec![CertId::Ca];
        v.extend(self.leaf_specs().into_iter().map(|l| l.id));
        v
    }

    fn leaf_subject(&self, cn: &str) -> Subject {
        Subject { common_name: cn.to_string(), ..self.ca_subject.clone() }
    }

    fn default_key_usages(alg: KeyAlgorithm) -> Vec<KeyUsage> {
        match alg {
            KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096 => {
                vec![KeyUsage::DigitalSignature, KeyUsage::KeyEncipherment]
            }
            _ => vec![KeyUsage::DigitalSignature],
        }
    }

    /// The leaf certificates of this bundle with everything they must carry.
    pub(crate) fn leaf_specs(&self) -> Vec<LeafSpec> {
        let both: BTreeSet<_> = [ExtKeyUsage::ServerAuth, ExtKeyUsage::ClientAuth].into();
        let client: BTreeSet<_> = [ExtKeyUsage::ClientAuth].into();
        let leaf = |id, subject, sans, ekus: &BTreeSet<ExtKeyUsage>| LeafSpec {
            id,
            subject,
            sans,
            key_usages: Self::default_key_usages(self.key_algorithm),
            ext_key_usages: ekus.clone(),
            key_algorithm: self.key_algorithm,
            validity_days: self.leaf_validity_days,
        };
        let mut out = Vec::new();
        match self.layout {
            Layout::Tutorial => {
                let mut sans: BTreeSet<San> = self.members.iter().flat_map(|(_, s)| s.iter().cloned()).collect();
                sans.extend(self.extra_sans.iter().cloned());
                let subject = self.tutorial_server_subject.clone().unwrap_or_else(|| self.leaf_subject("etcd"));
                let mut spec = leaf(CertId::TutorialServer, subject, sans, &both);
                // cfssl's "signing" + "key encipherment", as the tutorial's profile.
                spec.key_usages = vec![KeyUsage::DigitalSignature, KeyUsage::KeyEncipherment];
                if let Some(c) = &self.cfssl {
                    spec.key_algorithm = c.server_key_algorithm;
                    spec.validity_days = c.server_validity_days;
                    spec.key_usages = c.server_key_usages.clone();
                    spec.ext_key_usages = c.server_ext_key_usages.clone();
                }
                out.push(spec);
            }
            Layout::PerMember => {
                for (name, member_sans) in &self.members {
                    let mut sans = member_sans.clone();
                    sans.insert(San::Dns(name.to_ascii_lowercase()));
                    sans.insert(San::Dns("localhost".into()));
                    sans.insert(San::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST)));
                    sans.insert(San::Ip(IpAddr::V6(Ipv6Addr::LOCALHOST)));
                    sans.extend(self.extra_sans.iter().cloned());
                    // A member name with '_' is not a DNS name: keep it out of the SANs.
                    sans.retain(|s| !matches!(s, San::Dns(d) if !validate::is_dns_name(d)));
                    out.push(leaf(CertId::Server(name.clone()), self.leaf_subject(name), sans.clone(), &both));
                    out.push(leaf(CertId::Peer(name.clone()), self.leaf_subject(name), sans, &both));
                }
                if self.admin_client {
                    out.push(leaf(CertId::AdminClient, self.leaf_subject("etcd-admin"), BTreeSet::new(), &client));
                }
                if self.flannel_client {
                    out.push(leaf(CertId::FlannelClient, self.leaf_subject("flanneld"), BTreeSet::new(), &client));
                }
            }
        }
        out
    }
}
