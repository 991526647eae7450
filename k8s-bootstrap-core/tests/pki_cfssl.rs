//! Side by side with the real cfssl 1.2 (Debian golang-cfssl, the tutorial's
//! version): the tutorial's JSON inputs go through `cfssl gencert` and
//! through `CfsslImport`, and the certificates are compared field by field.

mod pki_support;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use k8s_bootstrap_core::pki::cfssl::CfsslImport;
use k8s_bootstrap_core::pki::{CertBundle, CertInfo, Change, EtcdMember, inspect_cert};
use pki_support::*;

const CA_CONFIG: &str = r#"{
  "signing": {
    "default": { "expiry": "87600h" },
    "profiles": {
      "www": {
         "expiry": "87600h",
         "usages": ["signing", "key encipherment", "server auth", "client auth"]
      }
    }
  }
}"#;

const CA_CSR: &str = r#"{
    "CN": "etcd CA",
    "key": { "algo": "rsa", "size": 2048 },
    "names": [ { "C": "CN", "L": "Beijing", "ST": "Beijing" } ]
}"#;

const SERVER_CSR: &str = r#"{
    "CN": "etcd",
    "hosts": [ "192.168.1.30", "192.168.1.31", "192.168.1.32" ],
    "key": { "algo": "rsa", "size": 2048 },
    "names": [ { "C": "CN", "L": "BeiJing", "ST": "BeiJing" } ]
}"#;

/// The tutorial's second etcd-cert.sh variant: no `hosts` at all.
const SERVER_CSR_NO_HOSTS: &str = r#"{
    "CN": "etcd",
    "key": { "algo": "rsa", "size": 2048 },
    "names": [ { "C": "CN", "L": "BeiJing", "ST": "BeiJing" } ]
}"#;

