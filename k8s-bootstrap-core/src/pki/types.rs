//! Plain data types of the PKI: key algorithms, subjects, certificate names
//! and the files a bundle consists of.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The key algorithm of a CA or leaf key.
///
/// The default is RSA 2048, the tutorial's choice and the one every etcd and
/// flannel release can use. Trade-offs:
/// - RSA 3072/4096: stronger, slower to generate (4096 takes about a second)
///   and to handshake.
/// - ECDSA P-256/P-384: small keys, fast handshakes; supported by every etcd
///   and flannel release.
/// - Ed25519: smallest and fastest, but Go only supports it in TLS since
///   Go 1.13, so etcd 3.3 and flannel 0.11 (built with older Go) cannot use
///   it; see [`KeyAlgorithm::compatibility_warning`].
///
/// ```
/// use k8s_bootstrap_core::pki::KeyAlgorithm;
/// let alg: KeyAlgorithm = "ecdsa-p256".parse().unwrap();
/// assert_eq!(alg, KeyAlgorithm::EcdsaP256);
/// assert_eq!(KeyAlgorithm::default().to_string(), "rsa-2048");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyAlgorithm {
    /// RSA with a 2048-bit modulus (default).
    #[default]
    #[serde(rename = "rsa-2048")]
    Rsa2048,
    /// RSA with a 3072-bit modulus.
    #[serde(rename = "rsa-3072")]
    Rsa3072,
    /// RSA with a 4096-bit modulus.
    #[serde(rename = "rsa-4096")]
    Rsa4096,
    /// ECDSA on NIST P-256 with SHA-256.
    #[serde(rename = "ecdsa-p256")]
    EcdsaP256,
    /// ECDSA on NIST P-384 with SHA-384.
    #[serde(rename = "ecdsa-p384")]
    EcdsaP384,
    /// Ed25519.
    #[serde(rename = "ed25519")]
    Ed25519,
}

impl KeyAlgorithm {
    /// Every algorithm, in the order of the docs.
    ///
    /// ```
    /// use k8s_bootstrap_core::pki::KeyAlgorithm;
    /// assert_eq!(KeyAlgorithm::ALL[0], KeyAlgorithm::default());
    /// // Every name parses back to its algorithm (what the spec and the CLI accept).
    /// for alg in KeyAlgorithm::ALL {
    ///     assert_eq!(alg.as_str().parse::<KeyAlgorithm>().unwrap(), alg);
    /// }
    /// ```
    pub const ALL: [KeyAlgorithm; 6] = [
        KeyAlgorithm::Rsa2048,
        KeyAlgorithm::Rsa3072,
        KeyAlgorithm::Rsa4096,
        KeyAlgorithm::EcdsaP256,
        KeyAlgorithm::EcdsaP384,
        KeyAlgorithm::Ed25519,
    ];

    /// The stable name used in specs and on the command line (`rsa-2048`, ...).
    ///
    /// ```
    /// use k8s_bootstrap_core::pki::KeyAlgorithm;
    /// assert_eq!(KeyAlgorithm::EcdsaP384.as_str(), "ecdsa-p384");
    /// assert_eq!(serde_json::to_string(&KeyAlgorithm::Rsa4096).unwrap(), r#""rsa-4096""#); // same name in YAML/JSON
    /// assert!("rsa-1024".parse::<KeyAlgorithm>().is_err());
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            KeyAlgorithm::Rsa2048 => "rsa-2048",
            KeyAlgorithm::Rsa3072 => "rsa-3072",
            KeyAlgorithm::Rsa4096 => "rsa-4096",
            KeyAlgorithm::EcdsaP256 => "ecdsa-p256",
            KeyAlgorithm::EcdsaP384 => "ecdsa-p384",
            KeyAlgorithm::Ed25519 => "ed25519",
        }
    }

    /// A warning when this algorithm cannot be used by clients built with
    /// old Go releases: etcd before 3.4 and flannel before 0.12 do not
    /// support Ed25519 in TLS. `etcd` and `flannel` are `(major, minor)`
    /// versions, `None` when unknown.
    ///
    /// ```
    /// use k8s_bootstrap_core::pki::KeyAlgorithm;
    /// assert!(KeyAlgorithm::Ed25519.compatibility_warning(Some((3, 3)), None).is_some());
    /// assert!(KeyAlgorithm::Ed25519.compatibility_warning(Some((3, 5)), Some((0, 26))).is_none());
    /// assert!(KeyAlgorithm::Rsa2048.compatibility_warning(Some((3, 3)), Some((0, 11))).is_none());
    /// ```
    pub fn compatibility_warning(
        self,
        etcd: Option<(u32, u32)>,
        flannel: Option<(u32, u32)>,
    ) -> Option<String> {
        if self != KeyAlgorithm::Ed25519 {
            return None;
        }
        let mut old = Vec::new();
        if let Some((ma, mi)) = etcd
            && (ma, mi) < (3, 4)
        {
            old.push(format!("etcd {ma}.{mi}"));
        }
        if let Some((ma, mi)) = flannel
            && (ma, mi) < (0, 12)
        {
            old.push(format!("flannel {ma}.{mi}"));
        }
        if old.is_empty() {
            None
        } else {
            Some(format!(
                "key algorithm ed25519 is not supported by the TLS stack of {} (built with Go < 1.13); \
                 use ecdsa-p256 or rsa-2048",
                old.join(" and ")
            ))
        }
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for KeyAlgorithm {
    type Err = crate::pki::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        KeyAlgorithm::ALL
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| crate::pki::Error::invalid(
                "key_algorithm",
                s,
                "expected one of rsa-2048, rsa-3072, rsa-4096, ecdsa-p256, ecdsa-p384, ed25519",
            ))
    }
}

