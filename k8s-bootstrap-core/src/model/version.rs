//! Component versions (`3.4.23`, `0.26`), compared numerically.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A `major.minor[.patch]` version of etcd or flannel. A leading `v` is
/// accepted. Without a patch number, rules that depend on the patch level
/// (for example `--tls-min-version`, from 3.4.25) assume the oldest patch.
///
/// ```
/// use k8s_bootstrap_core::spec::Version;
/// let v: Version = "v3.4.23".parse().unwrap();
/// assert_eq!((v.major, v.minor, v.patch), (3, 4, Some(23)));
/// assert!(v < "3.5".parse().unwrap());
/// assert_eq!(v.to_string(), "3.4.23");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Version {
    /// Major version.
    pub major: u32,
    /// Minor version.
    pub minor: u32,
    /// Patch level, when given.
    pub patch: Option<u32>,
}

impl Version {
    /// A version with a patch level.
    ///
    /// ```
    /// use k8s_bootstrap_core::spec::Version;
    /// let v = Version::new(3, 4, 23);
    /// assert_eq!(v.to_string(), "3.4.23");
    /// assert_eq!(v, "v3.4.23".parse().unwrap());
    /// ```
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        Version { major, minor, patch: Some(patch) }
    }
    /// A version without a patch level (`3.5`).
    ///
    /// ```
    /// use k8s_bootstrap_core::spec::Version;
    /// let v = Version::minor(3, 5);
    /// assert_eq!((v.to_string(), v.patch), ("3.5".to_string(), None));
    /// assert!(v < Version::new(3, 5, 1)); // a missing patch counts as .0
    /// ```
    pub const fn minor(major: u32, minor: u32) -> Self {
        Version { major, minor, patch: None }
    }
    /// `(major, minor)`.
    ///
    /// ```
    /// use k8s_bootstrap_core::spec::Version;
    /// assert_eq!(Version::new(3, 4, 23).major_minor(), (3, 4));
    /// ```
    pub fn major_minor(self) -> (u32, u32) {
        (self.major, self.minor)
    }
    /// `(major, minor, patch)` with a missing patch taken as 0.
    ///
    /// ```
    /// use k8s_bootstrap_core::spec::Version;
    /// assert_eq!(Version::minor(3, 5).triple(), (3, 5, 0));
    /// assert_eq!(Version::new(0, 11, 0).triple(), (0, 11, 0));
    /// ```
    pub fn triple(self) -> (u32, u32, u32) {
        (self.major, self.minor, self.patch.unwrap_or(0))
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.triple().cmp(&other.triple())
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.patch {
            Some(p) => write!(f, "{}.{}.{}", self.major, self.minor, p),
            None => write!(f, "{}.{}", self.major, self.minor),
        }
    }
}

/// The error of parsing a [`Version`].
///
/// ```
/// use k8s_bootstrap_core::spec::{Version, VersionParseError};
/// let err = "3.4.x".parse::<Version>().unwrap_err();
/// assert_eq!(err, VersionParseError("3.4.x".into()));
/// assert!(err.to_string().starts_with(r#"invalid version "3.4.x": expected MAJOR.MINOR"#));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid version {0:?}: expected MAJOR.MINOR or MAJOR.MINOR.PATCH, for example 3.4.23")]
pub struct VersionParseError(pub String);

impl FromStr for Version {
    type Err = VersionParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || VersionParseError(s.to_string());
        let t = s.trim().strip_prefix('v').unwrap_or(s.trim());
        let parts: Vec<&str> = t.split('.').collect();
        if !(2..=3).contains(&parts.len()) {
            return Err(err());
        }
        let num = |p: &str| -> Result<u32, VersionParseError> {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err());
            }
            p.parse().map_err(|_| err())
        };
        Ok(Version {
            major: num(parts[0])?,
            minor: num(parts[1])?,
            patch: parts.get(2).map(|p| num(p)).transpose()?,
        })
    }
}

impl TryFrom<String> for Version {
    type Error = VersionParseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Version> for String {
    fn from(v: Version) -> String {
        v.to_string()
    }
}
