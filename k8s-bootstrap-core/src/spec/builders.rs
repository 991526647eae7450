//! The builders as a spec describes them: every `from_spec` constructor,
//! and [`CertBundle::for_cluster`], lives here with the spec rather than
//! with its builder, so that the builders (below the spec) never import it.
//! The methods are inherent methods of the builders all the same:
//! `EtcdCluster::from_spec` is called as before.

use crate::docker::{DockerUnit, EngineInstall};
use crate::etcd::{EtcdCluster, EtcdMember};
use crate::flannel::FlannelConfig;
use crate::hostprep::HostPrep;
use crate::pki::{self, CertBundle, Layout};

use super::{CertLayout, ClusterSpec, HostSpec, Role};

impl EtcdCluster {
    /// The cluster a spec describes (its etcd hosts, in order).
    ///
    /// ```
    /// use k8s_bootstrap_core::etcd::EtcdCluster;
    /// use k8s_bootstrap_core::spec::{ClusterSpec, HostSpec, Role, Version};
    /// let hosts = vec![
    ///     HostSpec::new("etcd01", [192, 168, 1, 30].into(), &[Role::Etcd, Role::Node]),
    ///     HostSpec::new("node04", [192, 168, 1, 33].into(), &[Role::Node]),
    /// ];
    /// let etcd = EtcdCluster::from_spec(&ClusterSpec::new(hosts, Version::new(3, 3, 13), Version::new(0, 11, 0)));
    /// assert_eq!(etcd.initial_cluster(), "etcd01=https://192.168.1.30:2380"); // members only
    /// assert!(etcd.enable_v2); // flannel 0.11 needs the v2 API
    /// ```
    pub fn from_spec(spec: &ClusterSpec) -> Self {
        EtcdCluster {
            version: spec.versions.etcd,
            members: spec.hosts_with(Role::Etcd).map(|h| EtcdMember::new(&h.name, h.address)).collect(),
            client_port: spec.etcd.client_port,
            peer_port: spec.etcd.peer_port,
            data_dir: spec.etcd.data_dir.clone(),
            token: spec.etcd.token.clone(),
            initial_state: spec.etcd.initial_state,
            tls_min_version: spec.etcd.tls_min_version,
            enable_v2: spec.needs_etcd_v2(),
            etcd_dir: spec.layout.etcd_dir.clone(),
            systemd_dir: spec.layout.systemd_dir.clone(),
            cert_layout: spec.pki.layout,
        }
    }
}

impl FlannelConfig {
    /// flannel as a spec describes it.
    ///
    /// ```
    /// use k8s_bootstrap_core::flannel::FlannelConfig;
    /// use k8s_bootstrap_core::spec::{ClusterSpec, HostSpec, Role, Version};
    /// let hosts = vec![
    ///     HostSpec::new("etcd01", [192, 168, 1, 30].into(), &[Role::Etcd, Role::Node]),
    ///     HostSpec::new("etcd02", [192, 168, 1, 31].into(), &[Role::Etcd, Role::Node]),
    /// ];
    /// let f = FlannelConfig::from_spec(&ClusterSpec::new(hosts, Version::new(3, 5, 17), Version::new(0, 26, 1)));
    /// assert_eq!(f.etcd_endpoints, "https://192.168.1.30:2379,https://192.168.1.31:2379");
    /// ```
    pub fn from_spec(spec: &ClusterSpec) -> Self {
        let n = &spec.network;
        FlannelConfig {
            version: spec.versions.flannel,
            network: n.pod_cidr,
            subnet_len: n.subnet_len,
            subnet_min: n.subnet_min,
            subnet_max: n.subnet_max,
            backend: n.backend.clone(),
            etcd_prefix: n.etcd_prefix.clone(),
            etcd_endpoints: EtcdCluster::from_spec(spec).client_endpoints(),
            ip_masq: n.ip_masq,
            kubernetes_dir: spec.layout.kubernetes_dir.clone(),
            systemd_dir: spec.layout.systemd_dir.clone(),
            cert_layout: spec.pki.layout,
        }
    }
}

