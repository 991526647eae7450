//! A real etcd (Debian etcd-server 3.4) accepts the generated certificates
//! with --client-cert-auth and --peer-client-cert-auth: a 3-member TLS
//! cluster on 127.0.0.1-3 forms (peers check each other's certs and IP
//! SANs), a client with the admin cert reads and writes, and a client with
//! no cert or with a cert from another CA is refused.

mod pki_support;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use k8s_bootstrap_core::pki::{CertBundle, EtcdMember, KeyAlgorithm};
use pki_support::*;


fn free_port(ip: &str) -> u16 {
    TcpListener::bind((ip, 0)).unwrap().local_addr().unwrap().port()
}

struct Member {
    name: String,
    ip: String,
    client: u16,
    peer: u16,
}

fn etcdctl(ssl: &Path, endpoint: &str, client: Option<(&str, &str)>, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(tool("etcdctl", "etcd-client"));
    cmd.env("ETCDCTL_API", "3")
        .arg(format!("--endpoints={endpoint}"))
        .arg(format!("--cacert={}", ssl.join("ca.pem").display()))
        .arg("--dial-timeout=3s")
        .arg("--command-timeout=5s");
    if let Some((cert, key)) = client {
        cmd.arg(format!("--cert={}", ssl.join(cert).display())).arg(format!("--key={}", ssl.join(key).display()));
    }
    run(cmd.args(args))
}

