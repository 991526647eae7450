//! Reading certificates back: subject, SANs, usages, issuer and expiry, as
//! typed data (like `kubeadm certs check-expiration`).

use std::collections::BTreeMap;

use serde::Serialize;
use time::OffsetDateTime;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::bundle::{ExtKeyUsage, KeyUsage};
use super::issue::parse_cert_pem;
use super::{Result, keys};

/// What a certificate says about itself.
///
/// ```
/// use k8s_bootstrap_core::pki::{inspect, CertBundle, EtcdMember, KeyAlgorithm, Subject};
/// let issued = CertBundle::builder()
///     .key_algorithm(KeyAlgorithm::EcdsaP256)
///     .ca_subject(Subject::new("etcd CA").country("CN").state("Beijing").locality("Beijing"))
///     .member(EtcdMember::new("etcd01", ["192.168.1.30"]))
///     .build()?
///     .generate()?;
/// let infos = inspect(&issued.as_existing(), time::OffsetDateTime::now_utc())?;
/// let admin = infos.iter().find(|i| i.path == "admin.pem").unwrap();
/// assert_eq!(admin.subject, "C=CN, ST=Beijing, L=Beijing, CN=etcd-admin");
/// assert_eq!((admin.is_ca, admin.ext_key_usages.as_slice()), (false, &["client-auth".to_string()][..]));
/// let json = serde_json::to_value(admin).unwrap(); // as `certs inspect --output json`
/// assert!(json["not_after"].as_str().unwrap().ends_with('Z')); // RFC 3339
/// # Ok::<(), k8s_bootstrap_core::pki::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertInfo {
    /// The file it was read from.
    pub path: String,
    /// Subject, one line (`C=CN, ST=Beijing, L=Beijing, CN=etcd CA`).
    pub subject: String,
    /// The subject's CN.
    pub common_name: String,
    /// Issuer, one line.
    pub issuer: String,
    /// Serial number, hex.
    pub serial: String,
    /// Whether it is a CA certificate.
    pub is_ca: bool,
    /// SANs: IP addresses and DNS names as text.
    pub sans: Vec<String>,
    /// Key usages (`digital-signature`, `key-encipherment`, `key-cert-sign`, `crl-sign`, ...).
    pub key_usages: Vec<String>,
    /// Extended key usages (`server-auth`, `client-auth`, ...).
    pub ext_key_usages: Vec<String>,
    /// Key algorithm (`rsa-2048`, `ecdsa-p256`, `ed25519`, ...).
    pub key_algorithm: String,
    /// notBefore.
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    /// notAfter.
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// Whole days from the inspection time to notAfter (negative when expired).
    pub days_left: i64,
    /// Validity period in whole days (notAfter - notBefore).
    pub validity_days: i64,
}

/// Whole days from `from` to `to`, rounded down (negative when `to` is past).
pub(crate) fn days_between(from: OffsetDateTime, to: OffsetDateTime) -> i64 {
    (to - from).whole_seconds().div_euclid(86_400)
}

pub(crate) fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_else(|_| t.to_string())
}

pub(crate) fn eku_name(e: ExtKeyUsage) -> &'static str {
    match e {
        ExtKeyUsage::ServerAuth => "server-auth",
        ExtKeyUsage::ClientAuth => "client-auth",
    }
}

pub(crate) fn ku_name(k: KeyUsage) -> &'static str {
    match k {
        KeyUsage::DigitalSignature => "digital-signature",
        KeyUsage::KeyEncipherment => "key-encipherment",
        KeyUsage::KeyCertSign => "key-cert-sign",
        KeyUsage::CrlSign => "crl-sign",
    }
}

pub(crate) fn not_after_of(pem_bytes: &[u8]) -> Option<OffsetDateTime> {
    let der = parse_cert_pem("", pem_bytes).ok()?;
    let (_, c) = X509Certificate::from_der(&der).ok()?;
    Some(c.validity().not_after.to_datetime())
}

fn one_line(name: &x509_parser::x509::X509Name<'_>) -> String {
    use x509_parser::oid_registry as o;
    let mut parts = Vec::new();
    for rdn in name.iter() {
        for a in rdn.iter() {
            let k = match a.attr_type() {
                t if *t == o::OID_X509_COUNTRY_NAME => "C",
                t if *t == o::OID_X509_STATE_OR_PROVINCE_NAME => "ST",
                t if *t == o::OID_X509_LOCALITY_NAME => "L",
                t if *t == o::OID_X509_ORGANIZATION_NAME => "O",
                t if *t == o::OID_X509_ORGANIZATIONAL_UNIT => "OU",
                t if *t == o::OID_X509_COMMON_NAME => "CN",
                _ => "?",
            };
            parts.push(format!("{k}={}", a.as_str().unwrap_or("<binary>")));
        }
    }
    parts.join(", ")
}

