//! What a value breaks: [`Problem`], the one type every builder and the
//! spec report rules with.

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
    /// ([`ClusterSpec::load`](crate::spec::ClusterSpec::load)) and the field is written there.
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

/// Formats a list of problems, one per line.
pub(crate) fn error_list(problems: &[Problem]) -> String {
    problems.iter().map(|p| format!("\n  - {p}")).collect()
}