impl DockerUnit {
    /// docker as a spec describes it for `host`.
    ///
    /// ```
    /// use k8s_bootstrap_core::docker::{DockerMode, DockerUnit};
    /// use k8s_bootstrap_core::spec::{ClusterSpec, HostSpec, Role, Version};
    /// let mut host = HostSpec::new("etcd01", [192, 168, 1, 30].into(), &[Role::Etcd, Role::Node]);
    /// host.docker_bip = Some("10.244.5.1/24".into());
    /// let mut spec = ClusterSpec::new(vec![host.clone()], Version::new(3, 5, 17), Version::new(0, 26, 1));
    /// spec.docker.mode = DockerMode::DaemonJson;
    /// let d = DockerUnit::from_spec(&spec, &host);
    /// assert_eq!(d.bip.as_deref(), Some("10.244.5.1/24")); // per host
    /// assert!(d.daemon_json().unwrap().contains(r#""bip": "10.244.5.1/24""#));
    /// ```
    pub fn from_spec(spec: &ClusterSpec, host: &HostSpec) -> Self {
        let d = &spec.docker;
        DockerUnit {
            mode: d.mode,
            dockerd: spec.layout.dockerd.clone(),
            systemd_dir: spec.layout.systemd_dir.clone(),
            opts_file: crate::flannel::SUBNET_ENV.into(),
            ip_masq: !spec.network.ip_masq,
            data_root: d.data_root.clone(),
            storage_driver: d.storage_driver.clone(),
            registry_mirrors: d.registry_mirrors.clone(),
            cgroup_driver: d.cgroup_driver,
            bip: host.docker_bip.clone(),
            mtu: d.mtu,
        }
    }
}

impl EngineInstall {
    /// The install a spec describes (the same on every node).
    ///
    /// ```
    /// use k8s_bootstrap_core::docker::{DockerInstall, EngineInstall};
    /// use k8s_bootstrap_core::spec::{ClusterSpec, HostSpec, Role, Version};
    /// let mut spec = ClusterSpec::new(vec![HostSpec::new("n1", [10, 0, 0, 1].into(), &[Role::Etcd, Role::Node])], Version::new(3, 5, 17), Version::new(0, 26, 1));
    /// spec.layout.dockerd = "/usr/sbin/dockerd".into(); // Debian's docker.io
    /// assert_eq!(EngineInstall::from_spec(&spec).dockerd, "/usr/sbin/dockerd");
    /// ```
    pub fn from_spec(spec: &ClusterSpec) -> Self {
        EngineInstall { source: spec.docker.install.clone(), dockerd: spec.layout.dockerd.clone() }
    }
}

impl HostPrep {
    /// Preparation of `host` as the spec describes it: etcd ports on
    /// members, the flannel backend's UDP port, modules and sysctls on nodes.
    ///
    /// ```
    /// use k8s_bootstrap_core::hostprep::HostPrep;
    /// use k8s_bootstrap_core::spec::{ClusterSpec, HostSpec, Role, Version};
    /// let hosts = vec![
    ///     HostSpec::new("etcd01", [192, 168, 1, 30].into(), &[Role::Etcd]),
    ///     HostSpec::new("node04", [192, 168, 1, 33].into(), &[Role::Node]),
    /// ];
    /// let spec = ClusterSpec::new(hosts, Version::new(3, 5, 17), Version::new(0, 26, 1));
    /// let member = HostPrep::from_spec(&spec, &spec.hosts[0]);
    /// assert_eq!((member.tcp_ports, member.modules.len()), (vec![2379, 2380], 0)); // no node: no modules
    /// let node = HostPrep::from_spec(&spec, &spec.hosts[1]);
    /// assert_eq!(node.udp_ports, [8472]); // vxlan
    /// ```
    pub fn from_spec(spec: &ClusterSpec, host: &HostSpec) -> Self {
        let hp = &spec.hostprep;
        let mut p = HostPrep::new(&host.name);
        if !hp.set_hostname {
            p.hostname = None;
        }
        p.os = host.os;
        p.address = Some(host.address.into());
        p.selinux = hp.selinux;
        p.firewall = hp.firewall;
        p.time_sync = hp.time_sync;
        p.swap_off = hp.swap_off;
        if host.has(Role::Etcd) {
            p.tcp_ports = vec![spec.etcd.client_port, spec.etcd.peer_port];
        }
        if host.has(Role::Node) {
            p.udp_ports.extend(spec.network.backend.udp_port());
        } else {
            p.modules.clear();
            p.sysctls.clear();
        }
        p
    }
}

