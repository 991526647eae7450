//! Helpers shared by the render tests.
#![allow(dead_code)]

use k8s_bootstrap_core::spec::{ClusterSpec, Version};

/// The spec of `examples/tutorial-cluster.yaml`.
pub fn tutorial_yaml() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/tutorial-cluster.yaml");
    std::fs::read_to_string(path).expect("examples/tutorial-cluster.yaml is readable")
}

/// The tutorial spec with other versions.
pub fn tutorial(etcd: &str, flannel: &str) -> ClusterSpec {
    let mut spec = ClusterSpec::from_yaml_str(&tutorial_yaml()).expect("the tutorial spec parses");
    spec.versions.etcd = etcd.parse::<Version>().unwrap();
    spec.versions.flannel = flannel.parse::<Version>().unwrap();
    spec
}