fn start_cluster(alg: KeyAlgorithm) -> (tempfile::TempDir, Procs, Vec<Member>) {
    let etcd = tool("etcd", "etcd-server");
    let members: Vec<Member> = (1..=3)
        .map(|i| {
            let ip = format!("127.0.0.{i}");
            Member { name: format!("etcd0{i}"), client: free_port(&ip), peer: free_port(&ip), ip }
        })
        .collect();
    let issued = CertBundle::builder()
        .key_algorithm(alg)
        .members(members.iter().map(|m| EtcdMember::new(&m.name, [m.ip.as_str()])))
        .build()
        .unwrap()
        .generate()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ssl = dir.path().join("ssl");
    write_files(&ssl, &issued.files);
    let initial: Vec<String> = members.iter().map(|m| format!("{}=https://{}:{}", m.name, m.ip, m.peer)).collect();
    let mut procs = Procs(Vec::new());
    for m in &members {
        let f = |s: &str| ssl.join(s).display().to_string();
        let log = std::fs::File::create(dir.path().join(format!("{}.log", m.name))).unwrap();
        let child = Command::new(&etcd)
            .arg(format!("--name={}", m.name))
            .arg(format!("--data-dir={}", dir.path().join(&m.name).display()))
            .arg(format!("--listen-client-urls=https://{}:{}", m.ip, m.client))
            .arg(format!("--advertise-client-urls=https://{}:{}", m.ip, m.client))
            .arg(format!("--listen-peer-urls=https://{}:{}", m.ip, m.peer))
            .arg(format!("--initial-advertise-peer-urls=https://{}:{}", m.ip, m.peer))
            .arg(format!("--initial-cluster={}", initial.join(",")))
            .arg("--initial-cluster-token=pki-test")
            .arg("--initial-cluster-state=new")
            .arg(format!("--cert-file={}", f(&format!("{}-server.pem", m.name))))
            .arg(format!("--key-file={}", f(&format!("{}-server-key.pem", m.name))))
            .arg("--client-cert-auth=true")
            .arg(format!("--trusted-ca-file={}", f("ca.pem")))
            .arg(format!("--peer-cert-file={}", f(&format!("{}-peer.pem", m.name))))
            .arg(format!("--peer-key-file={}", f(&format!("{}-peer-key.pem", m.name))))
            .arg("--peer-client-cert-auth=true")
            .arg(format!("--peer-trusted-ca-file={}", f("ca.pem")))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start etcd");
        procs.0.push(child);
    }
    // Wait for a healthy cluster (every member), at most 60 s.
    let endpoints: Vec<String> = members.iter().map(|m| format!("https://{}:{}", m.ip, m.client)).collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = etcdctl(&ssl, &endpoints.join(","), Some(("admin.pem", "admin-key.pem")), &["endpoint", "health"]);
        if out.status.success() {
            break;
        }
        for c in &mut procs.0 {
            if let Some(status) = c.try_wait().unwrap() {
                let logs: String = members
                    .iter()
                    .map(|m| std::fs::read_to_string(dir.path().join(format!("{}.log", m.name))).unwrap_or_default())
                    .collect();
                panic!("an etcd member exited ({status}); logs:\n{logs}");
            }
        }
        assert!(
            Instant::now() < deadline,
            "etcd cluster not healthy after 60 s: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    (dir, procs, members)
}

fn check_cluster(alg: KeyAlgorithm) {
    let (dir, _procs, members) = start_cluster(alg);
    let ssl: PathBuf = dir.path().join("ssl");
    let ep = |i: usize| format!("https://{}:{}", members[i].ip, members[i].client);
    let admin = Some(("admin.pem", "admin-key.pem"));

    // The admin client writes through one member and reads through another
    // (so the write went through the TLS peer mesh).
    let put = etcdctl(&ssl, &ep(0), admin, &["put", "/pki-test/key", "value-from-admin"]);
    assert!(put.status.success(), "{alg}: admin put: {}", String::from_utf8_lossy(&put.stderr));
    let get = etcdctl(&ssl, &ep(2), admin, &["get", "--print-value-only", "/pki-test/key"]);
    assert!(get.status.success(), "{alg}: admin get: {}", String::from_utf8_lossy(&get.stderr));
    assert_eq!(String::from_utf8_lossy(&get.stdout).trim(), "value-from-admin", "{alg}");
    let list = etcdctl(&ssl, &ep(1), admin, &["member", "list"]);
    assert_eq!(String::from_utf8_lossy(&list.stdout).lines().filter(|l| l.contains("started")).count(), 3, "{alg}");

    // flanneld's client cert is a valid client too.
    let fl = etcdctl(&ssl, &ep(1), Some(("flanneld.pem", "flanneld-key.pem")), &["get", "/pki-test/key"]);
    assert!(fl.status.success(), "{alg}: flanneld client: {}", String::from_utf8_lossy(&fl.stderr));

    // No client cert: refused.
    let anon = etcdctl(&ssl, &ep(0), None, &["get", "/pki-test/key"]);
    assert!(!anon.status.success(), "{alg}: a client without a certificate must be refused");
    assert!(!String::from_utf8_lossy(&anon.stdout).contains("value-from-admin"), "{alg}");

    // A client cert from another CA: refused.
    let other = CertBundle::builder().key_algorithm(alg).build().unwrap().generate().unwrap();
    let other_dir = dir.path().join("other");
    write_files(&other_dir, &other.files);
    let mut cmd = Command::new(tool("etcdctl", "etcd-client"));
    let foreign = run(cmd
        .env("ETCDCTL_API", "3")
        .arg(format!("--endpoints={}", ep(0)))
        .arg(format!("--cacert={}", ssl.join("ca.pem").display()))
        .arg(format!("--cert={}", other_dir.join("admin.pem").display()))
        .arg(format!("--key={}", other_dir.join("admin-key.pem").display()))
        .args(["--dial-timeout=3s", "--command-timeout=5s", "get", "/pki-test/key"]));
    assert!(!foreign.status.success(), "{alg}: a client cert from another CA must be refused");
    assert!(!String::from_utf8_lossy(&foreign.stdout).contains("value-from-admin"), "{alg}");

    // Plaintext on the client port: no answer with data.
    let plain = etcdctl(&ssl, &format!("http://{}:{}", members[0].ip, members[0].client), admin, &["get", "/pki-test/key"]);
    assert!(!plain.status.success(), "{alg}: plaintext must not work");
}

#[test]
fn real_etcd_accepts_rsa_bundle_with_client_and_peer_cert_auth() {
    check_cluster(KeyAlgorithm::Rsa2048);
}

#[test]
fn real_etcd_accepts_ecdsa_bundle_with_client_and_peer_cert_auth() {
    check_cluster(KeyAlgorithm::EcdsaP256);
}
