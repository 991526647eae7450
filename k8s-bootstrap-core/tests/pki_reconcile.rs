//! Idempotence and safety of CertBundle::reconcile: keep what is right,
//! re-issue what is not and say why, never replace a CA silently, and bad
//! input gives typed errors that name the field and the value.

use std::collections::BTreeMap;

use k8s_bootstrap_core::pki::{
    CertBundle, CertBundleBuilder, CertId, Change, EtcdMember, Error, Issued, KeyAlgorithm, Subject, inspect,
};
use time::{Duration, OffsetDateTime};

fn base() -> CertBundleBuilder {
    CertBundle::builder()
        .key_algorithm(KeyAlgorithm::EcdsaP256)
        .members([EtcdMember::new("etcd01", ["10.0.0.1"]), EtcdMember::new("etcd02", ["10.0.0.2"]), EtcdMember::new("etcd03", ["10.0.0.3"])])
}

fn reason(i: &Issued, id: &CertId) -> Option<String> {
    i.actions.iter().find(|a| &a.id == id).and_then(|a| match &a.change {
        Change::Issued { reason } => Some(reason.clone()),
        _ => None,
    })
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

#[test]
fn second_run_keeps_every_byte() {
    let first = base().build().unwrap().generate().unwrap();
    assert!(first.actions.iter().all(|a| matches!(a.change, Change::Issued { .. })));
    let second = base().build().unwrap().reconcile(&first.as_existing(), now()).unwrap();
    assert!(second.actions.iter().all(|a| a.change == Change::Kept), "{:?}", second.actions);
    assert_eq!(second.as_existing(), first.as_existing(), "every byte kept");
    assert!(second.unmanaged.is_empty());
}

#[test]
fn changed_member_address_reissues_only_that_member() {
    let first = base().build().unwrap().generate().unwrap();
    let moved = CertBundle::builder()
        .key_algorithm(KeyAlgorithm::EcdsaP256)
        .members([EtcdMember::new("etcd01", ["10.0.0.1"]), EtcdMember::new("etcd02", ["10.0.0.22"]), EtcdMember::new("etcd03", ["10.0.0.3"])])
        .build()
        .unwrap()
        .reconcile(&first.as_existing(), now())
        .unwrap();
    let issued: Vec<_> = moved.issued().map(|a| a.id.clone()).collect();
    assert_eq!(issued, [CertId::Server("etcd02".into()), CertId::Peer("etcd02".into())]);
    let r = reason(&moved, &CertId::Server("etcd02".into())).unwrap();
    assert!(r.contains("missing 10.0.0.22") && r.contains("unexpected 10.0.0.2"), "{r}");
    // The CA and the untouched members are byte-identical.
    for p in ["ca.pem", "ca-key.pem", "etcd01-server.pem", "etcd03-peer-key.pem", "admin.pem"] {
        assert_eq!(moved.file(p).unwrap().contents, first.file(p).unwrap().contents, "{p}");
    }
}

#[test]
fn expiring_leaf_is_reissued_with_the_reason() {
    let first = base().leaf_validity_days(60).renew_before_days(30).build().unwrap().generate().unwrap();
    let later = now() + Duration::days(45);
    let r = base().leaf_validity_days(60).renew_before_days(30).build().unwrap().reconcile(&first.as_existing(), later).unwrap();
    assert_eq!(r.issued().count(), 8, "every leaf, not the CA");
    let why = reason(&r, &CertId::AdminClient).unwrap();
    assert!(why.contains("expires in 14 days") || why.contains("expires in 15 days"), "{why}");
    assert_eq!(r.actions[0].change, Change::Kept, "the CA is kept");
    // The re-issued leaves are valid from "later".
    let infos = inspect(&r.as_existing(), later).unwrap();
    assert!(infos.iter().filter(|i| !i.is_ca).all(|i| i.days_left >= 59), "{infos:?}");
}

#[test]
fn changed_key_algorithm_or_foreign_signature_is_reissued() {
    let first = base().build().unwrap().generate().unwrap();
    let r = base().key_algorithm(KeyAlgorithm::EcdsaP384).build().unwrap().reconcile(&first.as_existing(), now()).unwrap();
    assert!(reason(&r, &CertId::Peer("etcd03".into())).unwrap().contains("key is ecdsa-p256, asked ecdsa-p384"));
    // The CA is never regenerated because the algorithm changed.
    assert_eq!(r.file("ca.pem").unwrap().contents, first.file("ca.pem").unwrap().contents);

    // A leaf signed by another CA is re-issued.
    let other = base().build().unwrap().generate().unwrap();
    let mut mixed = first.as_existing();
    mixed.insert("admin.pem".into(), other.file("admin.pem").unwrap().contents.clone());
    mixed.insert("admin-key.pem".into(), other.file("admin-key.pem").unwrap().contents.clone());
    let r = base().build().unwrap().reconcile(&mixed, now()).unwrap();
    assert_eq!(reason(&r, &CertId::AdminClient).unwrap(), "not signed by the current CA");
    assert_eq!(r.issued().count(), 1);

    // A key that does not belong to its cert is re-issued.
    let mut swapped = first.as_existing();
    swapped.insert("flanneld-key.pem".into(), first.file("admin-key.pem").unwrap().contents.clone());
    let r = base().build().unwrap().reconcile(&swapped, now()).unwrap();
    assert!(reason(&r, &CertId::FlannelClient).unwrap().contains("key does not match"));

    // A missing key file.
    let mut missing = first.as_existing();
    missing.remove("etcd01-server-key.pem");
    let r = base().build().unwrap().reconcile(&missing, now()).unwrap();
    assert_eq!(reason(&r, &CertId::Server("etcd01".into())).unwrap(), "etcd01-server-key.pem is absent");
}

#[test]
fn removed_member_files_are_reported_unmanaged() {
    let first = base().build().unwrap().generate().unwrap();
    let two = CertBundle::builder()
        .key_algorithm(KeyAlgorithm::EcdsaP256)
        .members([EtcdMember::new("etcd01", ["10.0.0.1"]), EtcdMember::new("etcd02", ["10.0.0.2"])])
        .build()
        .unwrap()
        .reconcile(&first.as_existing(), now())
        .unwrap();
    assert_eq!(two.unmanaged, ["etcd03-peer-key.pem", "etcd03-peer.pem", "etcd03-server-key.pem", "etcd03-server.pem"]);
    assert!(two.files.iter().all(|f| !f.path.starts_with("etcd03")));
}

#[test]
fn an_expiring_ca_is_never_replaced_silently() {
    let first = base().ca_validity_days(100).leaf_validity_days(50).build().unwrap().generate().unwrap();
    let later = now() + Duration::days(80);
    let e = base().ca_validity_days(100).leaf_validity_days(50).build().unwrap().reconcile(&first.as_existing(), later).unwrap_err();
    assert!(matches!(e, Error::CaExpiring { .. }), "{e}");
    assert!(e.to_string().contains("never replaced silently"), "{e}");

    let replaced = base()
        .ca_validity_days(100)
        .leaf_validity_days(50)
        .replace_expiring_ca(true)
        .build()
        .unwrap()
        .reconcile(&first.as_existing(), later)
        .unwrap();
    assert!(matches!(&replaced.actions[0].change, Change::Issued { reason } if reason.contains("replaced as asked")));
    assert_ne!(replaced.file("ca.pem").unwrap().contents, first.file("ca.pem").unwrap().contents);
    assert!(replaced.actions.iter().skip(1).all(|a| matches!(&a.change, Change::Issued { reason } if reason.contains("not signed by the current CA"))));
}

#[test]
fn broken_ca_files_are_typed_errors() {
    let first = base().build().unwrap().generate().unwrap();
    let other = base().build().unwrap().generate().unwrap();

    let mut mismatch = first.as_existing();
    mismatch.insert("ca-key.pem".into(), other.file("ca-key.pem").unwrap().contents.clone());
    let e = base().build().unwrap().reconcile(&mismatch, now()).unwrap_err();
    assert!(matches!(e, Error::CaKeyMismatch { .. }), "{e}");

    let mut not_cert = first.as_existing();
    not_cert.insert("ca.pem".into(), b"hello".to_vec());
    let e = base().build().unwrap().reconcile(&not_cert, now()).unwrap_err();
    assert!(matches!(&e, Error::BadPem { path, .. } if path == "ca.pem"), "{e}");

    let mut leaf_as_ca = first.as_existing();
    leaf_as_ca.insert("ca.pem".into(), first.file("admin.pem").unwrap().contents.clone());
    leaf_as_ca.remove("ca-key.pem");
    let e = base().build().unwrap().reconcile(&leaf_as_ca, now()).unwrap_err();
    assert!(matches!(e, Error::NotACa { .. }), "{e}");

    let mut orphan_key = first.as_existing();
    orphan_key.remove("ca.pem");
    let e = base().build().unwrap().reconcile(&orphan_key, now()).unwrap_err();
    assert!(e.to_string().contains("orphaned"), "{e}");
}

#[test]
fn external_ca_without_key_checks_but_cannot_issue() {
    let first = base().build().unwrap().generate().unwrap();
    let mut no_key = first.as_existing();
    no_key.remove("ca-key.pem");
    let ok = base().build().unwrap().reconcile(&no_key, now()).unwrap();
    assert!(ok.actions.iter().all(|a| a.change == Change::Kept));
    assert!(ok.warnings.iter().any(|w| w.contains("external CA")));
    no_key.remove("admin.pem");
    let e = base().build().unwrap().reconcile(&no_key, now()).unwrap_err();
    assert!(matches!(&e, Error::CaKeyAbsent { cert, .. } if cert == "admin"), "{e}");
}

#[test]
fn a_different_given_ca_is_refused() {
    let first = base().build().unwrap().generate().unwrap();
    let other = base().build().unwrap().generate().unwrap();
    let pem = |i: &Issued, p: &str| String::from_utf8(i.file(p).unwrap().contents.clone()).unwrap();
    let e = base()
        .existing_ca(pem(&other, "ca.pem"), Some(pem(&other, "ca-key.pem")))
        .build()
        .unwrap()
        .reconcile(&first.as_existing(), now())
        .unwrap_err();
    assert!(e.to_string().contains("never replaced silently"), "{e}");
    // A CA given with a key that is not its own.
    let e = base().existing_ca(pem(&first, "ca.pem"), Some(pem(&other, "ca-key.pem"))).build().unwrap_err();
    assert!(matches!(e, Error::CaKeyMismatch { .. }), "{e}");
    let e = base().existing_ca("not a pem", None).build().unwrap_err();
    assert!(matches!(&e, Error::BadPem { path, .. } if path == "existing_ca.cert"), "{e}");
}

#[test]
fn bad_inputs_name_field_and_value() {
    let cases: Vec<(CertBundleBuilder, &str, &str)> = vec![
        (CertBundle::builder().ca_subject(Subject::new("")), "ca.subject.common_name", "\"\""),
        (CertBundle::builder().member(EtcdMember::new("etcd01", ["192.168.1.300"])), "members[0].addresses[0]", "192.168.1.300"),
        (
            CertBundle::builder().member(EtcdMember::new("etcd01", ["10.0.0.1"])).member(EtcdMember::new("etcd01", ["10.0.0.2"])),
            "members[1].name",
            "duplicate",
        ),
        (
            CertBundle::builder().member(EtcdMember::new("a", ["10.0.0.1"])).member(EtcdMember::new("b", ["10.0.0.1"])),
            "members[1].addresses[0]",
            "already used by member a",
        ),
        (CertBundle::builder().member(EtcdMember::new("bad name", ["10.0.0.1"])), "members[0].name", "bad name"),
        (CertBundle::builder().member(EtcdMember::new("dnsonly", ["etcd.example"])), "members[0].addresses", "IP address"),
        (CertBundle::builder().ca_validity_days(0), "ca_validity_days", "0"),
        (CertBundle::builder().leaf_validity_days(-3), "leaf_validity_days", "-3"),
        (CertBundle::builder().leaf_validity_days(4000), "leaf_validity_days", "must not exceed"),
        (CertBundle::builder().extra_san("bad_host!"), "extra_sans[0]", "bad_host!"),
        (CertBundle::builder().ca_subject(Subject::new("x").country("China")), "ca.subject.country", "China"),
        (CertBundle::builder().renew_before_days(400), "renew_before_days", "400"),
    ];
    for (b, field, value) in cases {
        let e = b.build().unwrap_err();
        let s = e.to_string();
        assert!(matches!(e, Error::InvalidField { .. }), "{s}");
        assert!(s.contains(field) && s.contains(value), "expected {field} and {value} in: {s}");
    }
}

#[test]
fn ed25519_with_old_versions_warns() {
    let b = base().key_algorithm(KeyAlgorithm::Ed25519).target_versions(Some((3, 3)), Some((0, 11))).build().unwrap();
    assert!(b.warnings().iter().any(|w| w.contains("etcd 3.3 and flannel 0.11")), "{:?}", b.warnings());
    let b = base().key_algorithm(KeyAlgorithm::Ed25519).target_versions(Some((3, 5)), Some((0, 26))).build().unwrap();
    assert!(b.warnings().is_empty(), "{:?}", b.warnings());
}

#[test]
fn debug_output_never_contains_private_keys() {
    let issued = base().build().unwrap().generate().unwrap();
    let dbg = format!("{issued:?}");
    assert!(!dbg.contains("PRIVATE KEY"), "private key material in Debug output");
    let bundle = base()
        .existing_ca(
            String::from_utf8(issued.file("ca.pem").unwrap().contents.clone()).unwrap(),
            Some(String::from_utf8(issued.file("ca-key.pem").unwrap().contents.clone()).unwrap()),
        )
        .build()
        .unwrap();
    assert!(!format!("{bundle:?}").contains("PRIVATE KEY"));
    let _: BTreeMap<String, Vec<u8>> = issued.as_existing();
}
