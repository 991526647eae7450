//! Certificates from CertBundle, checked with an independent tool: openssl.

mod pki_support;

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;

use k8s_bootstrap_core::pki::{CertBundle, CertId, EtcdMember, KeyAlgorithm, Layout, Subject};
use pki_support::*;

fn members() -> Vec<EtcdMember> {
    vec![
        EtcdMember::new("etcd01", ["192.168.1.30"]).dns_name("etcd01.cluster.example"),
        EtcdMember::new("etcd02", ["192.168.1.31", "fd00::31"]),
        EtcdMember::new("etcd03", ["192.168.1.32"]),
    ]
}

/// Every leaf verifies against the CA with openssl; the SANs, key usages and
/// extended key usages openssl reads back are the ones asked for; keys are
/// 0600 and certificates 0644; the key algorithm is the one asked for.
#[test]
fn every_leaf_verifies_with_openssl_for_every_algorithm() {
    for alg in KeyAlgorithm::ALL {
        let dir = tempfile::tempdir().unwrap();
        let b = CertBundle::builder()
            .ca_subject(Subject::new("etcd CA").country("CN").state("Beijing").locality("Beijing"))
            .key_algorithm(alg)
            .members(members())
            .extra_san("etcd.lb.example")
            .build()
            .unwrap();
        let issued = b.generate().unwrap();
        write_files(dir.path(), &issued.files);
        let ca = dir.path().join("ca.pem");

        let ca_text = openssl_text(&ca);
        assert!(ca_text.contains("CA:TRUE"), "{alg}: CA basic constraints\n{ca_text}");
        assert!(ca_text.contains("Subject: C = CN, ST = Beijing, L = Beijing, CN = etcd CA"), "{alg}\n{ca_text}");
        assert_eq!(openssl_ext_line(&ca, "X509v3 Key Usage"), "Certificate Sign, CRL Sign", "{alg}");

        for id in b.wanted().into_iter().filter(|i| *i != CertId::Ca) {
            let cert = dir.path().join(id.cert_file());
            let key = dir.path().join(id.key_file());
            openssl_verify(&ca, &cert).unwrap_or_else(|e| panic!("{alg} {id}: {e}"));
            assert_eq!(fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600, "{alg} {id} key mode");
            assert_eq!(fs::metadata(&cert).unwrap().permissions().mode() & 0o777, 0o644, "{alg} {id} cert mode");

            // The key belongs to the certificate: openssl derives the same public key from both.
            let from_cert = run_ok(std::process::Command::new(tool("openssl", "openssl")).args(["x509", "-noout", "-pubkey", "-in"]).arg(&cert));
            let from_key = run_ok(std::process::Command::new(tool("openssl", "openssl")).args(["pkey", "-pubout", "-in"]).arg(&key));
            assert_eq!(from_cert, from_key, "{alg} {id}: key does not match certificate");

            let text = openssl_text(&cert);
            let expected_key = match alg {
                KeyAlgorithm::Rsa2048 => "Public-Key: (2048 bit)",
                KeyAlgorithm::Rsa3072 => "Public-Key: (3072 bit)",
                KeyAlgorithm::Rsa4096 => "Public-Key: (4096 bit)",
                KeyAlgorithm::EcdsaP256 => "NIST CURVE: P-256",
                KeyAlgorithm::EcdsaP384 => "NIST CURVE: P-384",
                KeyAlgorithm::Ed25519 => "Public Key Algorithm: ED25519",
            };
            assert!(text.contains(expected_key), "{alg} {id}: expected {expected_key}\n{text}");
            assert!(text.contains("CA:FALSE"), "{alg} {id}: a leaf must not be a CA");

            let eku = openssl_ext_line(&cert, "X509v3 Extended Key Usage");
            let sans: BTreeSet<String> = openssl_sans(&cert).into_iter().collect();
            match &id {
                CertId::Server(m) | CertId::Peer(m) => {
                    assert_eq!(eku, "TLS Web Server Authentication, TLS Web Client Authentication", "{alg} {id}");
                    let member = members().into_iter().find(|x| &x.name == m).unwrap();
                    let mut want: BTreeSet<String> = member
                        .addresses
                        .iter()
                        .map(|a| a.parse::<std::net::IpAddr>().map(|i| i.to_string()).unwrap_or(a.clone()))
                        .collect();
                    want.extend(["127.0.0.1", "::1", "localhost", "etcd.lb.example"].map(String::from));
                    want.insert(m.clone());
                    assert_eq!(sans, want, "{alg} {id}: SANs");
                }
                CertId::AdminClient | CertId::FlannelClient => {
                    assert_eq!(eku, "TLS Web Client Authentication", "{alg} {id}");
                    assert!(sans.is_empty(), "{alg} {id}: client certs carry no SANs");
                }
                other => panic!("unexpected {other}"),
            }
            let ku = openssl_ext_line(&cert, "X509v3 Key Usage");
            let want_ku = if matches!(alg, KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096) {
                "Digital Signature, Key Encipherment"
            } else {
                "Digital Signature"
            };
            assert_eq!(ku, want_ku, "{alg} {id}");
        }
    }
}

/// The tutorial layout is exactly the tutorial's four files, one server
/// certificate listing every member's IP, usable for server and client auth.
#[test]
fn tutorial_layout_is_the_tutorials_four_files() {
    let dir = tempfile::tempdir().unwrap();
    let issued = CertBundle::builder()
        .layout(Layout::Tutorial)
        .members(members())
        .build()
        .unwrap()
        .generate()
        .unwrap();
    let names: BTreeSet<&str> = issued.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(names, BTreeSet::from(["ca.pem", "ca-key.pem", "server.pem", "server-key.pem"]));
    write_files(dir.path(), &issued.files);
    let server = dir.path().join("server.pem");
    openssl_verify(&dir.path().join("ca.pem"), &server).unwrap();
    let sans = openssl_sans(&server);
    for ip in ["192.168.1.30", "192.168.1.31", "192.168.1.32", "fd00::31"] {
        assert!(sans.contains(&ip.to_string()), "{ip} missing from {sans:?}");
    }
    assert_eq!(
        openssl_ext_line(&server, "X509v3 Extended Key Usage"),
        "TLS Web Server Authentication, TLS Web Client Authentication"
    );
    assert!(openssl_text(&server).contains("Subject: C = CN, CN = etcd") || openssl_text(&server).contains("CN = etcd"));
}

/// A leaf signed by a CA the user brings (here: made by openssl itself)
/// verifies against that CA.
#[test]
fn bring_your_own_openssl_ca() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    run_ok(std::process::Command::new(tool("openssl", "openssl"))
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj", "/CN=corp root"])
        .args(["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        .arg("-keyout").arg(d.join("own-ca-key.pem"))
        .arg("-out").arg(d.join("own-ca.pem")));
    let issued = CertBundle::builder()
        .existing_ca(fs::read_to_string(d.join("own-ca.pem")).unwrap(), Some(fs::read_to_string(d.join("own-ca-key.pem")).unwrap()))
        .member(EtcdMember::new("etcd01", ["10.1.0.1"]))
        .leaf_validity_days(20)
        .renew_before_days(5)
        .build()
        .unwrap()
        .generate()
        .unwrap();
    write_files(d, &issued.files);
    assert_eq!(fs::read(d.join("ca.pem")).unwrap(), fs::read(d.join("own-ca.pem")).unwrap(), "the user's CA is written as given");
    for f in ["etcd01-server.pem", "etcd01-peer.pem", "admin.pem", "flanneld.pem"] {
        openssl_verify(&d.join("own-ca.pem"), &d.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
    }
}
