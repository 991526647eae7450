//! Issuing certificates: generation of a fresh bundle, and reconciliation of
//! an existing one (keep what is still right, re-issue what is not, say why).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, DnValue, IsCa, Issuer, KeyPair,
    PublicKeyData, SanType, SerialNumber,
};
use serde::Serialize;
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};
use x509_parser::prelude::{FromDer, X509Certificate};

use super::bundle::{ExtKeyUsage, KeyUsage, LeafSpec};
use super::inspect::{self, days_between};
use super::validate::San;
use super::{BundleFile, CertBundle, CertId, Error, Result, Subject, keys};

/// Certificates are valid from this long before "now", to absorb clock skew
/// between the machine that issues them and the hosts that use them.
const BACKDATE: Duration = Duration::minutes(5);

/// What happened to one certificate of a bundle.
///
/// ```
/// use k8s_bootstrap_core::pki::Change;
/// let c = Change::Issued { reason: "SANs differ: missing 192.168.1.41".into() };
/// assert_eq!(
///     serde_json::to_value(&c).unwrap(),
///     serde_json::json!({ "change": "issued", "reason": "SANs differ: missing 192.168.1.41" })
/// );
/// assert_eq!(serde_json::to_value(Change::Kept).unwrap(), serde_json::json!({ "change": "kept" }));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "change")]
pub enum Change {
    /// The existing certificate and key are still right and were kept as they are.
    Kept,
    /// A new key and certificate were issued, for the reason given.
    Issued {
        /// Why (`absent`, `SANs differ: missing 10.0.0.4`, `expires in 12 days (renewal window 30 days)`, ...).
        reason: String,
    },
    /// A CA given by the user was written into the bundle.
    Imported,
}

/// One line of a [`Issued`] report.
///
/// ```
/// use k8s_bootstrap_core::pki::{CertBundle, CertId, EtcdMember, KeyAlgorithm};
/// let issued = CertBundle::builder().key_algorithm(KeyAlgorithm::EcdsaP256)
///     .member(EtcdMember::new("etcd01", ["192.168.1.30"])).build()?.generate()?;
/// let server = &issued.actions[1];
/// assert_eq!(server.id, CertId::Server("etcd01".into()));
/// let json = serde_json::to_value(server).unwrap(); // the change is flattened in
/// assert_eq!(json["id"], serde_json::json!({ "kind": "server", "member": "etcd01" }));
/// assert_eq!((json["change"].as_str(), json["reason"].as_str()), (Some("issued"), Some("absent")));
/// # Ok::<(), k8s_bootstrap_core::pki::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertAction {
    /// The certificate.
    pub id: CertId,
    /// What happened to it.
    #[serde(flatten)]
    pub change: Change,
    /// Its notAfter.
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
}

/// The result of [`CertBundle::generate`] or [`CertBundle::reconcile`]: the
/// files to write and a report of what was kept or issued and why.
///
/// ```
/// use k8s_bootstrap_core::pki::{CertBundle, EtcdMember, KeyAlgorithm};
/// let b = |names: &[&str]| CertBundle::builder()
///     .key_algorithm(KeyAlgorithm::EcdsaP256)
///     .members(names.iter().enumerate().map(|(i, n)| EtcdMember::new(*n, [format!("192.168.1.{}", 30 + i)])))
///     .build()
///     .unwrap();
/// let three = b(&["etcd01", "etcd02", "etcd03"]).generate()?;
/// assert_eq!((three.files.len(), three.actions.len()), (18, 9)); // a cert and a key each
/// // etcd03 removed: its files are reported, not deleted.
/// let two = b(&["etcd01", "etcd02"]).reconcile(&three.as_existing(), time::OffsetDateTime::now_utc())?;
/// assert!(two.unmanaged.contains(&"etcd03-peer-key.pem".to_string()));
/// # Ok::<(), k8s_bootstrap_core::pki::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Issued {
    /// Every file of the bundle, kept ones with their existing bytes.
    pub files: Vec<BundleFile>,
    /// One entry per certificate, CA first.
    pub actions: Vec<CertAction>,
    /// Warnings (validation warnings, a CA subject that differs from the one asked, ...).
    pub warnings: Vec<String>,
    /// Existing files that belong to no certificate of the bundle (for
    /// example a removed member's); they are not part of `files`.
    pub unmanaged: Vec<String>,
}

