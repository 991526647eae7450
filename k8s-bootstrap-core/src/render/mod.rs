//! Rendering a whole cluster: [`ClusterSpec::render`] validates the spec and
//! returns, for every host, its files, its commands and the certificates
//! it needs. Nothing touches a disk or a network.
//!
//! ```
//! use k8s_bootstrap_core::spec::{ClusterSpec, HostSpec, Role, Version};
//! let hosts = vec![HostSpec::new("etcd01", "192.168.1.30".parse().unwrap(), &[Role::Etcd, Role::Node])];
//! let spec = ClusterSpec::new(hosts, Version::new(3, 5, 17), Version::new(0, 26, 1));
//! let cluster = spec.render().unwrap();
//! let host = &cluster.hosts["etcd01"];
//! for f in &host.files {
//!     println!("{} ({:o}, {} bytes)", f.path, f.mode, f.contents.len());
//! }
//! assert!(host.file("/usr/lib/systemd/system/flanneld.service").is_some());
//! ```

use std::collections::BTreeMap;

use serde::Serialize;

pub use crate::model::{Command, HostCert, HostRender, Phase, RenderedFile};

use crate::docker::DockerUnit;
use crate::etcd::EtcdCluster;
use crate::flannel::FlannelConfig;
use crate::hostprep::HostPrep;
use crate::spec::{ClusterSpec, Role, SpecError, Warning};

/// The error of rendering a cluster.
///
/// ```
/// use k8s_bootstrap_core::render::Error;
/// use k8s_bootstrap_core::spec::{ClusterSpec, HostSpec, Role, Version};
/// let hosts = vec![
///     HostSpec::new("etcd01", [192, 168, 1, 30].into(), &[Role::Etcd, Role::Node]),
///     HostSpec::new("etcd02", [192, 168, 1, 30].into(), &[Role::Etcd, Role::Node]), // copy-paste slip
/// ];
/// let err = ClusterSpec::new(hosts, Version::new(3, 5, 17), Version::new(0, 26, 1)).render().unwrap_err();
/// let Error::Spec(spec_err) = &err else { panic!("{err}") };
/// assert_eq!(spec_err.problems()[0].path, "hosts[1].address");
/// assert!(err.to_string().contains(
///     "hosts[1].address = 192.168.1.30: host addresses must be unique (also used by hosts[0])"
/// ));
/// ```
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The spec is invalid.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// etcd's files could not be rendered.
    #[error("etcd files of host {host}")]
    Etcd {
        /// The host.
        host: String,
        /// The cause.
        #[source]
        source: crate::etcd::Error,
    },
    /// flannel's files could not be rendered.
    #[error("flannel files of host {host}")]
    Flannel {
        /// The host.
        host: String,
        /// The cause.
        #[source]
        source: crate::flannel::Error,
    },
    /// docker's files could not be rendered.
    #[error("docker files of host {host}")]
    Docker {
        /// The host.
        host: String,
        /// The cause.
        #[source]
        source: crate::docker::Error,
    },
    /// The host preparation could not be rendered.
    #[error("host preparation of host {host}")]
    HostPrep {
        /// The host.
        host: String,
        /// The cause.
        #[source]
        source: crate::hostprep::Error,
    },
}

/// `Result` of this module.
///
/// ```
/// use k8s_bootstrap_core::render;
/// use k8s_bootstrap_core::spec::{ClusterSpec, Skeleton};
/// fn file_count(spec: &ClusterSpec) -> render::Result<usize> {
///     Ok(spec.render()?.hosts.values().map(|h| h.files.len()).sum())
/// }
/// let (spec, _) = ClusterSpec::load(&Skeleton::Tutorial.to_yaml()).unwrap();
/// assert!(file_count(&spec)? > 3 * 5);
/// # Ok::<(), render::Error>(())
/// ```
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl ClusterSpec {
    /// Validates the spec and renders every host. The warnings of
    /// validation are in [`RenderedCluster::warnings`].
    ///
    /// ```
    /// use k8s_bootstrap_core::spec::{ClusterSpec, Skeleton};
    /// let (spec, _warnings) = ClusterSpec::load(&Skeleton::Tutorial.to_yaml())?;
    /// let cluster = spec.render()?;
    /// assert_eq!(cluster.hosts.keys().collect::<Vec<_>>(), ["etcd01", "etcd02", "etcd03"]);
    /// let env = cluster.hosts["etcd02"].file("/opt/etcd/cfg/etcd").unwrap();
    /// assert!(env.text().contains(r#"ETCD_NAME="etcd02""#));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn render(&self) -> Result<RenderedCluster> {
        let warnings = self.validate()?;
        let etcd = EtcdCluster::from_spec(self);
        let flannel = FlannelConfig::from_spec(self);
        let first_member = self.hosts_with(Role::Etcd).next().map(|h| h.name.clone());
        let mut out = RenderedCluster { warnings, ..RenderedCluster::default() };
        for h in &self.hosts {
            let mut hr = HostRender::default();
            let prep = HostPrep::from_spec(self, h).try_render().map_err(|source| Error::HostPrep { host: h.name.clone(), source })?;
            hr.merge(prep);
            if h.has(Role::Etcd) {
                let r = etcd.render_member(&h.name).map_err(|source| Error::Etcd { host: h.name.clone(), source })?;
                hr.merge(r);
                if first_member.as_deref() == Some(h.name.as_str()) {
                    hr.commands.push(flannel.config_command(&etcd));
                }
            }
            if h.has(Role::Node) {
                let r = flannel
                    .render_node(&h.name, h.address, h.iface.as_deref())
                    .map_err(|source| Error::Flannel { host: h.name.clone(), source })?;
                hr.merge(r);
                let r = DockerUnit::from_spec(self, h).render().map_err(|source| Error::Docker { host: h.name.clone(), source })?;
                hr.merge(r);
            }
            hr.finish();
            out.hosts.insert(h.name.clone(), hr);
        }
        Ok(out)
    }
}

/// The render of a whole cluster: host name to what that host gets, plus
/// the warnings of validation.
///
/// ```
/// use k8s_bootstrap_core::pki::CertId;
/// use k8s_bootstrap_core::spec::{ClusterSpec, HostSpec, Role, Version};
/// let hosts = vec![
///     HostSpec::new("etcd01", [192, 168, 1, 30].into(), &[Role::Etcd]),
///     HostSpec::new("node01", [192, 168, 1, 40].into(), &[Role::Node]),
/// ];
/// let mut spec = ClusterSpec::new(hosts, Version::new(3, 5, 17), Version::new(0, 26, 1));
/// spec.network.pod_cidr = "172.17.0.0/16".parse().unwrap();
/// let cluster = spec.render().unwrap();
/// assert_eq!(cluster.warnings[0].path, "network.pod_cidr"); // docker's own bridge network
/// let node = &cluster.hosts["node01"];
/// let certs: Vec<_> = node.certs.iter().map(|c| c.id.clone()).collect();
/// assert_eq!(certs, [CertId::Ca, CertId::FlannelClient]);
/// assert!(node.commands.iter().any(|c| c.argv.ends_with(&["systemctl".into(), "enable".into(), "--no-reload".into(), "docker".into()])));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RenderedCluster {
    /// Per host, by name.
    pub hosts: BTreeMap<String, HostRender>,
    /// Warnings of the spec (risky but working settings).
    pub warnings: Vec<Warning>,
}
