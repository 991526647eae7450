//! The cluster's TLS PKI, generated in Rust with rcgen: it replaces the
//! tutorial's `cfssl.sh` and `etcd-cert.sh`.
//!
//! A [`CertBundle`] describes every certificate a cluster needs:
//! - a CA (generated, or your own with [`CertBundleBuilder::existing_ca`]);
//! - per etcd member a server and a peer certificate (serverAuth +
//!   clientAuth) whose SANs are the member's addresses and name plus
//!   `127.0.0.1`, `::1` and `localhost`, plus any extra SANs;
//! - an etcd admin client certificate (etcdctl, health checks) and a
//!   flanneld client certificate (clientAuth only);
//! - or, in [`Layout::Tutorial`], exactly the tutorial's four files.
//!
//! It does no I/O: [`CertBundle::reconcile`] takes the existing files as a
//! map and returns the files to write ([`BundleFile`]: path, bytes, mode
//! 0600 for keys, 0644 for certificates) with a report of what was kept and
//! what was re-issued, and why. [`inspect`] reads certificates back as typed
//! data. [`cfssl::CfsslImport`] turns the tutorial's cfssl JSON into an
//! equivalent bundle.
//!
//! ```
//! use k8s_bootstrap_core::pki::{CertBundle, CertId, EtcdMember, Subject};
//! let bundle = CertBundle::builder()
//!     .ca_subject(Subject::new("etcd CA").country("CN").state("Beijing").locality("Beijing"))
//!     .members([
//!         EtcdMember::new("etcd01", ["192.168.1.30"]),
//!         EtcdMember::new("etcd02", ["192.168.1.31"]),
//!         EtcdMember::new("etcd03", ["192.168.1.32"]),
//!     ])
//!     .build()?;
//! assert!(bundle.wanted().contains(&CertId::Peer("etcd02".into())));
//! # Ok::<(), k8s_bootstrap_core::pki::Error>(())
//! ```
//!
//! ## Key algorithms
//! See [`KeyAlgorithm`]: RSA 2048 by default for compatibility with every
//! etcd and flannel release; ECDSA P-256 is the fast modern choice; Ed25519
//! is refused by the TLS stacks of etcd 3.3 and flannel 0.11 (a warning is
//! given when [`CertBundleBuilder::target_versions`] names them).

mod bundle;
pub mod cfssl;
mod error;
mod inspect;
mod issue;
mod keys;
mod types;
mod validate;

pub use bundle::{
    CertBundle, CertBundleBuilder, DEFAULT_CA_VALIDITY_DAYS, DEFAULT_LEAF_VALIDITY_DAYS, DEFAULT_RENEW_BEFORE_DAYS,
    EtcdMember, ExtKeyUsage, Layout,
};
pub use error::{Error, Result};
pub use inspect::{CertInfo, inspect, inspect_cert};
pub use issue::{CertAction, Change, Issued};
pub use crate::model::CertId;
pub use types::{BundleFile, KeyAlgorithm, Subject};
pub use keys::key_matches_cert;