impl Issued {
    /// The files as a map from relative path to bytes, the form
    /// [`CertBundle::reconcile`] takes.
    ///
    /// ```
    /// use k8s_bootstrap_core::pki::{CertBundle, KeyAlgorithm};
    /// let issued = CertBundle::builder().key_algorithm(KeyAlgorithm::EcdsaP256).build()?.generate()?;
    /// let files = issued.as_existing(); // what a PKI folder read back looks like
    /// assert_eq!(files.keys().map(String::as_str).next(), Some("admin-key.pem"));
    /// assert_eq!(files["ca.pem"], issued.file("ca.pem").unwrap().contents);
    /// # Ok::<(), k8s_bootstrap_core::pki::Error>(())
    /// ```
    pub fn as_existing(&self) -> BTreeMap<String, Vec<u8>> {
        self.files.iter().map(|f| (f.path.clone(), f.contents.clone())).collect()
    }

    /// The file at `path`, if the bundle has it.
    ///
    /// ```
    /// use k8s_bootstrap_core::pki::{CertBundle, KeyAlgorithm};
    /// let issued = CertBundle::builder().key_algorithm(KeyAlgorithm::EcdsaP256).build()?.generate()?;
    /// assert_eq!(issued.file("flanneld-key.pem").map(|f| f.mode), Some(0o600));
    /// assert!(issued.file("etcd01-server.pem").is_none()); // no member given
    /// # Ok::<(), k8s_bootstrap_core::pki::Error>(())
    /// ```
    pub fn file(&self, path: &str) -> Option<&BundleFile> {
        self.files.iter().find(|f| f.path == path)
    }

    /// The certificates that were (re-)issued.
    ///
    /// ```
    /// use k8s_bootstrap_core::pki::{CertBundle, KeyAlgorithm};
    /// let b = |admin| CertBundle::builder().key_algorithm(KeyAlgorithm::EcdsaP256).admin_client(admin).build().unwrap();
    /// let first = b(false).generate()?;
    /// assert_eq!(first.issued().count(), 2); // CA and flanneld
    /// let now = time::OffsetDateTime::now_utc();
    /// let names: Vec<String> = b(true).reconcile(&first.as_existing(), now)?.issued().map(|a| a.id.to_string()).collect();
    /// assert_eq!(names, ["admin"]);
    /// # Ok::<(), k8s_bootstrap_core::pki::Error>(())
    /// ```
    pub fn issued(&self) -> impl Iterator<Item = &CertAction> {
        self.actions.iter().filter(|a| matches!(a.change, Change::Issued { .. }))
    }
}

/// A CA loaded from PEM, with or without its private key.
pub(crate) struct LoadedCa {
    cert_pem: String,
    key_pem: Option<String>,
    der: Vec<u8>,
    pub(crate) not_after: OffsetDateTime,
    subject_cn: String,
}

impl fmt::Debug for LoadedCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadedCa")
            .field("subject_cn", &self.subject_cn)
            .field("not_after", &self.not_after)
            .field("key", &self.key_pem.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Parses one PEM certificate, naming `path` in the error.
pub(crate) fn parse_cert_pem(path: &str, pem_bytes: &[u8]) -> Result<Vec<u8>> {
    let bad = |reason: String| Error::BadPem { path: path.to_string(), expected: "certificate", reason };
    let text = std::str::from_utf8(pem_bytes).map_err(|_| bad("not UTF-8 text".into()))?;
    let block = pem::parse(text).map_err(|e| bad(e.to_string()))?;
    if block.tag() != "CERTIFICATE" {
        return Err(bad(format!("PEM block is {:?}, expected \"CERTIFICATE\"", block.tag())));
    }
    let der = block.into_contents();
    X509Certificate::from_der(&der).map_err(|e| bad(e.to_string()))?;
    Ok(der)
}

impl LoadedCa {
    pub(crate) fn load(cert_path: &str, cert_pem: &str, key_path: &str, key_pem: Option<&str>) -> Result<Self> {
        let der = parse_cert_pem(cert_path, cert_pem.as_bytes())?;
        let (_, cert) = X509Certificate::from_der(&der).expect("parsed above");
        if !cert.is_ca() {
            return Err(Error::NotACa { path: cert_path.to_string() });
        }
        if let Some(k) = key_pem {
            let key = keys::load(key_path, k.as_bytes())?;
            if !keys::matches_cert(&key, &cert) {
                return Err(Error::CaKeyMismatch { cert_path: cert_path.into(), key_path: key_path.into() });
            }
        }
        let subject_cn = cert
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .unwrap_or_default()
            .to_string();
        let not_after = cert.validity().not_after.to_datetime();
        Ok(LoadedCa { cert_pem: cert_pem.to_string(), key_pem: key_pem.map(str::to_string), der, not_after, subject_cn })
    }

    fn cert(&self) -> X509Certificate<'_> {
        X509Certificate::from_der(&self.der).expect("validated at load").1
    }
}

