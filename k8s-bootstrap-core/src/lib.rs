//! # k8s-bootstrap-core
//!
//! The library behind `k8s-bootstrap`: typed builders that render every file
//! and command needed to bring up the foundations of a Kubernetes cluster
//! (a TLS PKI, etcd, flannel, docker) on your own Linux machines.
//!
//! The core does no I/O of its own: builders return data (files with their
//! bytes and modes, commands as argv) and never touch a disk or a network.
//! Acting on hosts happens only through a `Transport`.
//!
//! ## Modules
//! - [`pki`]: [`pki::CertBundle`], the TLS PKI of the cluster (replaces cfssl).
//! - [`spec`]: [`spec::ClusterSpec`], the typed cluster description (YAML), validated as a whole.
//! - [`render`]: [`spec::ClusterSpec::render`], every file and command of every host.
//! - [`etcd`], [`flannel`], [`docker`], [`hostprep`]: the builders, usable on their own.
//! - [`apply`]: [`apply::Engine`], plan and apply a spec on hosts, idempotently, and read its status.
//! - [`shell`]: quoting of commands for people to read.
#![deny(missing_docs)]

pub mod apply;
pub mod pki;
pub mod docker;
pub mod etcd;
pub mod flannel;
pub mod hostprep;
pub mod render;
pub mod shell;
pub mod spec;
pub mod transport;

/// The most used types, for `use k8s_bootstrap_core::prelude::*`.
pub mod prelude {
    pub use crate::pki::{CertBundle, KeyAlgorithm, Subject};
    pub use crate::docker::DockerUnit;
    pub use crate::etcd::EtcdCluster;
    pub use crate::flannel::FlannelConfig;
    pub use crate::hostprep::HostPrep;
    pub use crate::render::{HostRender, RenderedCluster};
    pub use crate::spec::{ClusterSpec, HostSpec, Role, Version};
    pub use crate::transport::{
        Command, FileSource, LocalTransport, PutOptions, PutOutcome, Transport, TransportError,
    };
}
