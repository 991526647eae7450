//! Adoption from the tutorial's own files (its etcd.sh and flannel.sh
//! appendices, filled in for three hosts), with no host.

use super::*;

const ETCD_UNIT: &str = "# /usr/lib/systemd/system/etcd.service
[Unit]
Description=Etcd Server
After=network.target

[Service]
Type=notify
EnvironmentFile=/opt/etcd/cfg/etcd
ExecStart=/opt/etcd/bin/etcd \\
--cert-file=/opt/etcd/ssl/server.pem \\
--key-file=/opt/etcd/ssl/server-key.pem \\
--peer-cert-file=/opt/etcd/ssl/server.pem \\
--peer-key-file=/opt/etcd/ssl/server-key.pem \\
--trusted-ca-file=/opt/etcd/ssl/ca.pem \\
--peer-trusted-ca-file=/opt/etcd/ssl/ca.pem
Restart=on-failure
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
";

fn env(name: &str, ip: &str) -> String {
    format!(
        "#[Member]\nETCD_NAME=\"{name}\"\nETCD_DATA_DIR=\"/var/lib/etcd/default.etcd\"\nETCD_LISTEN_PEER_URLS=\"https://{ip}:2380\"\nETCD_LISTEN_CLIENT_URLS=\"https://{ip}:2379,http://127.0.0.1:2379\"\n\n#[Clustering]\nETCD_INITIAL_ADVERTISE_PEER_URLS=\"https://{ip}:2380\"\nETCD_ADVERTISE_CLIENT_URLS=\"https://{ip}:2379\"\nETCD_INITIAL_CLUSTER=\"etcd01=https://10.0.0.1:2380,etcd02=https://10.0.0.2:2380,etcd03=https://10.0.0.3:2380\"\nETCD_INITIAL_CLUSTER_TOKEN=\"etcd-cluster\"\nETCD_INITIAL_CLUSTER_STATE=\"new\"\n"
    )
}

const FLANNELD_UNIT: &str = "# /usr/lib/systemd/system/flanneld.service
[Unit]
Description=Flanneld overlay address etcd agent
Before=docker.service

[Service]
Type=notify
EnvironmentFile=/opt/kubernetes/cfg/flanneld
ExecStart=/opt/kubernetes/bin/flanneld --ip-masq $FLANNEL_OPTIONS
ExecStartPost=/opt/kubernetes/bin/mk-docker-opts.sh -k DOCKER_NETWORK_OPTIONS -d /run/flannel/subnet.env
Restart=on-failure
";

const FLANNELD_ENV: &str = "\nFLANNEL_OPTIONS=\"--etcd-endpoints=https://10.0.0.1:2379,https://10.0.0.2:2379,https://10.0.0.3:2379 \\\n-etcd-cafile=/opt/etcd/ssl/ca.pem \\\n-etcd-certfile=/opt/etcd/ssl/server.pem \\\n-etcd-keyfile=/opt/etcd/ssl/server-key.pem\"\n\n";

const DOCKER_UNIT: &str = "# /usr/lib/systemd/system/docker.service
[Service]
Type=notify
EnvironmentFile=/run/flannel/subnet.env
ExecStart=/usr/bin/dockerd $DOCKER_NETWORK_OPTIONS
";

const CLUSTER_ID: u64 = 14841639068965178418;
const IDS: [u64; 3] = [10276657743932975437, 9372538179322589801, 14258386734802302244];