fn distinguished_name(s: &Subject) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    if let Some(c) = &s.country {
        // RFC 5280: countryName is a PrintableString.
        match c.as_str().try_into() {
            Ok(p) => dn.push(DnType::CountryName, DnValue::PrintableString(p)),
            Err(_) => dn.push(DnType::CountryName, c.as_str()),
        }
    }
    for (ty, v) in [
        (DnType::StateOrProvinceName, &s.state),
        (DnType::LocalityName, &s.locality),
        (DnType::OrganizationName, &s.organization),
        (DnType::OrganizationalUnitName, &s.organizational_unit),
    ] {
        if let Some(v) = v {
            dn.push(ty, v.as_str());
        }
    }
    dn.push(DnType::CommonName, s.common_name.as_str());
    dn
}

fn serial_for(key: &KeyPair, now: OffsetDateTime) -> SerialNumber {
    let mut h = Sha256::new();
    h.update(key.subject_public_key_info());
    h.update(now.unix_timestamp_nanos().to_be_bytes());
    let mut bytes = h.finalize()[..16].to_vec();
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01; // never a leading zero byte: a full 16-byte positive serial
    SerialNumber::from_slice(&bytes)
}

fn rcgen_key_usage(k: KeyUsage) -> rcgen::KeyUsagePurpose {
    match k {
        KeyUsage::DigitalSignature => rcgen::KeyUsagePurpose::DigitalSignature,
        KeyUsage::KeyEncipherment => rcgen::KeyUsagePurpose::KeyEncipherment,
        KeyUsage::KeyCertSign => rcgen::KeyUsagePurpose::KeyCertSign,
        KeyUsage::CrlSign => rcgen::KeyUsagePurpose::CrlSign,
    }
}

fn san_type(s: &San) -> Result<SanType> {
    Ok(match s {
        San::Ip(ip) => SanType::IpAddress(*ip),
        San::Dns(d) => SanType::DnsName(
            d.as_str().try_into().map_err(|e| Error::invalid("subject_alt_names", d, format!("{e}")))?,
        ),
    })
}

fn pem_file(path: String, pem_text: String, secret: bool) -> BundleFile {
    BundleFile { path, contents: pem_text.into_bytes(), mode: if secret { 0o600 } else { 0o644 }, secret }
}

impl CertBundle {
    /// Generates every certificate of the bundle from scratch (or, with an
    /// existing CA, every leaf).
    ///
    /// ```
    /// use k8s_bootstrap_core::pki::{CertBundle, EtcdMember, KeyAlgorithm};
    /// let issued = CertBundle::builder()
    ///     .key_algorithm(KeyAlgorithm::EcdsaP256)
    ///     .member(EtcdMember::new("etcd01", ["10.0.0.1"]))
    ///     .build()?
    ///     .generate()?;
    /// let key = issued.file("etcd01-server-key.pem").unwrap();
    /// assert_eq!(key.mode, 0o600);
    /// assert!(!format!("{key:?}").contains("PRIVATE KEY")); // never printed
    /// # Ok::<(), k8s_bootstrap_core::pki::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Crypto`] when the crypto library fails; [`Error::CaKeyAbsent`]
    /// when an existing CA was given without its key.
    pub fn generate(&self) -> Result<Issued> {
        self.reconcile(&BTreeMap::new(), OffsetDateTime::now_utc())
    }

