//! Rendering the tutorial's cluster: snapshots of every file, the tutorial's
//! bugs (shared/notes/traps.md) as regression tests, validation, parsing.

mod render_support;
use render_support as common;

use common::{tutorial, tutorial_yaml};
use k8s_bootstrap_core::apply::BarePlan;
use k8s_bootstrap_core::docker::{DockerMode, DockerUnit};
use k8s_bootstrap_core::etcd::{EtcdCluster, TlsMinVersion};
use k8s_bootstrap_core::flannel::FlannelConfig;
use k8s_bootstrap_core::hostprep::{HostPrep, OsFamily};
use k8s_bootstrap_core::pki::{CertId, KeyAlgorithm};
use k8s_bootstrap_core::render::{HostRender, RenderedCluster};
use k8s_bootstrap_core::spec::{ClusterSpec, SpecError, Version};

fn render(etcd: &str, flannel: &str) -> RenderedCluster {
    tutorial(etcd, flannel).render().expect("the tutorial spec renders")
}

fn text<'a>(h: &'a HostRender, path: &str) -> &'a str {
    h.file(path).unwrap_or_else(|| panic!("{path} is rendered")).text()
}

fn problems(spec: &ClusterSpec) -> Vec<String> {
    match spec.validate() {
        Ok(_) => Vec::new(),
        Err(SpecError::Invalid { problems }) => problems.iter().map(|p| p.to_string()).collect(),
        Err(e) => panic!("unexpected {e}"),
    }
}

fn snapshot_all(tag: &str, spec: &ClusterSpec) {
    let bare = BarePlan::new(spec).expect("the spec plans");
    for (host, r) in &bare.rendered().hosts {
        for f in &r.files {
            let name = format!("{tag}__{host}__{}", f.path.trim_start_matches('/').replace(['/', '.'], "_"));
            insta::assert_snapshot!(name, format!("# {} mode {:o} owner {}\n{}", f.path, f.mode, f.owner, f.text()));
        }
        insta::assert_snapshot!(format!("{tag}__{host}__commands_sh"), bare.commands_sh(host));
        let certs: Vec<String> = r.certs.iter().map(|c| format!("{:?} {} {:?}", c.id, c.cert_path, c.key_path)).collect();
        insta::assert_snapshot!(format!("{tag}__{host}__certs"), certs.join("\n"));
    }
}

#[test]
fn snapshots_etcd33_flannel011_the_tutorial() {
    snapshot_all("etcd3_3_flannel0_11", &tutorial("3.3.13", "0.11.0"));
}

#[test]
fn snapshots_etcd35_flannel026() {
    snapshot_all("etcd3_5_flannel0_26", &tutorial("3.5.17", "0.26.1"));
}

#[test]
fn tutorial_yaml_is_valid_and_warning_free() {
    let spec = ClusterSpec::from_yaml_str(&tutorial_yaml()).unwrap();
    assert_eq!(spec.validate().unwrap(), vec![]);
    assert_eq!(spec.hosts.len(), 3);
    assert_eq!(spec.versions.etcd, Version::new(3, 3, 13));
    // A round trip through YAML keeps the spec.
    assert_eq!(ClusterSpec::from_yaml_str(&spec.to_yaml_string()).unwrap(), spec);
}

// ---- traps.md "Bugs in the tutorial" ----

/// Bug 1: the initial cluster always named the local member etcd01.
#[test]
fn bug1_initial_cluster_names_every_member_by_its_own_name() {
    let c = render("3.4.23", "0.26.1");
    let want = "ETCD_INITIAL_CLUSTER=\"etcd01=https://192.168.1.30:2380,etcd02=https://192.168.1.31:2380,etcd03=https://192.168.1.32:2380\"";
    for (i, host) in ["etcd01", "etcd02", "etcd03"].iter().enumerate() {
        let env = text(&c.hosts[*host], "/opt/etcd/cfg/etcd");
        assert!(env.contains(want), "{host}: {env}");
        assert!(env.contains(&format!("ETCD_NAME=\"{host}\"")));
        assert!(env.contains(&format!("ETCD_LISTEN_PEER_URLS=\"https://192.168.1.3{i}:2380\"")));
    }
}

