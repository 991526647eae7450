//! Parsing, validating and rendering a 1000-host cluster spec.
//!
//! `cargo bench -p k8s-bootstrap-benches --bench render`

use std::fmt::Write as _;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use k8s_bootstrap_core::spec::ClusterSpec;

/// A spec with `n` hosts: the first three are etcd members and nodes, the
/// rest nodes, on 192.168.0.0/16; etcd 3.5, flannel 0.26, vxlan.
fn spec_yaml(n: usize) -> String {
    let mut y = String::from("hosts:\n");
    for i in 0..n {
        let roles = if i < 3 { "[etcd, node]" } else { "[node]" };
        writeln!(
            y,
            "  - {{ name: node{i:04}, address: 192.168.{}.{}, roles: {roles}, ssh: {{ user: root }} }}",
            i / 250,
            i % 250 + 1
        )
        .unwrap();
    }
    y.push_str(
        "versions: { etcd: \"3.5.17\", flannel: \"0.26.1\" }\n\
         network: { pod_cidr: 10.0.0.0/12, subnet_len: 24, service_cidr: 172.30.0.0/16 }\n\
         docker: { registry_mirrors: [\"https://mirror.example.com\"] }\n",
    );
    y
}

fn render(c: &mut Criterion) {
    let yaml = spec_yaml(1000);
    let spec = ClusterSpec::from_yaml_str(&yaml).unwrap();
    assert!(spec.validate().unwrap().is_empty());
    let rendered = spec.render().unwrap();
    assert_eq!(rendered.hosts.len(), 1000);

    let mut g = c.benchmark_group("spec_1000_hosts");
    g.sample_size(20);
    g.bench_function("parse", |b| b.iter(|| ClusterSpec::from_yaml_str(black_box(&yaml)).unwrap()));
    g.bench_function("validate", |b| b.iter(|| black_box(&spec).validate().unwrap()));
    g.bench_function("render", |b| b.iter(|| black_box(&spec).render().unwrap()));
    g.bench_function("parse_validate_render", |b| {
        b.iter(|| ClusterSpec::from_yaml_str(black_box(&yaml)).unwrap().render().unwrap())
    });
    g.finish();
}

criterion_group!(benches, render);
criterion_main!(benches);
