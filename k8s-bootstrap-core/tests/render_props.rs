//! proptest over spec inputs: valid specs render, invalid ones give errors,
//! nothing panics (neither typed specs nor arbitrary YAML).

mod render_support;
use render_support as common;

use std::net::Ipv4Addr;

use k8s_bootstrap_core::docker::DockerMode;
use k8s_bootstrap_core::flannel::Backend;
use k8s_bootstrap_core::spec::{ClusterSpec, HostSpec, Ipv4Cidr, Role, Version};
use proptest::prelude::*;

fn etcd_version() -> impl Strategy<Value = Version> {
    (3u32..=7, prop::option::of(0u32..40)).prop_map(|(m, p)| Version { major: 3, minor: m, patch: p })
}

fn flannel_version() -> impl Strategy<Value = Version> {
    (11u32..=27, prop::option::of(0u32..5)).prop_map(|(m, p)| Version { major: 0, minor: m, patch: p })
}

fn roles() -> impl Strategy<Value = Vec<Role>> {
    prop_oneof![Just(vec![Role::Etcd, Role::Node]), Just(vec![Role::Etcd]), Just(vec![Role::Node])]
}

fn backend() -> impl Strategy<Value = Backend> {
    prop_oneof![
        (1u32..100, 1u16..u16::MAX, any::<bool>()).prop_map(|(vni, port, direct_routing)| Backend::Vxlan { vni, port, direct_routing }),
        Just(Backend::HostGw),
        (1u16..u16::MAX).prop_map(|port| Backend::Udp { port }),
        (1u16..u16::MAX).prop_map(|listen_port| Backend::Wireguard { listen_port }),
    ]
}

/// Specs that follow every rule: distinct names and addresses on
/// 192.168.0.0/16, an odd number of etcd members, versions that work
/// together, a pod network on 10.x.
fn valid_spec() -> impl Strategy<Value = ClusterSpec> {
    (prop::collection::vec(roles(), 1..9), etcd_version(), flannel_version(), 8u8..=16, 0u8..=4, backend(), any::<bool>()).prop_map(
        |(roles, etcd, flannel, prefix, extra, backend, daemon_json)| {
            let mut hosts: Vec<HostSpec> = roles
                .iter()
                .enumerate()
                .map(|(i, r)| HostSpec::new(format!("h{i}"), Ipv4Addr::new(192, 168, (i / 200) as u8, (i % 200 + 1) as u8), r))
                .collect();
            // An odd, non-zero number of members.
            let members = hosts.iter().filter(|h| h.has(Role::Etcd)).count();
            if members % 2 == 0 {
                hosts[0].roles = if hosts[0].has(Role::Etcd) { vec![Role::Node] } else { vec![Role::Etcd, Role::Node] };
                if hosts.iter().all(|h| !h.has(Role::Etcd)) {
                    hosts[0].roles = vec![Role::Etcd];
                }
            }
            let flannel = if etcd.minor >= 6 && flannel.minor < 18 { Version::new(0, 18, 0) } else { flannel };
            let backend = match backend {
                Backend::Wireguard { .. } if flannel.minor < 13 => Backend::HostGw,
                b => b,
            };
            let mut spec = ClusterSpec::new(hosts, etcd, flannel);
            spec.network.pod_cidr = Ipv4Cidr::new(Ipv4Addr::new(10, 0, 0, 0), prefix).unwrap();
            spec.network.subnet_len = (prefix + 2 + extra * 3).min(30);
            spec.network.service_cidr = Some("172.30.0.0/16".parse().unwrap());
            spec.network.backend = backend;
            if daemon_json {
                spec.docker.mode = DockerMode::DaemonJson;
                for h in spec.hosts.iter_mut() {
                    h.docker_bip = Some("10.0.5.1/24".into());
                }
            }
            spec
        },
    )
}

