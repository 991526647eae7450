//! Migration from the tutorial's cfssl inputs: `ca-config.json`,
//! `ca-csr.json` and `server-csr.json` become an equivalent [`CertBundle`]
//! in the tutorial layout.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use super::bundle::{CfsslOverrides, ExtKeyUsage, KeyUsage, Layout};
use super::{CertBundle, Error, KeyAlgorithm, Result, Subject};

/// cfssl's default CA validity for `gencert -initca` (43800h, 5 years).
///
/// ```
/// use k8s_bootstrap_core::pki::cfssl::{CfsslImport, CFSSL_DEFAULT_CA_EXPIRY_HOURS};
/// // ca-csr.json without a "ca": {"expiry": ...} section gets cfssl's default.
/// let import = CfsslImport::parse(
///     r#"{"signing":{"default":{"expiry":"87600h"}}}"#,
///     r#"{"CN":"etcd CA","key":{"algo":"ecdsa","size":256}}"#,
///     r#"{"CN":"etcd","hosts":["192.168.1.30"],"key":{"algo":"ecdsa","size":256}}"#,
///     None,
/// )?;
/// assert_eq!(import.ca_validity_days, CFSSL_DEFAULT_CA_EXPIRY_HOURS / 24); // 1825 days
/// # Ok::<(), k8s_bootstrap_core::pki::Error>(())
/// ```
pub const CFSSL_DEFAULT_CA_EXPIRY_HOURS: i64 = 43_800;
/// cfssl's default leaf validity when the config names none (8760h, 1 year).
///
/// ```
/// use k8s_bootstrap_core::pki::cfssl::{CfsslImport, CFSSL_DEFAULT_EXPIRY_HOURS};
/// // A ca-config.json whose profile and default section name no expiry.
/// let import = CfsslImport::parse(
///     r#"{"signing":{"profiles":{"www":{"usages":["signing","key encipherment","server auth"]}}}}"#,
///     r#"{"CN":"etcd CA"}"#,
///     r#"{"CN":"etcd","hosts":["192.168.1.30"]}"#,
///     Some("www"),
/// )?;
/// assert_eq!(import.server_validity_days, CFSSL_DEFAULT_EXPIRY_HOURS / 24); // 365 days
/// # Ok::<(), k8s_bootstrap_core::pki::Error>(())
/// ```
pub const CFSSL_DEFAULT_EXPIRY_HOURS: i64 = 8_760;

#[derive(Debug, Deserialize)]
struct CaConfig {
    signing: Signing,
}

#[derive(Debug, Deserialize)]
struct Signing {
    #[serde(default)]
    default: Option<Profile>,
    #[serde(default)]
    profiles: BTreeMap<String, Profile>,
}

#[derive(Debug, Deserialize, Clone)]
struct Profile {
    #[serde(default)]
    expiry: Option<String>,
    #[serde(default)]
    usages: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
struct Csr {
    #[serde(rename = "CN")]
    cn: String,
    #[serde(default)]
    hosts: Vec<String>,
    #[serde(default)]
    key: Option<KeySpec>,
    #[serde(default)]
    names: Vec<Name>,
    #[serde(default)]
    ca: Option<CaSection>,
}

#[derive(Debug, Deserialize)]
struct KeySpec {
    algo: String,
    size: u32,
}

#[derive(Debug, Deserialize, Default)]
struct Name {
    #[serde(rename = "C", default)]
    c: Option<String>,
    #[serde(rename = "ST", default)]
    st: Option<String>,
    #[serde(rename = "L", default)]
    l: Option<String>,
    #[serde(rename = "O", default)]
    o: Option<String>,
    #[serde(rename = "OU", default)]
    ou: Option<String>,
}

#[derive(Debug, Deserialize)]
struct CaSection {
    #[serde(default)]
    expiry: Option<String>,
}

fn cfssl_err(file: &str, field: impl Into<String>, reason: impl Into<String>) -> Error {
    Error::Cfssl { file: file.into(), field: field.into(), reason: reason.into() }
}

/// Parses a Go duration as cfssl writes expiries (`87600h`, `8760h30m`,
/// `720h0m0s`) into whole hours, rounding up.
///
/// ```
/// use k8s_bootstrap_core::pki::cfssl::parse_go_duration_hours;
/// assert_eq!(parse_go_duration_hours("87600h"), Some(87600));
/// assert_eq!(parse_go_duration_hours("1h30m"), Some(2));
/// assert_eq!(parse_go_duration_hours("ten years"), None);
/// ```
pub fn parse_go_duration_hours(s: &str) -> Option<i64> {
    let mut secs: i64 = 0;
    let mut num = String::new();
    let mut chars = s.trim().chars().peekable();
    chars.peek()?;
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: i64 = num.parse().ok()?;
        num.clear();
        let unit = match c {
            'h' => 3600,
            'm' if chars.peek() == Some(&'s') => {
                chars.next();
                0 // milliseconds do not count towards hours
            }
            'm' => 60,
            's' => 1,
            _ => return None,
        };
        secs = secs.checked_add(n.checked_mul(unit)?)?;
    }
    if !num.is_empty() {
        return None; // a number without a unit
    }
    Some((secs + 3599) / 3600)
}

