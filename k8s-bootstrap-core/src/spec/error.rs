//! Errors and warnings of the cluster spec.

use crate::model::Problem;
use crate::model::error_list as list;

/// A setting that works but is risky; rendering goes on.
///
/// ```
/// use k8s_bootstrap_core::spec::{ClusterSpec, Ipv4Cidr};
/// let mut spec = ClusterSpec::from_yaml_str(
///     "hosts: [{ name: etcd01, address: 192.168.1.30, roles: [etcd, node] }]\n\
///      versions: { etcd: '3.3.13', flannel: '0.11.0' }\n",
/// ).unwrap();
/// spec.network.pod_cidr = Ipv4Cidr::DOCKER_DEFAULT; // the tutorial's 172.17.0.0/16
/// let warnings = spec.validate().unwrap(); // still usable ...
/// assert_eq!(warnings[0].path, "network.pod_cidr"); // ... but risky
/// assert_eq!(warnings[0].fix.as_deref(), Some("use 10.244.0.0/16"));
/// ```
pub type Warning = Problem;

/// The error of reading or validating a [`ClusterSpec`](super::ClusterSpec).
///
/// ```
/// use k8s_bootstrap_core::spec::{ClusterSpec, SpecError};
/// // A YAML problem: the field path, where it is, and the line itself.
/// let err = ClusterSpec::from_yaml_str("hosts:\n  - { name: etcd01, address: 10.0.0.300, roles: [etcd] }\n").unwrap_err();
/// assert!(matches!(&err, SpecError::Parse { path, line: Some(2), .. } if path == "hosts[0].address"));
/// // Broken rules: every problem at once, each with path, value, rule and fix.
/// let yaml = "hosts: []\nversions: { etcd: '3.5.17', flannel: '0.26.1' }\n";
/// let err = ClusterSpec::load(yaml).unwrap_err();
/// assert_eq!(err.problems().len(), 2);
/// assert!(err.to_string().starts_with("the cluster spec has 2 problem(s):\n  - hosts (line 1, column 8) = []: "));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// The YAML could not be read into the spec's types: a syntax error, an
    /// unknown field, a missing field or a value of the wrong type.
    #[error("{path}{}: {rule}{}", location(*line, *column), value.as_ref().map(|v| format!("\n  | {v}")).unwrap_or_default())]
    Parse {
        /// Field path (`hosts[0].ssh.prot`), `.` for the document root.
        path: String,
        /// 1-based line in the YAML, when known.
        line: Option<usize>,
        /// 1-based column in the YAML, when known.
        column: Option<usize>,
        /// The YAML source line at that location, when known.
        value: Option<String>,
        /// What is wrong (the rule), as the YAML reader reported it.
        rule: String,
    },
    /// The spec was read but breaks rules; every problem found is listed.
    #[error("the cluster spec has {} problem(s):{}", problems.len(), list(problems))]
    Invalid {
        /// All problems found.
        problems: Vec<Problem>,
    },
}

fn location(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(" (line {l}, column {c})"),
        (Some(l), None) => format!(" (line {l})"),
        _ => String::new(),
    }
}

impl SpecError {
    /// The problems of an [`SpecError::Invalid`], or the parse error as one problem.
    ///
    /// ```
    /// use k8s_bootstrap_core::spec::ClusterSpec;
    /// // A parse error becomes one problem at its field path, line and column ...
    /// let err = ClusterSpec::from_yaml_str("hosts: []\nversions: { etcd: '3.5.x', flannel: '0.26.1' }\n").unwrap_err();
    /// assert_eq!(err.problems()[0].path, "versions.etcd");
    /// assert_eq!(err.problems()[0].location.map(|(line, _)| line), Some(2));
    /// // ... a validation error lists every broken rule.
    /// let err = ClusterSpec::load("hosts: []\nversions: { etcd: '3.5.17', flannel: '0.26.1' }\n").unwrap_err();
    /// assert!(err.problems().iter().all(|p| p.path == "hosts"));
    /// ```
    pub fn problems(&self) -> Vec<Problem> {
        match self {
            SpecError::Invalid { problems } => problems.clone(),
            SpecError::Parse { path, value, rule, line, column } => {
                let mut p = Problem::new(path.clone(), value.clone().unwrap_or_default(), rule.clone());
                p.location = line.zip(*column);
                vec![p]
            }
        }
    }
}
