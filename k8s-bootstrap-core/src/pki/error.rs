//! Errors of the PKI module.

/// Everything that can go wrong while building, loading or checking a bundle.
///
/// Each variant names the field, file or certificate concerned and the
/// offending value, so that a user can fix the input without reading code.
///
/// ```
/// use k8s_bootstrap_core::pki::{CertBundle, EtcdMember, Error};
/// let err = CertBundle::builder()
///     .member(EtcdMember::new("etcd01", ["192.168.1.300"]))
///     .build()
///     .unwrap_err();
/// let Error::InvalidField { field, value, .. } = &err else { panic!("{err}") };
/// assert_eq!((field.as_str(), value.as_str()), ("members[0].addresses[0]", "192.168.1.300"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A builder input is invalid.
    #[error("invalid {field} {value:?}: {reason}")]
    InvalidField {
        /// Dotted path of the field (`members[1].name`, `ca.subject.common_name`).
        field: String,
        /// The value that was given.
        value: String,
        /// The rule it breaks.
        reason: String,
    },
    /// A PEM input could not be parsed as what it should be.
    #[error("{path}: not a valid {expected}: {reason}")]
    BadPem {
        /// Where the PEM came from (a file name or a field).
        path: String,
        /// What was expected (`certificate`, `private key`).
        expected: &'static str,
        /// Why it was rejected.
        reason: String,
    },
    /// The CA private key does not belong to the CA certificate.
    #[error("CA key {key_path} does not match CA certificate {cert_path}")]
    CaKeyMismatch {
        /// The CA certificate's path.
        cert_path: String,
        /// The CA key's path.
        key_path: String,
    },
    /// The certificate given as CA is not a CA.
    #[error("{path}: certificate is not a CA (basicConstraints CA:TRUE missing)")]
    NotACa {
        /// The certificate's path.
        path: String,
    },
    /// The existing CA is expired or expires within the renewal window. A CA
    /// is never replaced silently: rotate it explicitly.
    #[error(
        "CA {path} expires {not_after} ({days_left} days left, renewal window {window_days} days); \
         it is never replaced silently: rotate it explicitly (CertBundle::replace_expiring_ca)"
    )]
    CaExpiring {
        /// The CA certificate's path.
        path: String,
        /// Its notAfter, RFC 3339.
        not_after: String,
        /// Days left (negative when expired).
        days_left: i64,
        /// The renewal window that was asked for.
        window_days: i64,
    },
    /// A leaf must be (re)issued but only the CA certificate, not its key, exists.
    #[error("{cert} must be issued ({reason}) but the CA key {key_path} is absent (external CA): issue it with your CA")]
    CaKeyAbsent {
        /// The certificate that needs issuing.
        cert: String,
        /// Why it needs issuing.
        reason: String,
        /// The CA key file that is missing.
        key_path: String,
    },
    /// A cfssl JSON input could not be read or maps to nothing we can build.
    #[error("cfssl {file}: {field}: {reason}")]
    Cfssl {
        /// The JSON file (`ca-config.json`, `ca-csr.json`, `server-csr.json`).
        file: String,
        /// The JSON field path.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// Key generation or signing failed in the crypto library.
    #[error("generating {what}: {reason}")]
    Crypto {
        /// What was being generated or signed.
        what: String,
        /// The library's message.
        reason: String,
    },
}

impl Error {
    /// Shorthand for [`Error::InvalidField`].
    ///
    /// ```
    /// use k8s_bootstrap_core::pki::Error;
    /// let e = Error::invalid("members[0].name", "etcd 01", "no spaces");
    /// assert!(matches!(&e, Error::InvalidField { field, .. } if field == "members[0].name"));
    /// assert_eq!(e.to_string(), r#"invalid members[0].name "etcd 01": no spaces"#);
    /// ```
    pub fn invalid(field: impl Into<String>, value: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidField { field: field.into(), value: value.into(), reason: reason.into() }
    }

    pub(crate) fn crypto(what: impl Into<String>, e: impl std::fmt::Display) -> Self {
        Error::Crypto { what: what.into(), reason: e.to_string() }
    }
}

/// Result type of the PKI module.
///
/// ```
/// use k8s_bootstrap_core::pki::{self, CertBundle, EtcdMember, KeyAlgorithm};
/// fn server_sans(ip: &str) -> pki::Result<Vec<String>> {
///     let issued = CertBundle::builder().key_algorithm(KeyAlgorithm::EcdsaP256)
///         .member(EtcdMember::new("etcd01", [ip])).build()?.generate()?;
///     let infos = pki::inspect(&issued.as_existing(), time::OffsetDateTime::now_utc())?;
///     Ok(infos.into_iter().find(|i| i.path == "etcd01-server.pem").unwrap().sans)
/// }
/// assert!(server_sans("192.168.1.30")?.contains(&"192.168.1.30".to_string()));
/// assert!(server_sans("192.168.1.300").is_err());
/// # Ok::<(), pki::Error>(())
/// ```
pub type Result<T, E = Error> = std::result::Result<T, E>;