/// Bug 2: every setting both as ETCD_* and as a flag (etcd >= 3.4 exits).
#[test]
fn bug2_every_etcd_setting_appears_exactly_once() {
    for v in ["3.3.13", "3.4.23", "3.5.17", "3.6.5"] {
        let c = render(v, "0.26.1");
        let h = &c.hosts["etcd01"];
        let unit = text(h, "/usr/lib/systemd/system/etcd.service");
        assert!(unit.contains("\nExecStart=/opt/etcd/bin/etcd\n"), "bare ExecStart for {v}: {unit}");
        assert!(!unit.contains("--"), "no flags in the unit for {v}");
        let env = text(h, "/opt/etcd/cfg/etcd");
        let keys: Vec<&str> = env.lines().filter(|l| l.starts_with("ETCD_")).map(|l| l.split('=').next().unwrap()).collect();
        let mut unique = keys.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(keys.len(), unique.len(), "duplicate settings for {v}: {keys:?}");
        assert!(keys.len() >= 17);
    }
}

/// Bug 3: a plaintext listener on 127.0.0.1 and no client cert auth.
#[test]
fn bug3_https_only_with_client_and_peer_cert_auth() {
    for v in ["3.3.13", "3.5.17"] {
        let c = render(v, "0.26.1");
        for (host, h) in &c.hosts {
            for f in &h.files {
                assert!(!f.text().contains("http://1") && !f.text().contains("http://$"), "{host} {}", f.path);
            }
            let env = text(h, "/opt/etcd/cfg/etcd");
            assert!(env.contains("ETCD_CLIENT_CERT_AUTH=\"true\""));
            assert!(env.contains("ETCD_PEER_CLIENT_CERT_AUTH=\"true\""));
            assert!(env.contains(",https://127.0.0.1:2379\""), "local access over TLS: {env}");
        }
    }
}

/// Bug 4: one server.pem as server, peer and client cert everywhere.
#[test]
fn bug4_per_member_server_and_peer_certs_and_separate_client_certs() {
    let c = render("3.5.17", "0.26.1");
    let h = &c.hosts["etcd02"];
    let env = text(h, "/opt/etcd/cfg/etcd");
    assert!(env.contains("ETCD_CERT_FILE=\"/opt/etcd/ssl/etcd02-server.pem\""));
    assert!(env.contains("ETCD_KEY_FILE=\"/opt/etcd/ssl/etcd02-server-key.pem\""));
    assert!(env.contains("ETCD_PEER_CERT_FILE=\"/opt/etcd/ssl/etcd02-peer.pem\""));
    assert!(text(h, "/opt/etcd/bin/etcdctl-admin").contains("--cert=/opt/etcd/ssl/admin.pem"));
    assert!(text(h, "/opt/kubernetes/cfg/flanneld").contains("--etcd-certfile=/opt/kubernetes/ssl/flanneld.pem"));
    let ids: Vec<CertId> = h.certs.iter().map(|c| c.id.clone()).collect();
    assert_eq!(
        ids,
        vec![
            CertId::Ca,
            CertId::Server("etcd02".into()),
            CertId::Peer("etcd02".into()),
            CertId::AdminClient,
            CertId::Ca,
            CertId::FlannelClient
        ]
    );
    assert!(c.hosts.values().all(|h| h.files.iter().all(|f| !f.text().contains("server.pem\"") || f.text().contains("-server.pem"))));
    // A node-only host gets the CA and the flanneld client cert only.
    let mut spec = tutorial("3.5.17", "0.26.1");
    spec.hosts[2].roles = vec![k8s_bootstrap_core::spec::Role::Node];
    spec.hosts.push(k8s_bootstrap_core::spec::HostSpec::new("etcd04", "192.168.1.33".parse().unwrap(), &[k8s_bootstrap_core::spec::Role::Etcd]));
    let c = spec.render().unwrap();
    let ids: Vec<CertId> = c.hosts["etcd03"].certs.iter().map(|c| c.id.clone()).collect();
    assert_eq!(ids, vec![CertId::Ca, CertId::FlannelClient]);
}