impl CertBundle {
    /// The certificate bundle a cluster needs: every host with the `etcd`
    /// role is a member (its name and address), with the spec's `pki`
    /// settings; a key algorithm that the spec's etcd or flannel version
    /// cannot use gives a warning.
    ///
    /// ```
    /// use k8s_bootstrap_core::pki::{CertBundle, CertId};
    /// use k8s_bootstrap_core::spec::ClusterSpec;
    /// let spec = ClusterSpec::from_yaml_str(r#"
    /// hosts:
    ///   - { name: etcd01, address: 10.0.0.1, roles: [etcd, node] }
    /// versions: { etcd: "3.4.23", flannel: "0.26.1" }
    /// "#).unwrap();
    /// let bundle = CertBundle::for_cluster(&spec)?;
    /// assert!(bundle.wanted().contains(&CertId::Server("etcd01".into())));
    /// # Ok::<(), k8s_bootstrap_core::pki::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`pki::Error::InvalidField`](crate::pki::Error::InvalidField) for PKI
    /// settings the bundle refuses (validities, subject, extra SANs), named
    /// as in the builder.
    pub fn for_cluster(spec: &ClusterSpec) -> pki::Result<CertBundle> {
        let p = &spec.pki;
        let mut b = CertBundle::builder()
            .ca_subject(p.ca_subject.clone())
            .key_algorithm(p.key_algorithm)
            .ca_validity_days(i64::from(p.ca_validity_days))
            .leaf_validity_days(i64::from(p.leaf_validity_days))
            .renew_before_days(i64::from(p.renew_before_days))
            .layout(match p.layout {
                CertLayout::PerMember => Layout::PerMember,
                CertLayout::Tutorial => Layout::Tutorial,
            })
            .target_versions(Some(spec.versions.etcd.major_minor()), Some(spec.versions.flannel.major_minor()))
            .members(spec.hosts_with(Role::Etcd).map(|h| pki::EtcdMember::new(&h.name, [h.address.to_string()])));
        for s in &p.extra_sans {
            b = b.extra_san(s.clone());
        }
        b.build().map_err(|e| match e {
            pki::Error::InvalidField { field, value, reason } => {
                pki::Error::InvalidField { field: format!("pki.{field}"), value, reason }
            }
            other => other,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::DockerInstall;
    use crate::pki::{CertId, KeyAlgorithm};

    const SPEC: &str = r#"
hosts:
  - { name: etcd01, address: 10.0.0.1, roles: [etcd, node] }
  - { name: etcd02, address: 10.0.0.2, roles: [etcd, node] }
  - { name: etcd03, address: 10.0.0.3, roles: [etcd] }
  - { name: node01, address: 10.0.0.9, roles: [node] }
versions: { etcd: "3.3.13", flannel: "0.11.0" }
"#;

    #[test]
    fn members_are_the_etcd_hosts() {
        let spec = ClusterSpec::from_yaml_str(SPEC).unwrap();
        let b = CertBundle::for_cluster(&spec).unwrap();
        let w = b.wanted();
        assert!(w.contains(&CertId::Peer("etcd03".into())));
        assert!(!w.iter().any(|i| i.member() == Some("node01")));
        assert!(w.contains(&CertId::FlannelClient) && w.contains(&CertId::AdminClient));
    }

    #[test]
    fn ed25519_with_the_tutorials_versions_warns() {
        let mut spec = ClusterSpec::from_yaml_str(SPEC).unwrap();
        spec.pki.key_algorithm = KeyAlgorithm::Ed25519;
        let b = CertBundle::for_cluster(&spec).unwrap();
        assert!(b.warnings().iter().any(|w| w.contains("etcd 3.3")), "{:?}", b.warnings());
    }

    #[test]
    fn bad_pki_settings_are_named_under_pki() {
        let mut spec = ClusterSpec::from_yaml_str(SPEC).unwrap();
        spec.pki.extra_sans = vec!["not a host".into()];
        let e = CertBundle::for_cluster(&spec).unwrap_err().to_string();
        assert!(e.contains("pki.extra_sans[0]") && e.contains("not a host"), "{e}");
    }

    const DOCKER_SPEC: &str = "hosts:\n  - { name: n1, address: 10.0.0.1, roles: [etcd, node] }\nversions: { etcd: \"3.4.23\", flannel: \"0.26.1\" }\n";

    #[test]
    fn the_spec_names_docker_install_with_its_line() {
        let yaml = format!("{DOCKER_SPEC}docker:\n  install: {{ repo: mirrors.aliyun.com/docker-ce.repo }}\n");
        let err = ClusterSpec::load(&yaml).unwrap_err();
        let p = &err.problems()[0];
        assert_eq!((p.path.as_str(), p.value.as_str()), ("docker.install.repo", "mirrors.aliyun.com/docker-ce.repo"));
        assert_eq!(p.location.map(|l| l.0), Some(5), "{err}");
        let (spec, warnings) = ClusterSpec::load(&format!("{DOCKER_SPEC}docker:\n  install: {{ offline: ./debs }}\n")).unwrap();
        assert_eq!(spec.docker.install, DockerInstall::Offline("./debs".into()));
        assert!(warnings.iter().all(|w| w.path != "layout.dockerd"));
        let (_, warnings) = ClusterSpec::load(&format!("{DOCKER_SPEC}layout: {{ dockerd: /opt/docker/dockerd }}\n")).unwrap();
        assert!(warnings.iter().any(|w| w.path == "layout.dockerd"), "{warnings:?}");
        let (_, warnings) = ClusterSpec::load(&format!("{DOCKER_SPEC}layout: {{ dockerd: /opt/docker/dockerd }}\ndocker: {{ install: none }}\n")).unwrap();
        assert!(warnings.iter().all(|w| w.path != "layout.dockerd"));
        // an unknown form is a parse error naming the variants
        let err = ClusterSpec::load(&format!("{DOCKER_SPEC}docker:\n  install: apt\n")).unwrap_err().to_string();
        assert!(err.contains("packages") && err.contains("offline"), "{err}");
    }
}