/// Anything: random names, addresses, versions, networks and ports.
fn any_spec() -> impl Strategy<Value = ClusterSpec> {
    let host = ("[a-zA-Z0-9_-]{0,8}", any::<[u8; 4]>(), prop::collection::vec(prop_oneof![Just(Role::Etcd), Just(Role::Node)], 0..3))
        .prop_map(|(n, a, r)| HostSpec::new(n, Ipv4Addr::from(a), &r));
    (
        prop::collection::vec(host, 0..6),
        (0u32..5, 0u32..10, prop::option::of(0u32..50)),
        (0u32..2, 0u32..40, prop::option::of(0u32..50)),
        (any::<[u8; 4]>(), 0u8..=32, 0u8..=40),
        (any::<u16>(), any::<u16>()),
        ("\\PC{0,12}", "\\PC{0,12}"),
    )
        .prop_map(|(hosts, e, f, (net, prefix, len), (cp, pp), (data_dir, prefix_key))| {
            let mut spec = ClusterSpec::new(hosts, Version { major: e.0, minor: e.1, patch: e.2 }, Version { major: f.0, minor: f.1, patch: f.2 });
            let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(prefix)) };
            spec.network.pod_cidr = Ipv4Cidr::new(Ipv4Addr::from(u32::from_be_bytes(net) & mask), prefix).unwrap();
            spec.network.subnet_len = len;
            spec.etcd.client_port = cp;
            spec.etcd.peer_port = pp;
            if !data_dir.is_empty() {
                spec.etcd.data_dir = data_dir;
            }
            if !prefix_key.is_empty() {
                spec.network.etcd_prefix = prefix_key;
            }
            spec
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn valid_specs_render_every_host(spec in valid_spec()) {
        let warnings = spec.validate().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let rendered = spec.render().map_err(|e| TestCaseError::fail(format!("{e:#?}")))?;
        prop_assert_eq!(rendered.warnings, warnings);
        prop_assert_eq!(rendered.hosts.len(), spec.hosts.len());
        for h in &spec.hosts {
            let r = &rendered.hosts[&h.name];
            prop_assert_eq!(r.file("/opt/etcd/cfg/etcd").is_some(), h.has(Role::Etcd));
            prop_assert_eq!(r.file("/usr/lib/systemd/system/flanneld.service").is_some(), h.has(Role::Node));
            for f in &r.files {
                prop_assert!(f.path.starts_with('/'));
                prop_assert!(!f.text().contains("http://1"));
            }
        }
        let bare = k8s_bootstrap_core::apply::BarePlan::new(&spec).map_err(|e| TestCaseError::fail(format!("{e:#?}")))?;
        for h in &spec.hosts {
            prop_assert!(bare.commands_sh(&h.name).starts_with("#!/bin/sh\n"));
            prop_assert!(bare.plan().failed.is_empty(), "{:?}", bare.plan().failed);
        }
        // YAML round trip keeps the spec.
        prop_assert_eq!(ClusterSpec::from_yaml_str(&spec.to_yaml_string()).unwrap(), spec);
    }

    #[test]
    fn any_spec_validates_and_renders_consistently(spec in any_spec()) {
        match spec.validate() {
            Ok(_) => prop_assert!(spec.render().is_ok()),
            Err(e) => {
                prop_assert!(!e.problems().is_empty());
                prop_assert!(spec.render().is_err());
            }
        }
    }

    #[test]
    fn arbitrary_yaml_never_panics(yaml in "\\PC{0,200}") {
        let _ = ClusterSpec::from_yaml_str(&yaml);
        let _ = ClusterSpec::load(&yaml);
    }

    #[test]
    fn mutated_tutorial_yaml_never_panics(pos in 0usize..4000, insert in "[ :\\-\\[\\]{}a-z0-9#\\n\"']{1,4}", cut in 0usize..6) {
        let yaml = common::tutorial_yaml();
        let mut at = pos % yaml.len();
        while !yaml.is_char_boundary(at) { at -= 1; }
        let mut end = (at + cut).min(yaml.len());
        while !yaml.is_char_boundary(end) { end -= 1; }
        let mutated = format!("{}{}{}", &yaml[..at], insert, &yaml[end..]);
        let _ = ClusterSpec::load(&mutated);
        if let Ok(spec) = ClusterSpec::from_yaml_str(&mutated) {
            match spec.validate() {
                Ok(_) => prop_assert!(spec.render().is_ok()),
                Err(_) => prop_assert!(spec.render().is_err()),
            }
        }
    }
}
