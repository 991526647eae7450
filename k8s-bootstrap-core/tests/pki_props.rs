//! Property tests of CertBundle: arbitrary member sets give chains that
//! verify, and arbitrary (bad) input gives errors, never panics.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use k8s_bootstrap_core::pki::cfssl::CfsslImport;
use k8s_bootstrap_core::pki::{CertBundle, Change, EtcdMember, KeyAlgorithm, Subject};
use proptest::prelude::*;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

fn der(pem_bytes: &[u8]) -> Vec<u8> {
    pem::parse(pem_bytes).unwrap().into_contents()
}

fn ip_strategy() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_filter("unicast", |b| b[0] != 0 && b[0] < 224 && b[0] != 127).prop_map(IpAddr::from),
        any::<[u8; 16]>().prop_filter("unicast v6", |b| b[0] != 0xff && b.iter().any(|x| *x != 0)).prop_map(IpAddr::from),
    ]
}

fn members_strategy() -> impl Strategy<Value = Vec<(String, Vec<IpAddr>)>> {
    prop::collection::btree_map("[a-z][a-z0-9-]{0,10}[a-z0-9]", prop::collection::vec(ip_strategy(), 1..3), 1..6)
        .prop_map(|m| m.into_iter().collect::<Vec<_>>())
        .prop_filter("distinct addresses across members", |ms| {
            let mut seen = BTreeSet::new();
            ms.iter().all(|(_, ips)| ips.iter().collect::<BTreeSet<_>>().iter().all(|ip| seen.insert(**ip)))
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Every leaf of an arbitrary member set is signed by the CA (checked by
    /// x509-parser, independently of the bundle's own checks), carries the
    /// member's IPs, and a second reconcile keeps everything.
    #[test]
    fn arbitrary_member_sets_verify(members in members_strategy()) {
        let bundle = CertBundle::builder()
            .key_algorithm(KeyAlgorithm::EcdsaP256)
            .members(members.iter().map(|(n, ips)| EtcdMember::new(n, ips.iter().map(ToString::to_string))))
            .build()
            .unwrap();
        let issued = bundle.generate().unwrap();
        let files: BTreeMap<_, _> = issued.as_existing();
        let ca_der = der(&files["ca.pem"]);
        let (_, ca) = X509Certificate::from_der(&ca_der).unwrap();
        for (name, ips) in &members {
            for kind in ["server", "peer"] {
                let d = der(&files[&format!("{name}-{kind}.pem")]);
                let (_, leaf) = X509Certificate::from_der(&d).unwrap();
                prop_assert!(leaf.verify_signature(Some(ca.public_key())).is_ok());
                prop_assert_eq!(leaf.issuer().as_raw(), ca.subject().as_raw());
                let sans = leaf.subject_alternative_name().unwrap().unwrap();
                let have: BTreeSet<IpAddr> = sans.value.general_names.iter().filter_map(|g| match g {
                    GeneralName::IPAddress(b) if b.len() == 4 => Some(IpAddr::from(<[u8; 4]>::try_from(*b).unwrap())),
                    GeneralName::IPAddress(b) if b.len() == 16 => Some(IpAddr::from(<[u8; 16]>::try_from(*b).unwrap())),
                    _ => None,
                }).collect();
                for ip in ips {
                    prop_assert!(have.contains(ip), "{} missing in {:?}", ip, have);
                }
            }
        }
        let again = bundle.reconcile(&files, time::OffsetDateTime::now_utc()).unwrap();
        prop_assert!(again.actions.iter().all(|a| a.change == Change::Kept));
    }

    /// Arbitrary strings and numbers as input: build() returns Ok or a typed
    /// error, never panics; when it accepts, generation succeeds.
    #[test]
    fn arbitrary_input_never_panics(
        cn in ".{0,70}",
        country in proptest::option::of(".{0,4}"),
        names in prop::collection::vec(".{0,12}", 0..4),
        addrs in prop::collection::vec(prop_oneof![".{0,20}", "[0-9]{1,3}(\\.[0-9]{1,4}){3}", "[a-f0-9:]{2,20}"], 0..4),
        ca_days in -10i64..40000,
        leaf_days in -10i64..40000,
        renew in -5i64..400,
        sans in prop::collection::vec(".{0,20}", 0..3),
    ) {
        let mut s = Subject::new(cn);
        s.country = country;
        let mut b = CertBundle::builder()
            .key_algorithm(KeyAlgorithm::EcdsaP256)
            .ca_subject(s)
            .ca_validity_days(ca_days)
            .leaf_validity_days(leaf_days)
            .renew_before_days(renew);
        for (i, n) in names.iter().enumerate() {
            let a: Vec<String> = addrs.iter().skip(i).take(2).cloned().collect();
            b = b.member(EtcdMember::new(n.clone(), a));
        }
        for x in &sans {
            b = b.extra_san(x.clone());
        }
        if let Ok(bundle) = b.build() {
            prop_assert!(bundle.generate().is_ok());
        }
    }

    /// Arbitrary bytes as existing files: reconcile never panics.
    #[test]
    fn arbitrary_existing_files_never_panic(
        files in prop::collection::btree_map(
            prop_oneof![Just("ca.pem".to_string()), Just("ca-key.pem".to_string()), Just("admin.pem".to_string()),
                        Just("admin-key.pem".to_string()), "[a-z]{1,8}\\.pem"],
            prop_oneof![
                prop::collection::vec(any::<u8>(), 0..200),
                ".{0,50}".prop_map(|s| format!("-----BEGIN CERTIFICATE-----\n{s}\n-----END CERTIFICATE-----\n").into_bytes()),
            ],
            0..5)
    ) {
        let bundle = CertBundle::builder().key_algorithm(KeyAlgorithm::EcdsaP256).build().unwrap();
        let _ = bundle.reconcile(&files, time::OffsetDateTime::now_utc());
    }

    /// Arbitrary JSON-ish text as cfssl inputs: errors, never panics.
    #[test]
    fn arbitrary_cfssl_json_never_panics(a in ".{0,80}", b in ".{0,80}", c in ".{0,80}", hosts in prop::collection::vec(".{0,16}", 0..3)) {
        let _ = CfsslImport::parse(&a, &b, &c, None);
        let server = serde_json::json!({"CN": "etcd", "hosts": hosts}).to_string();
        let ca = serde_json::json!({"CN": a, "key": {"algo": "ecdsa", "size": 256}}).to_string();
        if let Ok(i) = CfsslImport::parse(r#"{"signing":{"default":{"expiry":"1h"}}}"#, &ca, &server, None)
            && let Ok(bundle) = i.into_bundle()
        {
            prop_assert!(bundle.generate().is_ok());
        }
    }
}