/// Bug 5: mk-docker-opts.sh -d /run/flannel/subnet.env overwrote flannel's
/// lease. Nothing of ours writes subnet.env and no script runs after
/// flanneld: docker reads FLANNEL_SUBNET and FLANNEL_MTU from it directly.
#[test]
fn bug5_nothing_but_flanneld_writes_its_subnet_file() {
    for (e, f) in [("3.3.13", "0.11.0"), ("3.5.17", "0.26.1")] {
        let c = render(e, f);
        let h = &c.hosts["etcd03"];
        assert!(h.files.iter().all(|f| !f.path.starts_with("/run/flannel")), "no rendered file under /run/flannel");
        assert!(h.commands.iter().all(|c| !c.to_shell().contains("subnet.env")), "no command touches subnet.env");
        let unit = text(h, "/usr/lib/systemd/system/flanneld.service");
        assert!(!unit.contains("ExecStartPost") && !unit.contains("mk-docker-opts"), "{unit}");
        let docker = text(h, "/usr/lib/systemd/system/docker.service");
        // EnvironmentFile without '-': a missing lease fails docker's start
        // instead of a silent fallback to 172.17.0.0/16 (traps.md).
        assert!(docker.contains("\nEnvironmentFile=/run/flannel/subnet.env\n"), "{docker}");
        // ${VAR} inside a word: replaced by the value as one argument.
        assert!(docker.contains("ExecStart=/usr/bin/dockerd --bip=${FLANNEL_SUBNET} --mtu=${FLANNEL_MTU} --ip-masq=false\n"), "{docker}");
        assert!(docker.contains("Requires=flanneld.service") && docker.contains("After=network-online.target firewalld.service flanneld.service"));
    }
    // docker masquerades only when flanneld does not (mk-docker-opts.sh's rule)
    let mut spec = tutorial("3.5.17", "0.26.1");
    spec.network.ip_masq = false;
    let c = spec.render().unwrap();
    assert!(text(&c.hosts["etcd03"], "/usr/lib/systemd/system/docker.service").contains("--ip-masq=true\n"));
}

/// Bug 6: flannel's network was docker's own 172.17.0.0/16.
#[test]
fn bug6_pod_network_is_not_dockers_default_and_172_17_warns() {
    let spec = ClusterSpec::new(tutorial("3.5.17", "0.26.1").hosts, Version::new(3, 5, 17), Version::new(0, 26, 1));
    assert_eq!(spec.network.pod_cidr.to_string(), "10.244.0.0/16");
    let mut spec = tutorial("3.3.13", "0.11.0");
    spec.network.pod_cidr = "172.17.0.0/16".parse().unwrap();
    let warnings = spec.validate().unwrap();
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0].path, "network.pod_cidr");
    assert!(warnings[0].rule.contains("docker's default bridge"));
    assert_eq!(warnings[0].fix.as_deref(), Some("use 10.244.0.0/16"));
    assert_eq!(spec.render().unwrap().warnings, warnings);
}

/// Bug 7: the config written with v2 is invisible to a v3 reader and back.
#[test]
fn bug7_flannel_config_is_written_through_the_api_flannel_reads() {
    let config_cmd = |c: &RenderedCluster| {
        c.hosts["etcd01"].commands.iter().find(|c| c.argv.iter().any(|a| a == "/coreos.com/network/config")).unwrap().argv.clone()
    };
    let old = render("3.3.13", "0.11.0");
    let argv = config_cmd(&old);
    assert_eq!(argv[..3], ["/opt/etcd/bin/etcdctl-admin-v2", "set", "/coreos.com/network/config"]);
    assert!(text(&old.hosts["etcd01"], "/opt/etcd/bin/etcdctl-admin-v2").contains("ETCDCTL_API=2\n"));
    assert!(text(&old.hosts["etcd01"], "/opt/etcd/cfg/etcd").contains("ETCD_ENABLE_V2=\"true\""));
    let new = render("3.5.17", "0.26.1");
    let argv = config_cmd(&new);
    assert_eq!(argv[..3], ["/opt/etcd/bin/etcdctl-admin", "put", "/coreos.com/network/config"]);
    assert!(argv[3].contains("\"Backend\":{\"Type\":\"vxlan\""));
    // v2 stays off when no flannel needs it; never emitted for 3.6.
    assert!(text(&new.hosts["etcd01"], "/opt/etcd/cfg/etcd").contains("ETCD_ENABLE_V2=\"false\""));
    assert!(new.hosts["etcd01"].file("/opt/etcd/bin/etcdctl-admin-v2").is_none());
    assert!(!text(&render("3.6.5", "0.26.1").hosts["etcd01"], "/opt/etcd/cfg/etcd").contains("ENABLE_V2"));
    // Only one host writes the config.
    assert!(new.hosts["etcd02"].commands.iter().all(|c| c.argv.get(1).map(String::as_str) != Some("put")));
}