/// etcdctl's `member list -w json`, as etcd 3.4 prints it.
fn member_list(ids: &[u64]) -> String {
    let members: Vec<String> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| format!(r#"{{"ID":{id},"name":"etcd0{n}","peerURLs":["https://10.0.0.{n}:2380"],"clientURLs":["https://10.0.0.{n}:2379"]}}"#, n = i + 1))
        .collect();
    format!(r#"{{"header":{{"cluster_id":{CLUSTER_ID},"member_id":{},"raft_term":2}},"members":[{}]}}"#, ids[0], members.join(","))
}

struct Pki {
    ca: String,
    key: String,
}

fn pki() -> Pki {
    let issued = crate::pki::CertBundle::builder().key_algorithm(crate::pki::KeyAlgorithm::EcdsaP256).build().unwrap().generate().unwrap();
    let text = |p: &str| String::from_utf8(issued.file(p).unwrap().contents.clone()).unwrap();
    Pki { ca: text("ca.pem"), key: text("ca-key.pem") }
}

/// The three hosts as the tutorial leaves them; the CA key in
/// `~/k8s/etcd-cert` on the first, where etcd-cert.sh ran.
fn tutorial(p: &Pki) -> Vec<HostFound> {
    (1..=3)
        .map(|n| {
            let ip = format!("10.0.0.{n}");
            let mut f = HostFound {
                name: format!("etcd0{n}"),
                address: Some(ip.parse().unwrap()),
                etcd_unit: Some(ETCD_UNIT.into()),
                flanneld_unit: Some(FLANNELD_UNIT.into()),
                docker_unit: Some(DOCKER_UNIT.into()),
                daemon_json: Some(r#"{"registry-mirrors": ["http://f1361db2.m.daocloud.io"], "storage-driver": "vfs"}"#.into()),
                ..HostFound::default()
            };
            f.env_files.insert("/opt/etcd/cfg/etcd".into(), Some(env(&format!("etcd0{n}"), &ip)));
            f.env_files.insert("/opt/kubernetes/cfg/flanneld".into(), Some(FLANNELD_ENV.into()));
            f.versions.insert("/opt/etcd/bin/etcd".into(), "etcd Version: 3.4.23".into());
            f.versions.insert("/opt/kubernetes/bin/flanneld".into(), "v0.11.0".into());
            for c in ["/opt/etcd/ssl/ca.pem", "/opt/etcd/ssl/server.pem"] {
                f.pems.insert(c.into(), Some(p.ca.clone()));
            }
            if n == 1 {
                f.ca_keys.insert("/root/k8s/etcd-cert/ca-key.pem".into(), SecretPem(p.key.clone()));
            }
            f.member_list = Some(Ok(member_list(&IDS)));
            f.flannel_config = Some((FlannelApi::V2, r#"{"Network": "172.17.0.0/16", "Backend": {"Type": "vxlan"}}"#.into()));
            f
        })
        .collect()
}

#[test]
fn the_tutorials_cluster_becomes_a_spec_that_describes_it() {
    let p = pki();
    let a = Adoption::from_found(&tutorial(&p), None).unwrap();
    let s = &a.spec;
    assert_eq!(s.hosts.iter().map(|h| (h.name.as_str(), h.address.to_string(), h.roles.clone())).collect::<Vec<_>>(), [
        ("etcd01", "10.0.0.1".to_string(), vec![Role::Etcd, Role::Node]),
        ("etcd02", "10.0.0.2".to_string(), vec![Role::Etcd, Role::Node]),
        ("etcd03", "10.0.0.3".to_string(), vec![Role::Etcd, Role::Node]),
    ]);
    assert_eq!((s.versions.etcd, s.versions.flannel), (Version::new(3, 4, 23), Version::new(0, 11, 0)));
    assert_eq!((s.etcd.data_dir.as_str(), s.etcd.token.as_str(), s.etcd.client_port, s.etcd.peer_port), ("/var/lib/etcd/default.etcd", "etcd-cluster", 2379, 2380));
    assert_eq!((s.layout.etcd_dir.as_str(), s.layout.kubernetes_dir.as_str(), s.layout.systemd_dir.as_str(), s.layout.dockerd.as_str()), ("/opt/etcd", "/opt/kubernetes", "/usr/lib/systemd/system", "/usr/bin/dockerd"));
    assert_eq!(s.network.pod_cidr.to_string(), "172.17.0.0/16");
    assert!(s.network.ip_masq);
    assert_eq!(s.docker.registry_mirrors, ["http://f1361db2.m.daocloud.io"]);
    assert_eq!((s.docker.storage_driver.as_deref(), s.docker.data_root.as_deref()), (Some("vfs"), None));
    assert_eq!(a.cluster_id, format!("{CLUSTER_ID:x}"));
    assert_eq!(a.member_ids["etcd02"], format!("{:x}", IDS[1]));
    assert_eq!(a.ca_cert, p.ca);
    assert_eq!(a.ca_key.0, "etcd01:/root/k8s/etcd-cert/ca-key.pem");
    let insecure = a.insecure.join("\n");
    for what in ["etcd01: etcd listens in plaintext, with no authentication, on http://127.0.0.1:2379", "etcd02: no client-cert-auth", "etcd03: no peer-client-cert-auth", "/opt/etcd/ssl/server.pem is its server, peer and client certificate, shared by etcd01, etcd02, etcd03", "mk-docker-opts.sh writes docker's options over flannel's subnet.env"] {
        assert!(insecure.contains(what), "{what} missing from:\n{insecure}");
    }
    // the YAML reads back as the same spec, under its comments
    assert!(a.yaml.starts_with("# Written by `k8s-bootstrap adopt`"));
    assert!(a.yaml.contains("#   - etcd01: etcd listens in plaintext"));
    assert_eq!(&ClusterSpec::from_yaml_str(&a.yaml).unwrap(), s);
    assert!(!format!("{a:?}").contains("PRIVATE KEY"), "the CA key in Debug output");
}

#[test]
fn bad_clusters_are_refused_naming_host_and_path() {
    let p = pki();
    // a host of another cluster
    let mut h = tutorial(&p);
    h[2].member_list = Some(Ok(member_list(&IDS).replace(&CLUSTER_ID.to_string(), "42")));
    assert!(matches!(Adoption::from_found(&h, None), Err(AdoptError::NotAMember { host, .. }) if host == "etcd03"));
    // members on different versions
    let mut h = tutorial(&p);
    h[1].versions.insert("/opt/etcd/bin/etcd".into(), "etcd Version: 3.3.13".into());
    let e = Adoption::from_found(&h, None).unwrap_err();
    assert_eq!(e.to_string(), "the members run different etcd versions (etcd01 3.4.23, etcd02 3.3.13, etcd03 3.4.23): finish that upgrade by hand first, then adopt");
    // a member the hosts given do not have
    let h = tutorial(&p);
    let e = Adoption::from_found(&h[..2], None).unwrap_err();
    assert_eq!(e, AdoptError::MissingHost { name: "etcd03".into(), peer: "https://10.0.0.3:2380".into() });
    // the CA file unreadable on one member
    let mut h = tutorial(&p);
    h[1].pems.insert("/opt/etcd/ssl/ca.pem".into(), None);
    assert_eq!(Adoption::from_found(&h, None).unwrap_err(), AdoptError::File { host: "etcd02".into(), path: "/opt/etcd/ssl/ca.pem".into(), detail: "unreadable or missing".into() });
    // the env file gone
    let mut h = tutorial(&p);
    h[0].env_files.insert("/opt/etcd/cfg/etcd".into(), None);
    assert!(matches!(Adoption::from_found(&h, None), Err(AdoptError::File { host, path, .. }) if host == "etcd01" && path == "/opt/etcd/cfg/etcd"));
}

#[test]
fn the_ca_key_comes_from_a_host_or_by_hand_and_must_be_the_cas() {
    let p = pki();
    let mut h = tutorial(&p);
    h[0].ca_keys.clear();
    let e = Adoption::from_found(&h, None).unwrap_err();
    assert!(e.to_string().starts_with("the CA key was not found (looked on every host at /opt/etcd/ssl/ca-key.pem, /root/k8s/etcd-cert/ca-key.pem, /home/*/k8s/etcd-cert/ca-key.pem"), "{e}");
    assert!(e.to_string().contains("--ca-key FILE"), "{e}");
    let a = Adoption::from_found(&h, Some(("my-ca-key.pem".into(), SecretPem(p.key.clone())))).unwrap();
    assert_eq!(a.ca_key.0, "my-ca-key.pem");
    let other = pki();
    assert_eq!(Adoption::from_found(&h, Some(("other.pem".into(), SecretPem(other.key)))).unwrap_err(), AdoptError::CaKeyMismatch { path: "other.pem".into(), ca: "/opt/etcd/ssl/ca.pem".into() });
}

#[test]
fn write_imports_the_ca_and_never_overwrites() {
    let p = pki();
    let a = Adoption::from_found(&tutorial(&p), None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (spec, pki_dir) = (dir.path().join("cluster.yaml"), dir.path().join("pki"));
    a.write(&spec, &pki_dir, false).unwrap();
    assert_eq!(std::fs::read_to_string(&spec).unwrap(), a.yaml);
    assert_eq!(std::fs::read_to_string(pki_dir.join("ca.pem")).unwrap(), p.ca);
    let mode = |f: &std::path::Path| std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(f).unwrap().permissions()) & 0o777;
    assert_eq!((mode(&pki_dir.join("ca-key.pem")), mode(&pki_dir)), (0o600, 0o700));
    assert_eq!(a.write(&spec, &pki_dir, false).unwrap_err(), AdoptError::SpecExists { path: spec.display().to_string() });
    a.write(&spec, &pki_dir, true).unwrap(); // same CA: fine
    std::fs::write(pki_dir.join("ca.pem"), pki().ca).unwrap();
    let before = std::fs::read(&spec).unwrap();
    std::fs::remove_file(&spec).unwrap();
    assert!(matches!(a.write(&spec, &pki_dir, false), Err(AdoptError::OtherCa { .. })));
    assert!(!spec.exists(), "a refused adoption wrote the spec");
    drop(before);
}
