//! # k8s-bootstrap-core
//!
//! The library behind `k8s-bootstrap`: typed builders that render every file
//! and command needed to bring up the foundations of a Kubernetes cluster
//! (a TLS PKI, etcd, flannel, docker) on your own Linux machines, and an
//! engine that applies them to hosts idempotently.
//!
//! The builders do no I/O of their own: they return data (files with their
//! bytes and modes, commands as argv) and never touch a disk or a network.
//! Acting on hosts happens only through a [`Transport`](transport::Transport),
//! driven by the [`Engine`](apply::Engine).
//!
//! ## A tour: spec -> builders -> plan -> apply
//!
//! ### 1. The spec
//!
//! A [`ClusterSpec`](spec::ClusterSpec) describes the whole cluster. Read it
//! from YAML ([`ClusterSpec::load`](spec::ClusterSpec::load): parse +
//! validate, with line and column) or build it in Rust; every section but
//! the hosts and the versions has a secure default.
//!
//! ```
//! use k8s_bootstrap_core::spec::{ClusterSpec, HostSpec, Role, Version};
//!
//! // The tutorial's three machines, each an etcd member and a flannel + docker node.
//! let hosts = (0..3)
//!     .map(|i| HostSpec::new(format!("etcd0{}", i + 1), [192, 168, 1, 30 + i].into(), &[Role::Etcd, Role::Node]))
//!     .collect();
//! let mut spec = ClusterSpec::new(hosts, Version::new(3, 5, 17), Version::new(0, 26, 1));
//! spec.docker.registry_mirrors.push("http://f1361db2.m.daocloud.io".into());
//!
//! // Every rule at once; warnings are for risky but working settings.
//! let warnings = spec.validate().expect("a valid spec");
//! assert!(warnings.is_empty());
//!
//! // The same spec as YAML, and back.
//! let yaml = spec.to_yaml_string();
//! let (again, _warnings) = ClusterSpec::load(&yaml).unwrap();
//! assert_eq!(again, spec);
//! ```
//!
//! A bad value is reported with its field path, the rule it breaks and a
//! fix, all problems at once ([`SpecError`](spec::SpecError)):
//!
//! ```
//! use k8s_bootstrap_core::spec::{ClusterSpec, SpecError};
//! let yaml = "hosts:\n  - { name: etcd01, address: 10.0.0.1, roles: [etcd, node] }\n\
//!             versions: { etcd: '3.6.0', flannel: '0.11.0' }\n";
//! let SpecError::Invalid { problems } = ClusterSpec::load(yaml).unwrap_err() else { panic!() };
//! assert_eq!(problems[0].path, "versions");
//! assert_eq!(problems[0].fix.as_deref(), Some("use flannel >= 0.18 (etcd v3 API) or etcd <= 3.5"));
//! ```
//!
//! ### 2. The builders
//!
//! [`ClusterSpec::render`](spec::ClusterSpec::render) runs one builder per
//! component for every host. Each builder also works on its own, for tools
//! that manage only a part: [`EtcdCluster`](etcd::EtcdCluster),
//! [`FlannelConfig`](flannel::FlannelConfig), [`DockerUnit`](docker::DockerUnit),
//! [`HostPrep`](hostprep::HostPrep), and [`CertBundle`](pki::CertBundle) for
//! the PKI.
//!
//! ```
//! use k8s_bootstrap_core::docker::DockerUnit;
//! use k8s_bootstrap_core::etcd::EtcdCluster;
//! use k8s_bootstrap_core::flannel::FlannelConfig;
//! use k8s_bootstrap_core::hostprep::{HostPrep, OsFamily};
//! use k8s_bootstrap_core::spec::Version;
//!
//! let etcd = EtcdCluster::new(Version::new(3, 4, 23))
//!     .member("etcd01", "192.168.1.30".parse().unwrap())
//!     .member("etcd02", "192.168.1.31".parse().unwrap())
//!     .member("etcd03", "192.168.1.32".parse().unwrap());
//! let member = etcd.render_member("etcd03").unwrap();
//! assert!(member.file("/opt/etcd/cfg/etcd").unwrap().text().contains(r#"ETCD_NAME="etcd03""#));
//!
//! let flannel = FlannelConfig::new(Version::new(0, 26, 1)).etcd_endpoints(etcd.client_endpoints());
//! let put = flannel.config_command(&etcd); // through the v3 API: flannel >= 0.18 reads it there
//! assert_eq!(put.argv[1], "put");
//!
//! let docker = DockerUnit::default().render().unwrap();
//! assert!(docker.file("/usr/lib/systemd/system/docker.service").is_some());
//!
//! let prep = HostPrep::new("etcd01").os(OsFamily::Debian).render();
//! assert!(prep.commands.iter().all(|c| c.check.is_some())); // a check before every change
//! ```
//!
//! The whole cluster renders to a [`RenderedCluster`](render::RenderedCluster):
//! per host its files, its commands (argv, with an optional check that makes
//! it a no-op) and the certificates it needs.
//!
//! ```
//! # use k8s_bootstrap_core::spec::{ClusterSpec, HostSpec, Role, Version};
//! # let hosts = vec![HostSpec::new("etcd01", [192, 168, 1, 30].into(), &[Role::Etcd, Role::Node])];
//! # let spec = ClusterSpec::new(hosts, Version::new(3, 5, 17), Version::new(0, 26, 1));
//! let cluster = spec.render().unwrap();
//! let etcd01 = &cluster.hosts["etcd01"];
//! for f in &etcd01.files {
//!     println!("{} {:o} {} bytes", f.path, f.mode, f.contents.len());
//! }
//! // what apply does on new hosts, as a readable sh script per host
//! print!("{}", k8s_bootstrap_core::apply::BarePlan::new(&spec).unwrap().commands_sh("etcd01"));
//! let keys: Vec<_> = etcd01.certs.iter().filter_map(|c| c.key_path.as_deref()).collect();
//! assert!(keys.contains(&"/opt/etcd/ssl/etcd01-server-key.pem"));
//! ```
//!
//! The PKI replaces cfssl: [`CertBundle::for_cluster`](pki::CertBundle::for_cluster)
//! derives every certificate from the spec, and
//! [`reconcile`](pki::CertBundle::reconcile) keeps what is still right.
//!
//! ```
//! # use k8s_bootstrap_core::spec::{ClusterSpec, HostSpec, Role, Version};
//! use k8s_bootstrap_core::pki::{CertBundle, Change, KeyAlgorithm};
//! # let hosts = vec![HostSpec::new("etcd01", [192, 168, 1, 30].into(), &[Role::Etcd, Role::Node])];
//! # let mut spec = ClusterSpec::new(hosts, Version::new(3, 5, 17), Version::new(0, 26, 1));
//! spec.pki.key_algorithm = KeyAlgorithm::EcdsaP256;
//! let bundle = CertBundle::for_cluster(&spec)?;
//! let first = bundle.generate()?; // CA, server + peer per member, admin and flanneld clients
//! let again = bundle.reconcile(&first.as_existing(), time::OffsetDateTime::now_utc())?;
//! assert!(again.actions.iter().all(|a| a.change == Change::Kept));
//! # Ok::<(), k8s_bootstrap_core::pki::Error>(())
//! ```
//!
//! ### 3. Plan and apply, through a Transport
//!
//! [`apply::open`] goes from a spec to a ready [`Engine`](apply::Engine) in one
//! call: it reconciles the PKI folder on this machine and connects to every
//! host over SSH. [`Engine::plan`](apply::Engine::plan) shows what would
//! change (with diffs), [`Engine::apply`](apply::Engine::apply) changes it,
//! [`Engine::status`](apply::Engine::status) reads the cluster back. Your
//! own [`Progress`](apply::Progress) receives every event.
//!
//! ```no_run
//! use std::sync::Arc;
//! use k8s_bootstrap_core::apply::{self, ApplyOptions, Event, OpenOptions, Progress};
//! # use k8s_bootstrap_core::spec::{ClusterSpec, HostSpec, Role, Version};
//!
//! struct Lines;
//! impl Progress for Lines {
//!     fn event(&self, e: &Event) {
//!         match e {
//!             Event::Changed { host, change } => println!("{host}: {}", change.what),
//!             Event::Failed { host, failure } => eprintln!("{host}: {}", failure.error),
//!             _ => {}
//!         }
//!     }
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! # let spec = ClusterSpec::new(vec![HostSpec::new("etcd01", [192, 168, 1, 30].into(), &[Role::Etcd])], Version::new(3, 5, 17), Version::new(0, 26, 1));
//! let mut opts = OpenOptions::new("pki");              // the CA and every cert, on this machine
//! opts.connect.known_hosts = Some("known_hosts".into()); // host keys are checked strictly
//! let opened = apply::open(&spec, &opts).await?;
//! let engine = opened.engine.with_progress(Arc::new(Lines));
//!
//! let plan = engine.plan(&ApplyOptions::default()).await;
//! println!("{} change(s) to make", plan.change_count());
//! let report = engine.apply(&ApplyOptions::default()).await;
//! assert!(report.ok(), "{report:#?}");
//! assert!(engine.status().await.etcd_healthy);
//! # Ok(()) }
//! ```
//!
//! The engine reaches hosts only through [`Transport`](transport::Transport):
//! [`SshTransport`](transport::SshTransport), [`LocalTransport`](transport::LocalTransport),
//! [`RecordingTransport`](transport::RecordingTransport), or your own (four
//! required methods; see the trait's docs and `examples/custom_transport.rs`).
//! [`Engine::new`](apply::Engine::new) takes one per host:
//!
//! ```no_run
//! use std::collections::BTreeMap;
//! use std::sync::Arc;
//! use k8s_bootstrap_core::apply::{ApplyOptions, Engine};
//! use k8s_bootstrap_core::pki::CertBundle;
//! use k8s_bootstrap_core::transport::{SshConfig, SshTransport, Transport};
//! # use k8s_bootstrap_core::spec::{ClusterSpec, HostSpec, Role, Version};
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! # let spec = ClusterSpec::new(vec![HostSpec::new("etcd01", [192, 168, 1, 30].into(), &[Role::Etcd])], Version::new(3, 5, 17), Version::new(0, 26, 1));
//! let pki = CertBundle::for_cluster(&spec)?.generate()?;
//! let mut hosts: BTreeMap<String, Arc<dyn Transport>> = BTreeMap::new();
//! for h in &spec.hosts {
//!     let ssh = SshConfig::new(h.address.to_string()).user("deploy").identity_file("/home/me/.ssh/id_ed25519");
//!     hosts.insert(h.name.clone(), Arc::new(SshTransport::connect(ssh).await?));
//! }
//! let report = Engine::new(&spec, &pki, hosts)?.apply(&ApplyOptions::default()).await;
//! for (host, r) in &report.hosts {
//!     println!("{host}: {} changed, {} unchanged, failed: {:?}", r.changes.len(), r.unchanged, r.failed);
//! }
//! # Ok(()) }
//! ```
//!
//! ## Modules
//! - [`spec`]: [`spec::ClusterSpec`], the typed cluster description (YAML), validated as a whole.
//! - [`pki`]: [`pki::CertBundle`], the TLS PKI of the cluster (replaces cfssl).
//! - [`render`]: [`spec::ClusterSpec::render`], every file and command of every host.
//! - [`etcd`], [`flannel`], [`docker`], [`hostprep`]: the builders, usable on their own.
//! - [`transport`]: the [`transport::Transport`] trait and its implementations.
//! - [`apply`]: [`apply::Engine`], plan and apply a spec on hosts, idempotently, and read its status.
//! - [`model`]: the value types every layer above shares (versions, problems, rendered files and commands).
//! - [`shell`]: quoting of commands for people to read.
//! - [`error`]: one classification of every error above, for front ends.
//!
//! ## Errors
//! One error type per module, each naming what failed and where:
//! [`spec::SpecError`] (field path, line, rule, fix), [`pki::Error`],
//! [`render::Error`] (the host), [`transport::TransportError`] (the host and
//! the command; [`is_retryable`](transport::TransportError::is_retryable)),
//! [`apply::Error`] and [`apply::OpenError`] (before any host is touched);
//! failures on a host during a run are not errors but part of the
//! [`apply::Report`] ([`apply::Failure`] with stage, step and journal).
//! [`error::describe`] classifies any of them in one place (bad input, PKI,
//! template, host, other; with the problems and host details), for front
//! ends that map errors to exit codes or exception classes.
//!
//! ## Cargo features
//! - `ssh` (default): [`transport::SshTransport`] on russh and [`apply::open`].
//! - `mock`: `transport::MockTransport`, a mockall mock of the trait, for your tests.
#![deny(missing_docs)]

pub mod adopt;
pub mod apply;
pub mod pki;
pub mod docker;
pub mod error;
pub mod etcd;
pub mod flannel;
pub mod hostprep;
pub mod model;
pub mod render;
pub mod shell;
pub mod spec;
pub mod tools;
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