    /// Brings an existing bundle (relative path -> bytes) to what this
    /// description asks for, at time `now`: every certificate that is still
    /// valid, signed by the CA, has the asked SANs, usages, subject and key
    /// algorithm and does not expire within the renewal window is kept
    /// byte for byte; every other one is re-issued with a new key, and the
    /// report says why. A CA is never replaced silently.
    ///
    /// ```
    /// use k8s_bootstrap_core::pki::{CertBundle, Change, EtcdMember, KeyAlgorithm};
    /// let b = |ips: &[&str]| CertBundle::builder()
    ///     .key_algorithm(KeyAlgorithm::EcdsaP256)
    ///     .member(EtcdMember::new("etcd01", ips.iter().copied()))
    ///     .build().unwrap();
    /// let first = b(&["10.0.0.1"]).generate()?;
    /// let now = time::OffsetDateTime::now_utc();
    /// let again = b(&["10.0.0.1"]).reconcile(&first.as_existing(), now)?;
    /// assert!(again.actions.iter().all(|a| a.change == Change::Kept));
    /// let moved = b(&["10.0.0.1", "10.0.0.9"]).reconcile(&first.as_existing(), now)?;
    /// assert_eq!(moved.issued().count(), 2); // server and peer of etcd01
    /// # Ok::<(), k8s_bootstrap_core::pki::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::CaExpiring`] when the existing CA expires within the renewal
    /// window (unless [`super::CertBundleBuilder::replace_expiring_ca`]);
    /// [`Error::CaKeyMismatch`], [`Error::BadPem`], [`Error::NotACa`] for a
    /// broken existing CA; [`Error::CaKeyAbsent`] when a leaf must be issued
    /// but the CA key is absent; [`Error::InvalidField`] when the bundle's CA
    /// differs from the one given with `existing_ca`.
    pub fn reconcile(&self, existing: &BTreeMap<String, Vec<u8>>, now: OffsetDateTime) -> Result<Issued> {
        self.reconcile_renewing(existing, now, &[])
    }

