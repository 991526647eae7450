//! Unit tests for YOUR cluster config, with no hosts: an ordinary `cargo test`.
//!
//! Copy this file into your own crate's `tests/` (with `k8s-bootstrap-core`
//! as a dev-dependency), point `SPEC` at your `cluster.yaml`, and keep the
//! assertions that matter to you. They run in milliseconds: rendering does
//! no I/O, and certificates use ECDSA keys here.
//!
//! ```text
//! cargo test -p k8s-bootstrap-examples --test config_tests
//! ```

use k8s_bootstrap_core::etcd::EtcdCluster;
use k8s_bootstrap_core::pki::{CertBundle, KeyAlgorithm, inspect};
use k8s_bootstrap_core::render::{HostRender, Phase, RenderedCluster};
use k8s_bootstrap_core::spec::{ClusterSpec, Problem, Role, SpecError};

/// The config under test: here the tutorial's cluster shipped in examples/.
const SPEC: &str = include_str!("../tutorial-cluster.yaml");

fn spec() -> ClusterSpec {
    // `load` = parse + validate, with the YAML line and column of every problem.
    let (spec, warnings) = ClusterSpec::load(SPEC).unwrap_or_else(|e| panic!("cluster.yaml: {e}"));
    assert!(warnings.is_empty(), "cluster.yaml has warnings: {warnings:#?}");
    spec
}

fn rendered() -> RenderedCluster {
    spec().render().expect("cluster.yaml renders")
}

fn file<'a>(host: &'a HostRender, path: &str) -> &'a str {
    host.file(path).unwrap_or_else(|| panic!("{path} is rendered")).text()
}

/// The problems of a spec that must be invalid.
fn problems(spec: &ClusterSpec) -> Vec<Problem> {
    match spec.validate() {
        Err(SpecError::Invalid { problems }) => problems,
        other => panic!("expected the spec to be invalid, got {other:?}"),
    }
}

// ---- the rendered files ----------------------------------------------------

#[test]
fn every_member_names_itself_and_knows_all_peers() {
    let cluster = rendered();
    let spec = spec();
    let members: Vec<_> = spec.hosts_with(Role::Etcd).collect();
    assert_eq!(members.len(), 3, "an odd member count: 3 tolerates one failure");
    let initial = EtcdCluster::from_spec(&spec).initial_cluster();
    for m in &members {
        let env = file(&cluster.hosts[&m.name], "/opt/etcd/cfg/etcd");
        assert!(env.contains(&format!("ETCD_NAME=\"{}\"", m.name)), "{env}");
        assert!(env.contains(&format!("ETCD_INITIAL_CLUSTER=\"{initial}\"")), "{env}");
        assert!(env.contains(&format!("ETCD_ADVERTISE_CLIENT_URLS=\"https://{}:2379\"", m.address)), "{env}");
    }
}

#[test]
fn etcd_is_tls_only_with_client_cert_auth() {
    for (host, r) in &rendered().hosts {
        let env = file(r, "/opt/etcd/cfg/etcd");
        assert!(!env.contains("http://"), "{host}: a plaintext URL in {env}");
        assert!(env.contains("ETCD_CLIENT_CERT_AUTH=\"true\""), "{host}");
        assert!(env.contains("ETCD_PEER_CLIENT_CERT_AUTH=\"true\""), "{host}");
        // Each host gets its own server and peer key, and no other member's.
        let keys: Vec<&str> = r.certs.iter().filter_map(|c| c.key_path.as_deref()).collect();
        assert!(keys.contains(&format!("/opt/etcd/ssl/{host}-server-key.pem").as_str()), "{host}: {keys:?}");
        assert!(!keys.iter().any(|k| k.contains("-server-") && !k.contains(host.as_str())), "{host}: {keys:?}");
    }
}