fn hours_to_days(file: &str, field: &str, s: &str) -> Result<i64> {
    let h = parse_go_duration_hours(s)
        .ok_or_else(|| cfssl_err(file, field, format!("{s:?} is not a Go duration like \"87600h\"")))?;
    if h <= 0 {
        return Err(cfssl_err(file, field, format!("{s:?}: expiry must be positive")));
    }
    Ok((h + 23) / 24)
}

fn key_algorithm(file: &str, key: &Option<KeySpec>) -> Result<KeyAlgorithm> {
    // cfssl's default key is ECDSA P-256.
    let Some(k) = key else { return Ok(KeyAlgorithm::EcdsaP256) };
    match (k.algo.to_ascii_lowercase().as_str(), k.size) {
        ("rsa", 2048) => Ok(KeyAlgorithm::Rsa2048),
        ("rsa", 3072) => Ok(KeyAlgorithm::Rsa3072),
        ("rsa", 4096) => Ok(KeyAlgorithm::Rsa4096),
        ("ecdsa", 256) => Ok(KeyAlgorithm::EcdsaP256),
        ("ecdsa", 384) => Ok(KeyAlgorithm::EcdsaP384),
        ("ed25519", _) => Ok(KeyAlgorithm::Ed25519),
        (a, s) => Err(cfssl_err(
            file,
            "key",
            format!("{a}/{s} is not supported (rsa 2048/3072/4096, ecdsa 256/384, ed25519)"),
        )),
    }
}

fn subject(file: &str, csr: &Csr) -> Result<Subject> {
    if csr.names.len() > 1 {
        return Err(cfssl_err(file, "names", "only one names entry is supported"));
    }
    let n = csr.names.first();
    let get = |f: fn(&Name) -> &Option<String>| n.and_then(|n| f(n).clone()).filter(|v| !v.is_empty());
    Ok(Subject {
        common_name: csr.cn.clone(),
        country: get(|n| &n.c),
        state: get(|n| &n.st),
        locality: get(|n| &n.l),
        organization: get(|n| &n.o),
        organizational_unit: get(|n| &n.ou),
    })
}

fn usages(file: &str, field: &str, list: &[String]) -> Result<(Vec<KeyUsage>, BTreeSet<ExtKeyUsage>)> {
    let mut ku = Vec::new();
    let mut eku = BTreeSet::new();
    for (i, u) in list.iter().enumerate() {
        match u.to_ascii_lowercase().as_str() {
            "signing" | "digital signature" => ku.push(KeyUsage::DigitalSignature),
            "key encipherment" => ku.push(KeyUsage::KeyEncipherment),
            "cert sign" => ku.push(KeyUsage::KeyCertSign),
            "crl sign" => ku.push(KeyUsage::CrlSign),
            "server auth" => {
                eku.insert(ExtKeyUsage::ServerAuth);
            }
            "client auth" => {
                eku.insert(ExtKeyUsage::ClientAuth);
            }
            other => {
                return Err(cfssl_err(
                    file,
                    format!("{field}[{i}]"),
                    format!(
                        "usage {other:?} is not supported (signing, digital signature, key encipherment, \
                         cert sign, crl sign, server auth, client auth)"
                    ),
                ));
            }
        }
    }
    ku.sort();
    ku.dedup();
    Ok((ku, eku))
}