/// Bug 8: host preparation by hand; now a check before every change.
#[test]
fn bug8_host_prep_is_check_plus_change() {
    for os in [None, Some(OsFamily::Rhel), Some(OsFamily::Debian)] {
        let mut prep = HostPrep::new("etcd01").ports(&[2379, 2380], &[8472]);
        prep.os = os;
        let r = prep.render();
        assert!(r.commands.len() >= 10);
        for c in &r.commands {
            assert!(c.check.is_some(), "{} has no check", c.description);
            assert_ne!(c.argv[0], "ntpdate");
        }
    }
    let rhel = HostPrep::new("etcd01").os(OsFamily::Rhel).render();
    assert!(rhel.commands.iter().any(|c| c.argv == ["systemctl", "enable", "--now", "chronyd"]));
    assert!(rhel.commands.iter().all(|c| c.os.is_none()));
    let deb = HostPrep::new("etcd01").os(OsFamily::Debian).render();
    assert!(deb.commands.iter().any(|c| c.argv == ["systemctl", "enable", "--now", "systemd-timesyncd"]));
    assert!(deb.commands.iter().all(|c| c.argv[0] != "setenforce"));
}

// ---- version rules ----

#[test]
fn tls_min_version_only_where_etcd_knows_it() {
    for (v, want) in [("3.3.13", false), ("3.4.23", false), ("3.4.25", true), ("3.5.7", false), ("3.5.8", true), ("3.6.0", true)] {
        let c = render(v, "0.26.1");
        let has = text(&c.hosts["etcd01"], "/opt/etcd/cfg/etcd").contains("ETCD_TLS_MIN_VERSION=\"TLS1.2\"");
        assert_eq!(has, want, "etcd {v}");
    }
    let mut spec = tutorial("3.3.13", "0.11.0");
    spec.etcd.tls_min_version = TlsMinVersion::Tls12;
    let p = problems(&spec);
    assert_eq!(p.len(), 1);
    assert!(p[0].starts_with("etcd.tls_min_version = Tls12: etcd 3.3.13 has no --tls-min-version"), "{p:?}");
}

#[test]
fn etcd_36_with_flannel_017_is_refused() {
    let p = problems(&tutorial("3.6.5", "0.17.0"));
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(p[0].starts_with("versions = etcd 3.6.5, flannel 0.17.0: etcd 3.6.5 has no v2 API"), "{p:?}");
    assert!(tutorial("3.6.5", "0.18.0").validate().is_ok());
    assert!(EtcdCluster::new(Version::new(3, 6, 0)).member("a", "10.0.0.1".parse().unwrap()).enable_v2(true).render_member("a").is_err());
}

#[test]
fn health_check_per_version() {
    let h33 = EtcdCluster::new(Version::new(3, 3, 13)).health_args();
    assert_eq!(h33, ["endpoint", "health"]);
    let h34 = EtcdCluster::new(Version::new(3, 4, 23)).health_args();
    assert_eq!(h34, ["endpoint", "health", "--cluster"]);
}

#[test]
fn docker_daemon_json_mode_never_mixes_with_flannel_flags() {
    let unit = DockerUnit::default().mode(DockerMode::DaemonJson).bridge("10.244.5.1/24", Some(1450));
    let r = unit.render().unwrap();
    let svc = text(&r, "/usr/lib/systemd/system/docker.service");
    assert!(!svc.contains("EnvironmentFile") && !svc.contains("DOCKER_NETWORK_OPTIONS") && !svc.contains("flanneld"));
    assert_eq!(text(&r, "/etc/docker/daemon.json"), "{\n  \"bip\": \"10.244.5.1/24\",\n  \"mtu\": 1450\n}\n");
    let both = DockerUnit::default().bridge("10.244.5.1/24", Some(1450));
    let p = both.validate();
    assert_eq!(p.len(), 2);
    assert!(p[0].rule.contains("refuse to start"));
    // In the spec, daemon-json without bip warns; flannel-env with bip is an error.
    let mut spec = tutorial("3.5.17", "0.26.1");
    spec.docker.mode = DockerMode::DaemonJson;
    assert_eq!(spec.validate().unwrap().len(), 3);
    let mut spec = tutorial("3.5.17", "0.26.1");
    spec.hosts[0].docker_bip = Some("10.244.5.1/24".into());
    assert_eq!(problems(&spec)[0], "hosts[0].docker_bip = 10.244.5.1/24: bip in daemon.json and --bip from flannel make dockerd refuse to start (fix: drop bip, or use mode daemon-json)");
}

