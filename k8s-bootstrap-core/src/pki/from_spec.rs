//! The bundle of a [`ClusterSpec`]: its etcd members, PKI settings and
//! versions turned into a [`CertBundle`].

use crate::spec::{CertLayout, ClusterSpec, Role};

use super::{CertBundle, EtcdMember, Layout, Result};

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
    /// [`super::Error::InvalidField`] for PKI settings the bundle refuses
    /// (validities, subject, extra SANs), named as in the builder.
    pub fn for_cluster(spec: &ClusterSpec) -> Result<CertBundle> {
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
            .members(spec.hosts_with(Role::Etcd).map(|h| EtcdMember::new(&h.name, [h.address.to_string()])));
        for s in &p.extra_sans {
            b = b.extra_san(s.clone());
        }
        b.build().map_err(|e| match e {
            super::Error::InvalidField { field, value, reason } => {
                super::Error::InvalidField { field: format!("pki.{field}"), value, reason }
            }
            other => other,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
}