/// The tutorial's cfssl inputs, parsed and checked.
///
/// ```
/// use k8s_bootstrap_core::pki::cfssl::CfsslImport;
/// use k8s_bootstrap_core::pki::{Error, KeyAlgorithm};
/// let ca_config = r#"{"signing":{"default":{"expiry":"87600h"},"profiles":{"www":{"expiry":"87600h",
///     "usages":["signing","key encipherment","server auth","client auth"]}}}}"#;
/// let ca_csr = r#"{"CN":"etcd CA","key":{"algo":"rsa","size":2048},"names":[{"C":"CN","L":"Beijing","ST":"Beijing"}]}"#;
/// let server_csr = r#"{"CN":"etcd","hosts":["192.168.1.30","192.168.1.31","192.168.1.32"],"key":{"algo":"rsa","size":2048}}"#;
/// let import = CfsslImport::parse(ca_config, ca_csr, server_csr, Some("www"))?;
/// assert_eq!(import.ca_subject.to_string(), "C=CN, ST=Beijing, L=Beijing, CN=etcd CA");
/// assert_eq!((import.server_hosts.len(), import.server_key_algorithm), (3, KeyAlgorithm::Rsa2048));
/// // The tutorial's other server-csr.json, without "hosts", is refused.
/// let err = CfsslImport::parse(ca_config, ca_csr, r#"{"CN":"etcd"}"#, Some("www")).unwrap_err();
/// assert!(matches!(err, Error::Cfssl { file, field, .. } if file == "server-csr.json" && field == "hosts"));
/// # Ok::<(), k8s_bootstrap_core::pki::Error>(())
/// ```
#[derive(Debug)]
pub struct CfsslImport {
    /// Subject of the CA, from `ca-csr.json`.
    pub ca_subject: Subject,
    /// Key algorithm of the CA, from `ca-csr.json` `key`.
    pub ca_key_algorithm: KeyAlgorithm,
    /// CA validity in days (`ca-csr.json` `ca.expiry`, else cfssl's 43800h).
    pub ca_validity_days: i64,
    /// Subject of the server certificate, from `server-csr.json`.
    pub server_subject: Subject,
    /// `hosts` of `server-csr.json`: the server certificate's SANs.
    pub server_hosts: Vec<String>,
    /// Key algorithm of the server certificate.
    pub server_key_algorithm: KeyAlgorithm,
    /// Server certificate validity in days, from the profile's (or default) expiry.
    pub server_validity_days: i64,
    server_ku: Vec<KeyUsage>,
    server_eku: BTreeSet<ExtKeyUsage>,
}

impl CfsslImport {
    /// Parses the three JSON inputs of `etcd-cert.sh` and the profile name
    /// given to `cfssl gencert -profile=` (`None` for the default section).
    ///
    /// ```
    /// use k8s_bootstrap_core::pki::cfssl::CfsslImport;
    /// let import = CfsslImport::parse(
    ///     r#"{"signing":{"default":{"expiry":"87600h"},"profiles":{"www":{"expiry":"87600h",
    ///        "usages":["signing","key encipherment","server auth","client auth"]}}}}"#,
    ///     r#"{"CN":"etcd CA","key":{"algo":"rsa","size":2048},"names":[{"C":"CN","L":"Beijing","ST":"Beijing"}]}"#,
    ///     r#"{"CN":"etcd","hosts":["192.168.1.30"],"key":{"algo":"rsa","size":2048},"names":[{"C":"CN"}]}"#,
    ///     Some("www"),
    /// )?;
    /// assert_eq!(import.server_validity_days, 3650);
    /// assert_eq!(import.ca_validity_days, 1825);
    /// # Ok::<(), k8s_bootstrap_core::pki::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Cfssl`] naming the file and JSON field: malformed JSON, an
    /// unknown profile, an unsupported key or usage, a server CSR without
    /// `hosts` (the tutorial's second variant: a certificate without SANs
    /// cannot authenticate etcd peers).
    pub fn parse(ca_config: &str, ca_csr: &str, server_csr: &str, profile: Option<&str>) -> Result<Self> {
        let cfg: CaConfig = serde_json::from_str(ca_config)
            .map_err(|e| cfssl_err("ca-config.json", format!("line {} column {}", e.line(), e.column()), e.to_string()))?;
        let ca: Csr = serde_json::from_str(ca_csr)
            .map_err(|e| cfssl_err("ca-csr.json", format!("line {} column {}", e.line(), e.column()), e.to_string()))?;
        let server: Csr = serde_json::from_str(server_csr).map_err(|e| {
            cfssl_err("server-csr.json", format!("line {} column {}", e.line(), e.column()), e.to_string())
        })?;

        let (field, prof) = match profile {
            Some(name) => match cfg.signing.profiles.get(name) {
                Some(p) => (format!("signing.profiles.{name}"), p.clone()),
                None => {
                    return Err(cfssl_err(
                        "ca-config.json",
                        "signing.profiles",
                        format!(
                            "no profile {name:?} (have: {})",
                            cfg.signing.profiles.keys().cloned().collect::<Vec<_>>().join(", ")
                        ),
                    ));
                }
            },
            None => ("signing.default".to_string(), cfg.signing.default.clone().unwrap_or(Profile { expiry: None, usages: None })),
        };
        let default = cfg.signing.default.clone();
        let expiry = prof.expiry.clone().or_else(|| default.as_ref().and_then(|d| d.expiry.clone()));
        let server_validity_days = match &expiry {
            Some(e) => hours_to_days("ca-config.json", &format!("{field}.expiry"), e)?,
            None => CFSSL_DEFAULT_EXPIRY_HOURS / 24,
        };
        // cfssl's default usages: signing, key encipherment, server auth, client auth.
        let default_usages: Vec<String> =
            ["signing", "key encipherment", "server auth", "client auth"].iter().map(|s| s.to_string()).collect();
        let list = prof.usages.clone().or_else(|| default.and_then(|d| d.usages)).unwrap_or(default_usages);
        let (server_ku, server_eku) = usages("ca-config.json", &format!("{field}.usages"), &list)?;

        if ca.cn.trim().is_empty() {
            return Err(cfssl_err("ca-csr.json", "CN", "must not be empty"));
        }
        if server.hosts.is_empty() {
            return Err(cfssl_err(
                "server-csr.json",
                "hosts",
                "no hosts: the certificate would have no SANs and etcd peers and clients could not verify it \
                 (tutorial bug: list every member's IP)",
            ));
        }
        let ca_validity_days = match ca.ca.as_ref().and_then(|c| c.expiry.as_ref()) {
            Some(e) => hours_to_days("ca-csr.json", "ca.expiry", e)?,
            None => CFSSL_DEFAULT_CA_EXPIRY_HOURS / 24,
        };
        Ok(CfsslImport {
            ca_subject: subject("ca-csr.json", &ca)?,
            ca_key_algorithm: key_algorithm("ca-csr.json", &ca.key)?,
            ca_validity_days,
            server_subject: subject("server-csr.json", &server)?,
            server_hosts: server.hosts.clone(),
            server_key_algorithm: key_algorithm("server-csr.json", &server.key)?,
            server_validity_days,
            server_ku,
            server_eku,
        })
    }