// ---- validation ----

#[test]
fn validation_reports_every_problem_at_once() {
    let yaml = r#"
hosts:
  - { name: Etcd_01, address: 10.244.1.5, roles: [etcd, node] }
  - { name: etcd02, address: 10.244.1.5, roles: [] }
  - { name: etcd02, address: 192.168.1.32, roles: [etcd] }
versions: { etcd: "3.2.0", flannel: "0.10" }
network: { pod_cidr: 10.244.0.0/16, subnet_len: 31, subnet_min: 10.244.0.7, service_cidr: 10.244.128.0/24 }
etcd: { client_port: 2380, peer_port: 2380 }
pki: { leaf_validity_days: 5000, key_algorithm: ed25519 }
"#;
    let spec = ClusterSpec::from_yaml_str(yaml).unwrap();
    let err = spec.validate().unwrap_err();
    let paths: Vec<String> = err.problems().into_iter().map(|p| p.path).collect();
    for want in [
        "hosts[0].name",
        "hosts[1].address",
        "hosts[1].roles",
        "hosts[2].name",
        "network.pod_cidr",
        "network.service_cidr",
        "versions.etcd",
        "versions.flannel",
        "network.subnet_len",
        "network.subnet_min",
        "etcd.peer_port",
        "pki.leaf_validity_days",
    ] {
        assert!(paths.iter().any(|p| p == want), "{want} missing from {paths:?}");
    }
    let msg = err.to_string();
    assert!(msg.starts_with("the cluster spec has "), "{msg}");
    // Loaded from YAML, every problem whose field is written there has its place.
    let SpecError::Invalid { problems } = ClusterSpec::load(yaml).unwrap_err() else { panic!() };
    let at = |path: &str| problems.iter().find(|p| p.path == path).and_then(|p| p.location);
    assert_eq!(at("hosts[1].address"), Some((4, 30)));
    assert_eq!(at("hosts[2].name"), Some((5, 13)));
    assert_eq!(at("network.subnet_len"), Some((7, 49)));
    assert_eq!(at("etcd.peer_port"), Some((8, 39)));
    assert_eq!(at("versions.etcd"), Some((6, 19)));
    assert!(problems.iter().all(|p| p.location.is_some() || p.path == "versions"), "{problems:#?}");
    assert!(msg.contains("network.subnet_len = 31: flannel's SubnetLen must be <= 30 (fix: use 24)"), "{msg}");
}

#[test]
fn warnings_even_members_and_old_go_with_ed25519() {
    let mut spec = tutorial("3.3.13", "0.11.0");
    spec.hosts.pop();
    spec.pki.key_algorithm = KeyAlgorithm::Ed25519;
    let w = spec.validate().unwrap();
    let paths: Vec<&str> = w.iter().map(|w| w.path.as_str()).collect();
    assert_eq!(paths, ["hosts", "pki.key_algorithm"]);
    assert_eq!(w[0].fix.as_deref(), Some("use 1 or 3 etcd members"));
}

#[test]
fn flannel_subnet_rules() {
    let f = |net: &str, len: u8| FlannelConfig::new(Version::new(0, 26, 1)).network(net.parse().unwrap()).subnet_len(len).validate();
    assert!(f("10.244.0.0/16", 24).is_empty());
    assert!(f("10.244.0.0/22", 24).is_empty()); // exactly 4 subnets
    assert_eq!(f("10.244.0.0/23", 24).len(), 1); // 2 subnets
    assert_eq!(f("10.244.0.0/29", 30).len(), 2); // smaller than /28, and 2 subnets
    let aligned = FlannelConfig::new(Version::new(0, 26, 1)).subnet_range("10.244.1.0".parse().unwrap(), "10.244.9.128".parse().unwrap()).validate();
    assert_eq!(aligned.len(), 1);
    assert_eq!(aligned[0].fix.as_deref(), Some("use 10.244.9.0"));
}

// ---- parsing ----

