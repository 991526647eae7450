//! Criterion benchmarks of CertBundle: the tutorial's PKI (CA + one server
//! cert, RSA 2048, as cfssl makes it), a 3-member per-member bundle (CA,
//! 3 x server + peer, admin, flanneld) with RSA 2048 and ECDSA P-256, and a
//! no-op reconcile of that bundle (what every re-run pays).
//!
//! `cargo bench -p k8s-bootstrap-benches --bench pki`

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use k8s_bootstrap_core::pki::{CertBundle, EtcdMember, KeyAlgorithm, Layout, Subject};

fn members() -> Vec<EtcdMember> {
    (0..3).map(|i| EtcdMember::new(format!("etcd0{}", i + 1), [format!("192.168.1.{}", 30 + i)])).collect()
}

fn bundle(layout: Layout, alg: KeyAlgorithm) -> CertBundle {
    CertBundle::builder()
        .ca_subject(Subject::new("etcd CA").country("CN").state("Beijing").locality("Beijing"))
        .layout(layout)
        .key_algorithm(alg)
        .members(members())
        .build()
        .expect("valid bundle")
}

fn pki(c: &mut Criterion) {
    let mut g = c.benchmark_group("pki");
    g.sample_size(20).measurement_time(Duration::from_secs(10));
    g.bench_function("tutorial_layout_rsa2048", |b| {
        b.iter(|| black_box(bundle(Layout::Tutorial, KeyAlgorithm::Rsa2048).generate().unwrap()))
    });
    g.bench_function("per_member_3_rsa2048", |b| {
        b.iter(|| black_box(bundle(Layout::PerMember, KeyAlgorithm::Rsa2048).generate().unwrap()))
    });
    g.bench_function("per_member_3_ecdsa_p256", |b| {
        b.iter(|| black_box(bundle(Layout::PerMember, KeyAlgorithm::EcdsaP256).generate().unwrap()))
    });
    let existing = bundle(Layout::PerMember, KeyAlgorithm::Rsa2048).generate().unwrap().as_existing();
    let now = time::OffsetDateTime::now_utc();
    g.bench_function("reconcile_noop_per_member_3_rsa2048", |b| {
        b.iter(|| black_box(bundle(Layout::PerMember, KeyAlgorithm::Rsa2048).reconcile(&existing, now).unwrap()))
    });
    g.finish();
}

criterion_group!(benches, pki);
criterion_main!(benches);