/// `cfssl ARGS | cfssljson -bare NAME`, in `dir`.
fn cfssl_bare(dir: &Path, args: &[&str], name: &str) {
    let cfssl = tool("cfssl", "golang-cfssl");
    let cfssljson = tool("cfssljson", "golang-cfssl");
    let out = run(Command::new(cfssl).args(args).current_dir(dir));
    assert!(out.status.success(), "cfssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    let mut child = Command::new(cfssljson)
        .args(["-bare", name])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .spawn()
        .expect("cfssljson");
    child.stdin.take().unwrap().write_all(&out.stdout).unwrap();
    assert!(child.wait().unwrap().success(), "cfssljson -bare {name}");
}

/// Runs the tutorial's etcd-cert.sh steps with cfssl in `dir`.
fn run_tutorial_cfssl(dir: &Path, ca_csr: &str, server_csr: &str) {
    fs::write(dir.join("ca-config.json"), CA_CONFIG).unwrap();
    fs::write(dir.join("ca-csr.json"), ca_csr).unwrap();
    fs::write(dir.join("server-csr.json"), server_csr).unwrap();
    cfssl_bare(dir, &["gencert", "-initca", "ca-csr.json"], "ca");
    cfssl_bare(
        dir,
        &["gencert", "-ca=ca.pem", "-ca-key=ca-key.pem", "-config=ca-config.json", "-profile=www", "server-csr.json"],
        "server",
    );
}

fn info(dir: &Path, name: &str) -> CertInfo {
    inspect_cert(name, &fs::read(dir.join(name)).unwrap(), time::OffsetDateTime::now_utc()).unwrap()
}

fn set(v: &[String]) -> BTreeSet<String> {
    v.iter().cloned().collect()
}

/// Compares what must be equal between cfssl's and our certificate.
fn assert_equivalent(what: &str, cfssl: &CertInfo, ours: &CertInfo) {
    assert_eq!(ours.key_algorithm, cfssl.key_algorithm, "{what}: key type and size");
    assert_eq!(set(&ours.key_usages), set(&cfssl.key_usages), "{what}: key usages");
    assert_eq!(set(&ours.ext_key_usages), set(&cfssl.ext_key_usages), "{what}: extended key usages");
    assert_eq!(set(&ours.sans), set(&cfssl.sans), "{what}: SANs");
    assert_eq!(ours.subject, cfssl.subject, "{what}: subject");
    assert_eq!(ours.issuer, cfssl.issuer, "{what}: issuer");
    assert_eq!(ours.is_ca, cfssl.is_ca, "{what}: CA flag");
}

fn import(ca_csr: &str) -> CertBundle {
    CfsslImport::parse(CA_CONFIG, ca_csr, SERVER_CSR, Some("www")).unwrap().into_bundle().unwrap()
}

#[test]
fn tutorial_json_matches_cfssl_field_by_field() {
    let cf = tempfile::tempdir().unwrap();
    run_tutorial_cfssl(cf.path(), CA_CSR, SERVER_CSR);
    let ours = tempfile::tempdir().unwrap();
    let bundle = import(CA_CSR);
    let issued = bundle.generate().unwrap();
    write_files(ours.path(), &issued.files);
    let names: BTreeSet<_> = issued.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(names, BTreeSet::from(["ca.pem", "ca-key.pem", "server.pem", "server-key.pem"]));

    let (cf_ca, our_ca) = (info(cf.path(), "ca.pem"), info(ours.path(), "ca.pem"));
    assert_equivalent("CA", &cf_ca, &our_ca);
    assert_eq!(our_ca.validity_days, cf_ca.validity_days, "CA validity (cfssl's 43800h default)");
    assert_eq!(cf_ca.validity_days, 1825);

    let (cf_srv, our_srv) = (info(cf.path(), "server.pem"), info(ours.path(), "server.pem"));
    assert_equivalent("server", &cf_srv, &our_srv);
    // cfssl 1.2 signs a 10-year leaf under its 5-year CA; ours never
    // outlives the CA (and says so).
    assert_eq!(cf_srv.validity_days, 3650, "cfssl's own server validity");
    assert!(cf_srv.not_after > cf_ca.not_after, "cfssl 1.2 lets the leaf outlive the CA");
    assert_eq!(our_srv.not_after, our_ca.not_after, "ours is cut to the CA's notAfter");
    assert!(issued.warnings.iter().any(|w| w.contains("cut to the CA")), "{:?}", issued.warnings);

    for d in [cf.path(), ours.path()] {
        openssl_verify(&d.join("ca.pem"), &d.join("server.pem")).unwrap();
    }
}

#[test]
fn with_a_ca_expiry_every_validity_matches_cfssl() {
    let ca_csr = CA_CSR.replace("\"CN\": \"etcd CA\",", "\"CN\": \"etcd CA\", \"ca\": {\"expiry\": \"87600h\"},");
    let cf = tempfile::tempdir().unwrap();
    run_tutorial_cfssl(cf.path(), &ca_csr, SERVER_CSR);
    let ours = tempfile::tempdir().unwrap();
    let issued = import(&ca_csr).generate().unwrap();
    write_files(ours.path(), &issued.files);
    for name in ["ca.pem", "server.pem"] {
        let (a, b) = (info(cf.path(), name), info(ours.path(), name));
        assert_equivalent(name, &a, &b);
        assert_eq!(b.validity_days, a.validity_days, "{name}: validity length");
        assert_eq!(a.validity_days, 3650, "{name}");
    }
}

#[test]
fn cfssl_ca_can_be_brought_and_signs_our_leaves() {
    let cf = tempfile::tempdir().unwrap();
    run_tutorial_cfssl(cf.path(), CA_CSR, SERVER_CSR);
    let ca_pem = fs::read_to_string(cf.path().join("ca.pem")).unwrap();
    let ca_key = fs::read_to_string(cf.path().join("ca-key.pem")).unwrap();
    assert!(ca_key.starts_with("-----BEGIN RSA PRIVATE KEY-----"), "cfssl writes PKCS#1");
    let bundle = || {
        CertBundle::builder()
            .existing_ca(ca_pem.clone(), Some(ca_key.clone()))
            .members((0..3).map(|i| EtcdMember::new(format!("etcd0{}", i + 1), [format!("192.168.1.{}", 30 + i)])))
            .build()
            .unwrap()
    };
    let issued = bundle().generate().unwrap();
    let out = tempfile::tempdir().unwrap();
    write_files(out.path(), &issued.files);
    for f in issued.files.iter().filter(|f| !f.secret && f.path != "ca.pem") {
        openssl_verify(&cf.path().join("ca.pem"), &out.path().join(&f.path)).unwrap_or_else(|e| panic!("{}: {e}", f.path));
    }
    // Idempotent with the brought CA as well.
    let existing: BTreeMap<_, _> = issued.as_existing();
    let again = bundle().reconcile(&existing, time::OffsetDateTime::now_utc()).unwrap();
    assert!(again.actions.iter().all(|a| a.change == Change::Kept), "{:?}", again.actions);
}

#[test]
fn tutorial_variant_without_hosts_is_refused_while_cfssl_issues_a_cert_without_sans() {
    let cf = tempfile::tempdir().unwrap();
    run_tutorial_cfssl(cf.path(), CA_CSR, SERVER_CSR_NO_HOSTS);
    assert!(openssl_sans(&cf.path().join("server.pem")).is_empty(), "cfssl issued a cert with no SANs (the bug)");
    let e = CfsslImport::parse(CA_CONFIG, CA_CSR, SERVER_CSR_NO_HOSTS, Some("www")).unwrap_err().to_string();
    assert!(e.contains("server-csr.json") && e.contains("hosts"), "{e}");
}

#[test]
fn bad_cfssl_inputs_name_file_and_field() {
    let cases = [
        (CA_CONFIG.to_string(), CA_CSR.to_string(), SERVER_CSR.to_string(), Some("nope"), "signing.profiles"),
        ("{".to_string(), CA_CSR.to_string(), SERVER_CSR.to_string(), Some("www"), "ca-config.json"),
        (CA_CONFIG.to_string(), CA_CSR.replace("2048", "1024"), SERVER_CSR.to_string(), Some("www"), "ca-csr.json: key"),
        (CA_CONFIG.replace("87600h", "ten years"), CA_CSR.to_string(), SERVER_CSR.to_string(), Some("www"), "expiry"),
        (CA_CONFIG.replace("client auth", "code signing"), CA_CSR.to_string(), SERVER_CSR.to_string(), Some("www"), "usages[3]"),
    ];
    for (cfg, ca, srv, profile, needle) in cases {
        let e = CfsslImport::parse(&cfg, &ca, &srv, profile).unwrap_err().to_string();
        assert!(e.contains(needle), "expected {needle:?} in {e}");
    }
    let bad_host = SERVER_CSR.replace("192.168.1.31", "192.168.1.310");
    let e = CfsslImport::parse(CA_CONFIG, CA_CSR, &bad_host, Some("www")).unwrap().into_bundle().unwrap_err().to_string();
    assert!(e.contains("server-csr.json hosts[1]") && e.contains("192.168.1.310"), "{e}");
}