pub(crate) fn describe(path: &str, c: &X509Certificate<'_>, now: OffsetDateTime) -> CertInfo {
    let mut sans = Vec::new();
    if let Ok(Some(ext)) = c.subject_alternative_name() {
        for n in &ext.value.general_names {
            match n {
                GeneralName::DNSName(d) => sans.push(d.to_ascii_lowercase()),
                GeneralName::IPAddress(b) => match b.len() {
                    4 => sans.push(std::net::Ipv4Addr::from(<[u8; 4]>::try_from(*b).expect("len 4")).to_string()),
                    16 => sans.push(std::net::Ipv6Addr::from(<[u8; 16]>::try_from(*b).expect("len 16")).to_string()),
                    _ => sans.push(format!("ip:{}", hex::encode(b))),
                },
                other => sans.push(other.to_string()),
            }
        }
    }
    sans.sort();
    let mut key_usages = Vec::new();
    if let Ok(Some(ku)) = c.key_usage() {
        let k = ku.value;
        for (on, name) in [
            (k.digital_signature(), "digital-signature"),
            (k.non_repudiation(), "content-commitment"),
            (k.key_encipherment(), "key-encipherment"),
            (k.data_encipherment(), "data-encipherment"),
            (k.key_agreement(), "key-agreement"),
            (k.key_cert_sign(), "key-cert-sign"),
            (k.crl_sign(), "crl-sign"),
            (k.encipher_only(), "encipher-only"),
            (k.decipher_only(), "decipher-only"),
        ] {
            if on {
                key_usages.push(name.to_string());
            }
        }
    }
    let mut ext_key_usages = Vec::new();
    if let Ok(Some(eku)) = c.extended_key_usage() {
        let e = eku.value;
        for (on, name) in [
            (e.any, "any"),
            (e.server_auth, "server-auth"),
            (e.client_auth, "client-auth"),
            (e.code_signing, "code-signing"),
            (e.email_protection, "email-protection"),
            (e.time_stamping, "time-stamping"),
            (e.ocsp_signing, "ocsp-signing"),
        ] {
            if on {
                ext_key_usages.push(name.to_string());
            }
        }
        ext_key_usages.extend(e.other.iter().map(|o| o.to_id_string()));
    }
    let not_before = c.validity().not_before.to_datetime();
    let not_after = c.validity().not_after.to_datetime();
    CertInfo {
        path: path.to_string(),
        subject: one_line(c.subject()),
        common_name: c
            .subject()
            .iter_common_name()
            .next()
            .and_then(|a| a.as_str().ok())
            .unwrap_or_default()
            .to_string(),
        issuer: one_line(c.issuer()),
        serial: c.raw_serial_as_string().replace(':', ""),
        is_ca: c.is_ca(),
        sans,
        key_usages,
        ext_key_usages,
        key_algorithm: keys::describe_spki(c.public_key()),
        not_before,
        not_after,
        days_left: days_between(now, not_after),
        validity_days: days_between(not_before, not_after),
    }
}

/// Reads one PEM certificate.
///
/// ```
/// use k8s_bootstrap_core::pki::{inspect_cert, CertBundle, Error, KeyAlgorithm};
/// let issued = CertBundle::builder().key_algorithm(KeyAlgorithm::EcdsaP256).build()?.generate()?;
/// let now = time::OffsetDateTime::now_utc();
/// let ca = inspect_cert("pki/ca.pem", &issued.file("ca.pem").unwrap().contents, now)?;
/// assert_eq!((ca.common_name.as_str(), ca.is_ca, ca.key_algorithm.as_str()), ("etcd CA", true, "ecdsa-p256"));
/// // A private key is not a certificate; the error names the file.
/// let err = inspect_cert("pki/ca-key.pem", &issued.file("ca-key.pem").unwrap().contents, now).unwrap_err();
/// assert!(matches!(err, Error::BadPem { path, expected: "certificate", .. } if path == "pki/ca-key.pem"));
/// # Ok::<(), k8s_bootstrap_core::pki::Error>(())
/// ```
///
/// # Errors
/// [`super::Error::BadPem`] naming `path` when `pem` is not a certificate.
pub fn inspect_cert(path: &str, pem: &[u8], now: OffsetDateTime) -> Result<CertInfo> {
    let der = parse_cert_pem(path, pem)?;
    let (_, c) = X509Certificate::from_der(&der).expect("parsed by parse_cert_pem");
    Ok(describe(path, &c, now))
}

/// Reads every certificate of a bundle (every `*.pem` that is not a
/// `*-key.pem`), sorted by path, as of `now`.
///
/// ```
/// use k8s_bootstrap_core::pki::{CertBundle, EtcdMember, KeyAlgorithm, inspect};
/// let issued = CertBundle::builder()
///     .key_algorithm(KeyAlgorithm::EcdsaP256)
///     .member(EtcdMember::new("etcd01", ["10.0.0.1"]))
///     .build()?.generate()?;
/// let infos = inspect(&issued.as_existing(), time::OffsetDateTime::now_utc())?;
/// let server = infos.iter().find(|i| i.path == "etcd01-server.pem").unwrap();
/// assert!(server.sans.contains(&"10.0.0.1".to_string()));
/// assert_eq!(server.ext_key_usages, ["server-auth", "client-auth"]);
/// assert!((363..=365).contains(&server.days_left));
/// # Ok::<(), k8s_bootstrap_core::pki::Error>(())
/// ```
///
/// # Errors
/// [`super::Error::BadPem`] for a `*.pem` file that is not a certificate.
pub fn inspect(files: &BTreeMap<String, Vec<u8>>, now: OffsetDateTime) -> Result<Vec<CertInfo>> {
    files
        .iter()
        .filter(|(p, _)| p.ends_with(".pem") && !p.ends_with("-key.pem"))
        .map(|(p, b)| inspect_cert(p, b, now))
        .collect()
}