    /// [`Self::reconcile`], and also issues a new key and certificate for
    /// every leaf in `renew` even when the existing one is still right
    /// (`certs renew`). The CA is never renewed this way: a new CA means new
    /// certificates everywhere, which is a migration, not a renewal.
    ///
    /// ```
    /// use k8s_bootstrap_core::pki::{CertBundle, CertId, Change, EtcdMember, KeyAlgorithm};
    /// let b = CertBundle::builder()
    ///     .key_algorithm(KeyAlgorithm::EcdsaP256)
    ///     .member(EtcdMember::new("etcd01", ["10.0.0.1"]))
    ///     .build()?;
    /// let now = time::OffsetDateTime::now_utc();
    /// let first = b.reconcile(&Default::default(), now)?;
    /// let renewed = b.reconcile_renewing(&first.as_existing(), now, &[CertId::AdminClient])?;
    /// let ids: Vec<String> = renewed.issued().map(|a| a.id.to_string()).collect();
    /// assert_eq!(ids, ["admin"]);
    /// # Ok::<(), k8s_bootstrap_core::pki::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`Self::reconcile`], and [`Error::InvalidField`] when `renew`
    /// names the CA or a certificate that is not in the bundle.
    pub fn reconcile_renewing(&self, existing: &BTreeMap<String, Vec<u8>>, now: OffsetDateTime, renew: &[CertId]) -> Result<Issued> {
        let wanted = self.wanted();
        for id in renew {
            if *id == CertId::Ca {
                return Err(Error::invalid(
                    "renew",
                    "ca",
                    "the CA is not renewed with its leaves: a new CA needs every certificate reissued and every member restarted; issue a new bundle instead",
                ));
            }
            if !wanted.contains(id) {
                let names: Vec<String> = wanted.iter().filter(|w| **w != CertId::Ca).map(|w| w.to_string()).collect();
                return Err(Error::invalid("renew", id.to_string(), format!("not a certificate of this bundle (one of: {})", names.join(", "))));
            }
        }
        let now = now.replace_nanosecond(0).unwrap_or(now);
        let mut files = Vec::new();
        let mut actions = Vec::new();
        let mut warnings = self.warnings.clone();

        // Keys are nearly all of the time (RSA's prime search): the leaves
        // that certainly need a new one (absent, or renewal asked) get it
        // on threads of their own while the CA is resolved (or generated).
        let leaves = self.leaf_specs();
        let certain = |spec: &LeafSpec| renew.contains(&spec.id) || !existing.contains_key(&spec.id.cert_file()) || !existing.contains_key(&spec.id.key_file());
        let (ca, mut keys) = std::thread::scope(|sc| {
            let handles: Vec<_> = leaves
                .iter()
                .filter(|spec| certain(spec))
                .map(|spec| (spec.id.clone(), sc.spawn(move || keys::generate(spec.key_algorithm, &spec.id.to_string()))))
                .collect();
            let ca = self.resolve_ca(existing, now, &mut warnings);
            let keys: Vec<(CertId, Result<KeyPair>)> = handles.into_iter().map(|(id, h)| (id, h.join().unwrap_or_else(|_| Err(Error::Crypto { what: "a key".into(), reason: "its generation thread panicked".into() })))).collect();
            (ca, keys)
        });
        let (ca, ca_change) = ca?;
        files.push(pem_file("ca.pem".into(), ca.cert_pem.clone(), false));
        if let Some(k) = &ca.key_pem {
            files.push(pem_file("ca-key.pem".into(), k.clone(), true));
        }
        actions.push(CertAction { id: CertId::Ca, change: ca_change, not_after: ca.not_after });
        let ca_key = ca.key_pem.as_deref().map(|k| keys::load("ca-key.pem", k.as_bytes())).transpose()?;

        for spec in leaves {
            let cert_path = spec.id.cert_file();
            let key_path = spec.id.key_file();
            let problem = match (existing.get(&cert_path), existing.get(&key_path)) {
                _ if renew.contains(&spec.id) => Some("renewal requested".to_string()),
                (Some(c), Some(k)) => leaf_problems(&spec, c, k, &ca, now, self.renew_before_days),
                (None, None) => Some("absent".to_string()),
                (Some(_), None) => Some(format!("{key_path} is absent")),
                (None, Some(_)) => Some(format!("{cert_path} is absent")),
            };
            match problem {
                None => {
                    let c = existing[&cert_path].clone();
                    let k = existing[&key_path].clone();
                    let not_after = inspect::not_after_of(&c).unwrap_or(now);
                    files.push(BundleFile { path: cert_path, contents: c, mode: 0o644, secret: false });
                    files.push(BundleFile { path: key_path, contents: k, mode: 0o600, secret: true });
                    actions.push(CertAction { id: spec.id, change: Change::Kept, not_after });
                }
                Some(reason) => {
                    let Some(ca_key) = &ca_key else {
                        return Err(Error::CaKeyAbsent { cert: spec.id.to_string(), reason, key_path: "ca-key.pem".into() });
                    };
                    let key = match keys.iter().position(|(id, _)| *id == spec.id) {
                        Some(i) => keys.swap_remove(i).1?,
                        None => keys::generate(spec.key_algorithm, &spec.id.to_string())?,
                    };
                    let (cert_pem, key_pem, not_after) = issue_leaf(&spec, &ca, ca_key, key, now, &mut warnings)?;
                    files.push(pem_file(cert_path, cert_pem, false));
                    files.push(pem_file(key_path, key_pem, true));
                    actions.push(CertAction { id: spec.id, change: Change::Issued { reason }, not_after });
                }
            }
        }

        let known: BTreeSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
        let unmanaged = existing.keys().filter(|p| !known.contains(p.as_str())).cloned().collect();
        Ok(Issued { files, actions, warnings, unmanaged })
    }