    /// The equivalent bundle in the tutorial layout (`ca.pem`, `ca-key.pem`,
    /// `server.pem`, `server-key.pem`). One deliberate difference with
    /// cfssl 1.2: a server certificate never outlives its CA (cfssl 1.2
    /// signs a 10-year leaf under a 5-year CA; here it is cut to the CA's
    /// notAfter, with a warning).
    ///
    /// ```
    /// use k8s_bootstrap_core::pki::cfssl::CfsslImport;
    /// use k8s_bootstrap_core::pki::{CertId, Layout};
    /// let import = CfsslImport::parse(
    ///     r#"{"signing":{"profiles":{"www":{"expiry":"87600h","usages":["signing","key encipherment","server auth","client auth"]}}}}"#,
    ///     r#"{"CN":"etcd CA","key":{"algo":"ecdsa","size":256}}"#,
    ///     r#"{"CN":"etcd","hosts":["192.168.1.30","192.168.1.31"],"key":{"algo":"ecdsa","size":256}}"#,
    ///     Some("www"),
    /// )?;
    /// let bundle = import.into_bundle()?;
    /// assert_eq!((bundle.layout(), bundle.wanted()), (Layout::Tutorial, vec![CertId::Ca, CertId::TutorialServer]));
    /// // cfssl 1.2 would sign a 10-year server.pem under its 5-year CA; here it is cut, with a warning.
    /// let issued = bundle.generate()?;
    /// assert!(issued.warnings.iter().any(|w| w.starts_with("server: validity cut to the CA's notAfter")));
    /// # Ok::<(), k8s_bootstrap_core::pki::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidField`] for a bad subject or host, with the cfssl
    /// field named (`server-csr.json hosts[1]`).
    pub fn into_bundle(self) -> Result<CertBundle> {
        let mut b = CertBundle::builder()
            .layout(Layout::Tutorial)
            .ca_subject(self.ca_subject.clone())
            .key_algorithm(self.ca_key_algorithm)
            .ca_validity_days(self.ca_validity_days)
            .leaf_validity_days(self.server_validity_days.min(self.ca_validity_days))
            .renew_before_days(0)
            .tutorial_server_subject(self.server_subject.clone());
        for h in &self.server_hosts {
            b = b.extra_san(h.clone());
        }
        let mut bundle = b.build().map_err(|e| match e {
            Error::InvalidField { field, value, reason } if field.starts_with("extra_sans") => Error::InvalidField {
                field: field.replace("extra_sans", "server-csr.json hosts"),
                value,
                reason,
            },
            other => other,
        })?;
        bundle.cfssl = Some(CfsslOverrides {
            server_key_algorithm: self.server_key_algorithm,
            server_validity_days: self.server_validity_days,
            server_key_usages: self.server_ku,
            server_ext_key_usages: self.server_eku,
        });
        Ok(bundle)
    }
}
