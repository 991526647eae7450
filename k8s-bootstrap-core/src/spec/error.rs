//! Errors and warnings of the cluster spec.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One rule a value breaks: where (`field path`), what (`value`), which
/// rule, and how to fix it.
///
/// ```
/// use k8s_bootstrap_core::spec::Problem;
/// let p = Problem::new("network.subnet_len", "31", "flannel's SubnetLen must be <= 30")
///     .fix("use 24");
/// assert_eq!(
///     p.to_string(),
///     "network.subnet_len = 31: flannel's SubnetLen must be <= 30 (fix: use 24)"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// Field path in the spec, like `hosts[1].address`.
    pub path: String,
    /// The offending value as text.
    pub value: String,
    /// The rule the value breaks.
    pub rule: String,
    /// A suggested fix, when there is an obvious one.
    pub fix: Option<String>,
    /// 1-based line and column in the YAML, when the spec came from YAML
    /// ([`ClusterSpec::load`](super::ClusterSpec::load)) and the field is written there.
    pub location: Option<(usize, usize)>,
}

impl Problem {
    /// A problem without a suggested fix.
    ///
    /// ```
    /// use k8s_bootstrap_core::spec::Problem;
    /// let p = Problem::new("hosts[1].address", "192.168.1.30", "host addresses must be unique");
    /// assert!(p.fix.is_none() && p.location.is_none());
    /// assert_eq!(p.to_string(), "hosts[1].address = 192.168.1.30: host addresses must be unique");
    /// ```
    pub fn new(path: impl Into<String>, value: impl fmt::Display, rule: impl Into<String>) -> Self {
        Problem { path: path.into(), value: value.to_string(), rule: rule.into(), fix: None, location: None }
    }
    /// Adds a suggested fix.
    ///
    /// ```
    /// use k8s_bootstrap_core::spec::Problem;
    /// let p = Problem::new("etcd.token", "my token", "no spaces").fix("use etcd-cluster");
    /// assert_eq!(p.fix.as_deref(), Some("use etcd-cluster"));
    /// assert!(p.to_string().ends_with(" (fix: use etcd-cluster)"));
    /// ```
    #[must_use]
    pub fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }
    /// Prefixes the field path (`members[0].name` becomes `etcd.members[0].name`).
    ///
    /// ```
    /// use k8s_bootstrap_core::spec::Problem;
    /// let p = Problem::new("members[0].name", "Etcd_1", "lower-case names only").under("etcd");
    /// assert_eq!(p.path, "etcd.members[0].name");
    /// assert_eq!(Problem::new("[2]", "x", "r").under("hosts").path, "hosts[2]");
    /// assert_eq!(Problem::new("", "x", "r").under("network").path, "network");
    /// ```
    #[must_use]
    pub fn under(mut self, prefix: &str) -> Self {
        if !prefix.is_empty() {
            self.path = if self.path.is_empty() {
                prefix.to_string()
            } else if self.path.starts_with('[') {
                format!("{prefix}{}", self.path)
            } else {
                format!("{prefix}.{}", self.path)
            };
        }
        self
    }
}

/// A problem is also an error, for callers that reject one value (a
/// command-line argument, a keyword) with it.
///
/// ```
/// use k8s_bootstrap_core::spec::Problem;
/// let err: Box<dyn std::error::Error> = Problem::new("concurrency", 0, "at least 1").into();
/// assert_eq!(err.to_string(), "concurrency = 0: at least 1");
/// ```
impl std::error::Error for Problem {}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path)?;
        if let Some((l, c)) = self.location {
            write!(f, " (line {l}, column {c})")?;
        }
        write!(f, " = {}: {}", self.value, self.rule)?;
        if let Some(fix) = &self.fix {
            write!(f, " (fix: {fix})")?;
        }
        Ok(())
    }
}

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

/// Formats a list of problems, one per line.
pub(crate) fn list(problems: &[Problem]) -> String {
    problems.iter().map(|p| format!("\n  - {p}")).collect()
}

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