    fn resolve_ca(
        &self,
        existing: &BTreeMap<String, Vec<u8>>,
        now: OffsetDateTime,
        warnings: &mut Vec<String>,
    ) -> Result<(LoadedCa, Change)> {
        let text = |path: &str, b: &[u8]| {
            String::from_utf8(b.to_vec()).map_err(|_| Error::BadPem {
                path: path.into(),
                expected: if path.ends_with("-key.pem") { "private key" } else { "certificate" },
                reason: "not UTF-8 text".into(),
            })
        };
        let on_disk = match (existing.get("ca.pem"), existing.get("ca-key.pem")) {
            (Some(c), k) => {
                let k = k.map(|k| text("ca-key.pem", k)).transpose()?;
                Some(LoadedCa::load("ca.pem", &text("ca.pem", c)?, "ca-key.pem", k.as_deref())?)
            }
            (None, Some(_)) => {
                return Err(Error::invalid(
                    "ca.pem",
                    "<absent>",
                    "ca-key.pem exists without ca.pem: refusing to generate a new CA over an orphaned CA key",
                ));
            }
            (None, None) => None,
        };

        if let Some(given) = &self.external_ca {
            if let Some(d) = &on_disk
                && d.der != given.der
            {
                return Err(Error::invalid(
                    "existing_ca",
                    &given.subject_cn,
                    format!("differs from the bundle's ca.pem (CN {:?}); a CA is never replaced silently", d.subject_cn),
                ));
            }
            let ca = LoadedCa {
                cert_pem: given.cert_pem.clone(),
                key_pem: given.key_pem.clone(),
                der: given.der.clone(),
                not_after: given.not_after,
                subject_cn: given.subject_cn.clone(),
            };
            let change = if on_disk.is_some() { Change::Kept } else { Change::Imported };
            self.check_ca_expiry(&ca, now)?;
            return Ok((ca, change));
        }

        match on_disk {
            Some(ca) => {
                let left = days_between(now, ca.not_after);
                if left < self.renew_before_days && self.replace_expiring_ca {
                    let reason = format!("CA expires in {left} days; replaced as asked (replace_expiring_ca)");
                    warnings.push(format!("{reason}: every leaf is re-issued and every host must get the new ca.pem"));
                    return Ok((self.generate_ca(now)?, Change::Issued { reason }));
                }
                self.check_ca_expiry(&ca, now)?;
                if ca.subject_cn != self.ca_subject.common_name {
                    warnings.push(format!(
                        "existing CA has CN {:?}, the spec asks for {:?}; the existing CA is kept (a CA is never replaced silently)",
                        ca.subject_cn, self.ca_subject.common_name
                    ));
                }
                if ca.key_pem.is_none() {
                    warnings.push("ca-key.pem is absent: external CA mode, leaves can be checked but not issued".into());
                }
                Ok((ca, Change::Kept))
            }
            None => Ok((self.generate_ca(now)?, Change::Issued { reason: "absent".into() })),
        }
    }

    fn check_ca_expiry(&self, ca: &LoadedCa, now: OffsetDateTime) -> Result<()> {
        let left = days_between(now, ca.not_after);
        if left < self.renew_before_days {
            return Err(Error::CaExpiring {
                path: "ca.pem".into(),
                not_after: inspect::rfc3339(ca.not_after),
                days_left: left,
                window_days: self.renew_before_days,
            });
        }
        Ok(())
    }

    fn generate_ca(&self, now: OffsetDateTime) -> Result<LoadedCa> {
        let key = keys::generate(self.key_algorithm, "the CA")?;
        let mut p = CertificateParams::default();
        p.distinguished_name = distinguished_name(&self.ca_subject);
        p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        // As cfssl's and openssl's CAs: signing certificates and CRLs only.
        p.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
        p.not_before = now - BACKDATE;
        p.not_after = now + Duration::days(self.ca_validity_days);
        p.serial_number = Some(serial_for(&key, now));
        let cert = p.self_signed(&key).map_err(|e| Error::crypto("the CA certificate", e))?;
        LoadedCa::load("ca.pem", &cert.pem(), "ca-key.pem", Some(&keys::private_key_pem(&key)))
    }
}