#[test]
fn parse_errors_carry_path_line_and_column() {
    let yaml = "hosts:\n  - name: etcd01\n    address: 192.168.1.30\n    roles: [etcd]\n    ssh: { user: root, prot: 22 }\nversions: { etcd: '3.5', flannel: '0.26' }\n";
    let err = ClusterSpec::from_yaml_str(yaml).unwrap_err();
    let SpecError::Parse { path, line, column, value, rule } = &err else { panic!("{err}") };
    assert_eq!(path, "hosts[0].ssh.prot");
    assert_eq!(*line, Some(5));
    assert!(column.is_some());
    assert_eq!(value.as_deref(), Some("    ssh: { user: root, prot: 22 }"));
    assert!(rule.starts_with("unknown field `prot`, expected one of"), "{rule}");

    let bad_value = "hosts: []\nversions: { etcd: '3.x', flannel: '0.26' }\n";
    let err = ClusterSpec::from_yaml_str(bad_value).unwrap_err();
    let SpecError::Parse { path, line, rule, .. } = &err else { panic!("{err}") };
    assert_eq!((path.as_str(), *line), ("versions.etcd", Some(2)));
    assert!(rule.contains("invalid version \"3.x\""), "{rule}");

    let bad_cidr = "hosts: []\nversions: { etcd: '3.5', flannel: '0.26' }\nnetwork:\n  pod_cidr: 10.244.0.1/16\n";
    let err = ClusterSpec::from_yaml_str(bad_cidr).unwrap_err();
    assert!(err.to_string().starts_with("network.pod_cidr (line 4, column "), "{err}");
}

