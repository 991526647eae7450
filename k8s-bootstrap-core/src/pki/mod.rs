//! The cluster's TLS PKI: a CA, per-member etcd server and peer certs, and
//! client certs, generated with rcgen. Replaces the tutorial's cfssl steps.

mod error;
mod types;

pub use error::{Error, Result};
pub use types::{BundleFile, CertId, KeyAlgorithm, Subject};

/// Placeholder until the builder lands.
#[derive(Debug)]
pub struct CertBundle;