/// Everything wrong with an existing leaf, or `None` when it can be kept.
fn leaf_problems(
    spec: &LeafSpec,
    cert_pem: &[u8],
    key_pem: &[u8],
    ca: &LoadedCa,
    now: OffsetDateTime,
    renew_before_days: i64,
) -> Option<String> {
    let cert_path = spec.id.cert_file();
    let der = match parse_cert_pem(&cert_path, cert_pem) {
        Ok(d) => d,
        Err(e) => return Some(format!("unreadable: {e}")),
    };
    let (_, cert) = X509Certificate::from_der(&der).ok()?;
    let key = match keys::load(&spec.id.key_file(), key_pem) {
        Ok(k) => k,
        Err(e) => return Some(format!("unreadable key: {e}")),
    };
    let mut problems = Vec::new();
    if !keys::matches_cert(&key, &cert) {
        problems.push("key does not match the certificate".to_string());
    }
    let ca_cert = ca.cert();
    if cert.issuer().as_raw() != ca_cert.subject().as_raw()
        || cert.verify_signature(Some(ca_cert.public_key())).is_err()
    {
        problems.push("not signed by the current CA".to_string());
    }
    let info = inspect::describe(&cert_path, &cert, now);
    if now < info.not_before {
        problems.push(format!("not valid before {}", inspect::rfc3339(info.not_before)));
    }
    if info.days_left < 0 {
        problems.push(format!("expired {} days ago", -info.days_left));
    } else if info.days_left < renew_before_days {
        problems.push(format!("expires in {} days (renewal window {renew_before_days} days)", info.days_left));
    }
    let have: BTreeSet<String> = info.sans.iter().cloned().collect();
    let want: BTreeSet<String> = spec.sans.iter().map(ToString::to_string).collect();
    if have != want {
        let missing: Vec<_> = want.difference(&have).cloned().collect();
        let extra: Vec<_> = have.difference(&want).cloned().collect();
        let mut s = "SANs differ:".to_string();
        if !missing.is_empty() {
            s.push_str(&format!(" missing {}", missing.join(", ")));
        }
        if !extra.is_empty() {
            s.push_str(&format!("{} unexpected {}", if missing.is_empty() { "" } else { ";" }, extra.join(", ")));
        }
        problems.push(s);
    }
    let want_eku: BTreeSet<String> = spec.ext_key_usages.iter().map(|e| inspect::eku_name(*e).to_string()).collect();
    let have_eku: BTreeSet<String> = info.ext_key_usages.iter().cloned().collect();
    if want_eku != have_eku {
        problems.push(format!("extended key usages are [{}], asked [{}]", join(&have_eku), join(&want_eku)));
    }
    let want_ku: BTreeSet<String> = spec.key_usages.iter().map(|k| inspect::ku_name(*k).to_string()).collect();
    let have_ku: BTreeSet<String> = info.key_usages.iter().cloned().collect();
    if want_ku != have_ku {
        problems.push(format!("key usages are [{}], asked [{}]", join(&have_ku), join(&want_ku)));
    }
    if info.common_name != spec.subject.common_name {
        problems.push(format!("CN is {:?}, asked {:?}", info.common_name, spec.subject.common_name));
    }
    if info.key_algorithm != spec.key_algorithm.as_str() {
        problems.push(format!("key is {}, asked {}", info.key_algorithm, spec.key_algorithm));
    }
    if problems.is_empty() { None } else { Some(problems.join("; ")) }
}

fn join(s: &BTreeSet<String>) -> String {
    s.iter().cloned().collect::<Vec<_>>().join(", ")
}

fn issue_leaf(
    spec: &LeafSpec,
    ca: &LoadedCa,
    ca_key: &KeyPair,
    key: KeyPair,
    now: OffsetDateTime,
    warnings: &mut Vec<String>,
) -> Result<(String, String, OffsetDateTime)> {
    let what = spec.id.to_string();
    let mut p = CertificateParams::default();
    p.distinguished_name = distinguished_name(&spec.subject);
    p.subject_alt_names = spec.sans.iter().map(san_type).collect::<Result<_>>()?;
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = spec.key_usages.iter().copied().map(rcgen_key_usage).collect();
    p.extended_key_usages = spec
        .ext_key_usages
        .iter()
        .map(|e| match e {
            ExtKeyUsage::ServerAuth => rcgen::ExtendedKeyUsagePurpose::ServerAuth,
            ExtKeyUsage::ClientAuth => rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        })
        .collect();
    p.use_authority_key_identifier_extension = true;
    p.not_before = now - BACKDATE;
    let mut not_after = now + Duration::days(spec.validity_days);
    if not_after > ca.not_after {
        warnings.push(format!(
            "{what}: validity cut to the CA's notAfter {} (asked {} days)",
            inspect::rfc3339(ca.not_after),
            spec.validity_days
        ));
        not_after = ca.not_after;
    }
    p.not_after = not_after;
    p.serial_number = Some(serial_for(&key, now));
    let issuer = Issuer::from_ca_cert_pem(&ca.cert_pem, ca_key).map_err(|e| Error::crypto(format!("{what} (loading the CA)"), e))?;
    let cert = p.signed_by(&key, &issuer).map_err(|e| Error::crypto(&what, e))?;
    Ok((cert.pem(), keys::private_key_pem(&key), not_after))
}