#[test]
fn flannel_gets_our_network_through_the_api_it_reads() {
    let cluster = rendered();
    // One host writes flannel's config into etcd; flannel 0.11 reads etcd v2.
    let writers: Vec<_> = cluster
        .hosts
        .iter()
        .flat_map(|(h, r)| r.commands.iter().filter(|c| c.phase == Phase::FlannelConfig).map(move |c| (h, c)))
        .collect();
    assert_eq!(writers.len(), 1, "{writers:#?}");
    let (host, cmd) = writers[0];
    assert_eq!(host, "etcd01");
    assert_eq!(cmd.argv[0], "/opt/etcd/bin/etcdctl-admin-v2");
    assert_eq!(cmd.argv[1], "set");
    assert_eq!(cmd.argv[3], r#"{"Network":"10.244.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan","VNI":1,"Port":8472}}"#);
    assert!(cmd.check.is_some(), "skipped when etcd already holds this config");
}

#[test]
fn docker_takes_its_bridge_from_flannel_and_our_mirror() {
    for (host, r) in &rendered().hosts {
        let unit = file(r, "/usr/lib/systemd/system/docker.service");
        // the bridge from flanneld's lease, read from the file only flanneld writes
        assert!(unit.contains("EnvironmentFile=/run/flannel/subnet.env\n"), "{host}: {unit}");
        assert!(unit.contains("--bip=${FLANNEL_SUBNET} --mtu=${FLANNEL_MTU}"), "{host}");
        let daemon = file(r, "/etc/docker/daemon.json");
        assert!(daemon.contains("http://f1361db2.m.daocloud.io"), "{host}: {daemon}");
        assert!(!daemon.contains("\"bip\""), "{host}: bip comes from flannel, never from daemon.json too");
    }
}

#[test]
fn secrets_are_never_world_readable() {
    for (host, r) in &rendered().hosts {
        for f in &r.files {
            assert_eq!(f.owner, "root:root", "{host}: {}", f.path);
            assert_eq!(f.mode & 0o002, 0, "{host}: {} is world-writable", f.path);
        }
        assert_eq!(r.file("/opt/etcd/cfg/etcd").map(|f| f.mode), Some(0o640), "{host}");
    }
}

#[test]
fn certificates_carry_each_members_address() {
    let mut spec = spec();
    spec.pki.key_algorithm = KeyAlgorithm::EcdsaP256; // fast keys for tests
    let issued = CertBundle::for_cluster(&spec).unwrap().generate().unwrap();
    let infos = inspect(&issued.as_existing(), time::OffsetDateTime::now_utc()).unwrap();
    for h in spec.hosts_with(Role::Etcd) {
        for kind in ["server", "peer"] {
            let path = format!("{}-{kind}.pem", h.name);
            let info = infos.iter().find(|i| i.path == path).unwrap_or_else(|| panic!("{path} issued"));
            assert!(info.sans.contains(&h.address.to_string()), "{path}: {:?}", info.sans);
            assert!(info.sans.contains(&"127.0.0.1".to_string()), "{path}: {:?}", info.sans);
            assert!(info.days_left <= 365, "{path}: {} days", info.days_left);
        }
    }
}

// ---- the rules: a bad change is caught before any host is touched ----------

#[test]
fn a_duplicate_address_is_named_by_its_field_path() {
    let mut spec = spec();
    spec.hosts[2].address = spec.hosts[0].address;
    let p = problems(&spec);
    assert_eq!(p[0].path, "hosts[2].address");
    assert_eq!(p[0].rule, "host addresses must be unique (also used by hosts[0])");
}

#[test]
fn etcd_36_cannot_serve_flannel_011() {
    let mut spec = spec();
    spec.versions.etcd = "3.6.0".parse().unwrap();
    let p = problems(&spec);
    assert_eq!(p.len(), 1, "{p:#?}");
    assert_eq!(p[0].path, "versions");
    assert_eq!(p[0].value, "etcd 3.6.0, flannel 0.11.0");
    assert!(p[0].rule.contains("no v2 API"), "{}", p[0].rule);
    assert_eq!(p[0].fix.as_deref(), Some("use flannel >= 0.18 (etcd v3 API) or etcd <= 3.5"));
}

#[test]
fn a_pod_network_holding_a_host_is_refused() {
    let mut spec = spec();
    spec.network.pod_cidr = "192.168.0.0/16".parse().unwrap();
    let p = problems(&spec);
    assert!(p.iter().all(|p| p.path == "network.pod_cidr"), "{p:#?}");
    assert_eq!(p.len(), 3, "one problem per host inside it: {p:#?}");
}

#[test]
fn yaml_mistakes_carry_line_and_column() {
    // A typo in a field name never goes unnoticed.
    let typo = SPEC.replace("subnet_len: 24", "subnet_lenght: 24");
    let Err(SpecError::Parse { path, line, rule, .. }) = ClusterSpec::load(&typo) else { panic!("typo accepted") };
    assert_eq!(path, "network.subnet_lenght");
    assert!(rule.starts_with("unknown field `subnet_lenght`"), "{rule}");
    let want = SPEC.lines().position(|l| l.contains("subnet_len: 24")).map(|i| i + 1);
    assert_eq!(line, want);

    // A value that breaks a rule is reported where it is written.
    let bad = SPEC.replace("subnet_len: 24 ", "subnet_len: 31 ");
    let Err(SpecError::Invalid { problems }) = ClusterSpec::load(&bad) else { panic!("31 accepted") };
    assert_eq!(problems[0].path, "network.subnet_len");
    assert_eq!(problems[0].location.map(|(l, _)| Some(l)), Some(want));
    assert_eq!(problems[0].fix.as_deref(), Some("use 24"));
}

#[test]
fn the_tutorials_own_settings_are_warnings_not_errors() {
    // The tutorial's pod network (docker's own bridge) and its single
    // shared server.pem are accepted, with a warning that says why not.
    let mut spec = spec();
    spec.network.pod_cidr = "172.17.0.0/16".parse().unwrap();
    spec.pki.layout = k8s_bootstrap_core::spec::CertLayout::Tutorial;
    let warnings = spec.validate().expect("still valid");
    let paths: Vec<&str> = warnings.iter().map(|w| w.path.as_str()).collect();
    assert_eq!(paths, ["network.pod_cidr", "pki.layout"]);
}