#[test]
fn every_backend_parses_and_renders_with_type() {
    for (yaml, json) in [
        ("{ type: vxlan, vni: 4096, direct_routing: true }", r#""Backend":{"Type":"vxlan","VNI":4096,"Port":8472,"DirectRouting":true}"#),
        ("{ type: host-gw }", r#""Backend":{"Type":"host-gw"}"#),
        ("{ type: udp }", r#""Backend":{"Type":"udp","Port":8285}"#),
        ("{ type: wireguard }", r#""Backend":{"Type":"wireguard","ListenPort":51820}"#),
    ] {
        let spec = ClusterSpec::from_yaml_str(&tutorial_yaml().replace("  backend:\n    type: vxlan             # vxlan | host-gw | udp | wireguard (Type is always written)\n    vni: 1\n    port: 8472              # flannel's vxlan port (not 4789)\n", &format!("  backend: {yaml}\n"))).unwrap();
        let spec = ClusterSpec { versions: k8s_bootstrap_core::spec::Versions { etcd: Version::new(3, 5, 17), flannel: Version::new(0, 26, 1) }, ..spec };
        let c = spec.render().unwrap();
        let cmd = c.hosts["etcd01"].commands.iter().find(|c| c.argv.get(1).map(String::as_str) == Some("put")).unwrap();
        assert!(cmd.argv[3].contains(json), "{} vs {json}", cmd.argv[3]);
    }
    let err = ClusterSpec::from_yaml_str(&tutorial_yaml().replace("vni: 1", "vnii: 1")).unwrap_err();
    assert!(err.to_string().contains("unknown field `vnii`"), "{err}");
}

// ---- the shell side of the render ----

fn sh(args: &[&str]) -> std::process::Output {
    std::process::Command::new("sh").args(args).output().expect("`sh` must be installed")
}

#[test]
fn every_rendered_script_is_valid_sh() {
    let dir = tempfile::tempdir().unwrap();
    for (e, f) in [("3.3.13", "0.11.0"), ("3.5.17", "0.26.1")] {
        let bare = BarePlan::new(&tutorial(e, f)).unwrap();
        for (host, h) in &bare.rendered().hosts {
            let mut scripts = vec![(format!("{host}-commands.sh"), bare.commands_sh(host))];
            for file in h.files.iter().filter(|f| f.text().starts_with("#!/bin/sh")) {
                scripts.push((file.path.replace('/', "_"), file.text().to_string()));
            }
            for (name, text) in scripts {
                let path = dir.path().join(name);
                std::fs::write(&path, text).unwrap();
                let out = sh(&["-n", path.to_str().unwrap()]);
                assert!(out.status.success(), "{}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
            }
        }
    }
}

#[test]
fn os_detection_finds_this_debian_machine() {
    let script = format!("{}\necho \"$os_family\"", OsFamily::detect_script());
    let out = sh(&["-c", &script]);
    let release = std::fs::read_to_string("/etc/os-release").expect("/etc/os-release");
    let want = OsFamily::from_os_release(&release).map(|f| f.as_str()).unwrap_or("unknown");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), want);
}

#[test]
fn host_prep_checks_are_well_formed_commands() {
    // Checks only read; run the Debian ones here. A syntax error (sh exit 2)
    // or a missing command (126/127) would make a check always "fail" and
    // its change run on every pass.
    let r = HostPrep::new("etcd01").os(OsFamily::Debian).ports(&[2379], &[8472]).render();
    for c in &r.commands {
        let check = c.check.as_ref().unwrap();
        if check[0] == "systemctl" || check.iter().any(|a| a.contains("systemctl")) {
            continue; // needs a running systemd
        }
        let out = std::process::Command::new(&check[0]).args(&check[1..]).output().unwrap();
        let code = out.status.code().unwrap_or(-1);
        assert!(![2, 126, 127].contains(&code), "{}: {check:?} exited {code}: {}", c.description, String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn host_prep_quotes_the_sysctl_key_in_its_check() {
    // `render` skips validation and promises that every value placed into a
    // shell snippet is quoted: a key with shell syntax stays one inert word.
    let mut prep = HostPrep::new("etcd01").os(OsFamily::Debian);
    prep.sysctls = vec![("kernel.x;touch /tmp/kb-sysctl-pwned".into(), "1".into())];
    let r = prep.render();
    let set = r.commands.iter().find(|c| c.description.starts_with("set kernel.x")).expect("the sysctl command");
    let check = set.check.as_ref().unwrap();
    assert_eq!(check[..2], ["sh", "-c"]);
    assert_eq!(check[2], r#"[ "$(sysctl -n 'kernel.x;touch /tmp/kb-sysctl-pwned')" = 1 ]"#);
    // and the real sh runs it as a single argument of sysctl: nothing is created
    let _ = std::process::Command::new(&check[0]).args(&check[1..]).output().unwrap();
    assert!(!std::path::Path::new("/tmp/kb-sysctl-pwned").exists());
    assert!(prep.try_render().is_err(), "validation refuses such a key");
}

/// The files a unit restarts for are said by its builder; they must be
/// exactly the files the unit reads: its unit file, the paths its unit and
/// EnvironmentFiles name (configs, binaries, certificates and keys), and
/// dockerd's default config `/etc/docker/daemon.json`.
#[test]
fn every_file_a_unit_reads_restarts_it_and_no_other_does() {
    for (etcd, flannel) in [("3.3.13", "0.11.0"), ("3.4.27", "0.22.0"), ("3.5.17", "0.26.1")] {
        for spec in [tutorial(etcd, flannel), {
            let mut s = tutorial(etcd, flannel);
            s.pki.layout = k8s_bootstrap_core::spec::CertLayout::Tutorial;
            s
        }] {
            let cluster = spec.render().unwrap();
            for (host, r) in &cluster.hosts {
                let mut paths: Vec<(String, Vec<String>)> = r.files.iter().map(|f| (f.path.clone(), f.restarts.clone())).collect();
                for c in &r.certs {
                    paths.push((c.cert_path.clone(), c.restarts.clone()));
                    paths.extend(c.key_path.iter().map(|k| (k.clone(), c.restarts.clone())));
                }
                for unit in ["etcd", "flanneld", "docker"] {
                    let Some(u) = r.files.iter().find(|f| f.unit.as_deref() == Some(unit)) else { continue };
                    let mut read = vec![u.text().to_string()];
                    for line in u.text().lines() {
                        if let Some(f) = line.strip_prefix("EnvironmentFile=").and_then(|p| r.file(p.trim_start_matches('-'))) {
                            read.push(f.text().to_string());
                        }
                    }
                    for (p, restarts) in &paths {
                        let reads = *p == u.path || (unit == "docker" && p == "/etc/docker/daemon.json") || read.iter().any(|t| t.contains(p.as_str()));
                        assert_eq!(restarts.iter().any(|x| x == unit), reads, "etcd {etcd}, {:?} layout, {host}: {p} restarts {unit}?", spec.pki.layout);
                    }
                }
            }
        }
    }
}