/// The distinguished name of a certificate, as in cfssl's `CN` + `names`.
///
/// ```
/// use k8s_bootstrap_core::pki::Subject;
/// let s = Subject::new("etcd CA").country("CN").state("Beijing").locality("Beijing");
/// assert_eq!(s.common_name, "etcd CA");
/// assert_eq!(s.country.as_deref(), Some("CN"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subject {
    /// CN: the common name. Must not be empty.
    pub common_name: String,
    /// O: the organization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    /// OU: the organizational unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organizational_unit: Option<String>,
    /// C: the two-letter country code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// ST: the state or province.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// L: the locality (city).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locality: Option<String>,
}

impl Subject {
    /// A subject with only a common name.
    ///
    /// ```
    /// use k8s_bootstrap_core::pki::Subject;
    /// let s = Subject::new("etcd CA");
    /// assert_eq!((s.organization, s.country), (None, None));
    /// assert_eq!(Subject::new("etcd CA").to_string(), "CN=etcd CA");
    /// ```
    pub fn new(common_name: impl Into<String>) -> Self {
        Subject { common_name: common_name.into(), ..Subject::default() }
    }
    /// Sets O.
    ///
    /// ```
    /// use k8s_bootstrap_core::pki::Subject;
    /// let s = Subject::new("etcd CA").organization("k8s");
    /// assert_eq!(s.to_string(), "O=k8s, CN=etcd CA");
    /// ```
    #[must_use]
    pub fn organization(mut self, v: impl Into<String>) -> Self {
        self.organization = Some(v.into());
        self
    }
    /// Sets OU.
    ///
    /// ```
    /// use k8s_bootstrap_core::pki::Subject;
    /// let s = Subject::new("etcd CA").organization("k8s").organizational_unit("System");
    /// assert_eq!(s.to_string(), "O=k8s, OU=System, CN=etcd CA");
    /// ```
    #[must_use]
    pub fn organizational_unit(mut self, v: impl Into<String>) -> Self {
        self.organizational_unit = Some(v.into());
        self
    }
    /// Sets C.
    ///
    /// ```
    /// use k8s_bootstrap_core::pki::Subject;
    /// assert_eq!(Subject::new("etcd CA").country("CN").to_string(), "C=CN, CN=etcd CA");
    /// ```
    #[must_use]
    pub fn country(mut self, v: impl Into<String>) -> Self {
        self.country = Some(v.into());
        self
    }
    /// Sets ST.
    ///
    /// ```
    /// use k8s_bootstrap_core::pki::Subject;
    /// assert_eq!(Subject::new("etcd CA").state("Beijing").to_string(), "ST=Beijing, CN=etcd CA");
    /// ```
    #[must_use]
    pub fn state(mut self, v: impl Into<String>) -> Self {
        self.state = Some(v.into());
        self
    }
    /// Sets L.
    ///
    /// ```
    /// use k8s_bootstrap_core::pki::Subject;
    /// // The tutorial's ca-csr.json names, in OpenSSL's order whatever the call order.
    /// let s = Subject::new("etcd CA").locality("Beijing").state("Beijing").country("CN");
    /// assert_eq!(s.to_string(), "C=CN, ST=Beijing, L=Beijing, CN=etcd CA");
    /// ```
    #[must_use]
    pub fn locality(mut self, v: impl Into<String>) -> Self {
        self.locality = Some(v.into());
        self
    }
}

impl fmt::Display for Subject {
    /// OpenSSL-like one-line form: `C=CN, ST=Beijing, L=Beijing, O=.., OU=.., CN=etcd CA`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        for (k, v) in [
            ("C", &self.country),
            ("ST", &self.state),
            ("L", &self.locality),
            ("O", &self.organization),
            ("OU", &self.organizational_unit),
        ] {
            if let Some(v) = v {
                parts.push(format!("{k}={v}"));
            }
        }
        parts.push(format!("CN={}", self.common_name));
        f.write_str(&parts.join(", "))
    }
}

/// One file of a generated bundle: a path relative to the bundle's root,
/// its bytes and its Unix mode (private keys 0600, certificates 0644).
///
/// Its `Debug` output never shows the contents of a private key.
///
/// ```
/// use k8s_bootstrap_core::pki::{CertBundle, EtcdMember, KeyAlgorithm};
/// let issued = CertBundle::builder()
///     .key_algorithm(KeyAlgorithm::EcdsaP256)
///     .member(EtcdMember::new("etcd01", ["192.168.1.30"]))
///     .build()?
///     .generate()?;
/// let (cert, key) = (issued.file("admin.pem").unwrap(), issued.file("admin-key.pem").unwrap());
/// assert_eq!((cert.mode, cert.secret, key.mode, key.secret), (0o644, false, 0o600, true));
/// assert!(cert.contents.starts_with(b"-----BEGIN CERTIFICATE-----"));
/// assert!(format!("{key:?}").contains("<redacted private key>"));
/// # Ok::<(), k8s_bootstrap_core::pki::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct BundleFile {
    /// Path relative to the bundle root, `/`-separated (`ca.pem`, `tutorial/server-key.pem`).
    pub path: String,
    /// The file's bytes (PEM text).
    pub contents: Vec<u8>,
    /// Unix permission bits: 0o600 for keys, 0o644 for certificates.
    pub mode: u32,
    /// Whether this file holds a private key (never print or log it).
    pub secret: bool,
}

impl fmt::Debug for BundleFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("BundleFile");
        d.field("path", &self.path).field("mode", &format_args!("{:#o}", self.mode));
        if self.secret {
            d.field("contents", &"<redacted private key>");
        } else {
            d.field("contents", &format_args!("<{} bytes>", self.contents.len()));
        }
        d.finish()
    }
}
