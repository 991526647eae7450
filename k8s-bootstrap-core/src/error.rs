//! One classification of every error of the core, for front ends: a small
//! [`ErrorKind`] (bad input, the PKI, a template, a host, other), the
//! [`Problem`]s of bad input (field path, value, rule, fix, line), and the
//! details of a host error. The CLI maps the kind to its exit code, the
//! Python binding to its exception class; neither looks at the variants.
//!
//! ```
//! use k8s_bootstrap_core::apply::FailureKind;
//! use k8s_bootstrap_core::error::{describe, ErrorKind};
//! use k8s_bootstrap_core::spec::ClusterSpec;
//! use k8s_bootstrap_core::transport::TransportError;
//! let bad = ClusterSpec::load("hosts: []\nversions: { etcd: '3.5.17', flannel: '0.26.1' }\n").unwrap_err();
//! let info = describe(&bad).unwrap();
//! assert_eq!((info.kind, info.problems[0].path.as_str()), (ErrorKind::Invalid, "hosts"));
//! let down = TransportError::Connect { host: "etcd01".into(), reason: "connection refused".into() };
//! let info = describe(&down).unwrap();
//! assert_eq!(info.kind, ErrorKind::Host(FailureKind::Connect));
//! assert_eq!((info.details.host.as_deref(), info.details.reason.as_deref()), (Some("etcd01"), Some("connection refused")));
//! assert!(describe(&std::io::Error::other("not ours")).is_none());
//! ```
//!
//! An OpenSSH config file that cannot be used is bad input too:
//!
//! ```
//! # #[cfg(feature = "ssh")] {
//! use k8s_bootstrap_core::apply::{open, ConnectOptions, OpenOptions};
//! use k8s_bootstrap_core::error::{describe, ErrorKind};
//! use k8s_bootstrap_core::spec::{ClusterSpec, Skeleton};
//! let dir = tempfile::tempdir().unwrap();
//! std::fs::write(dir.path().join("ssh_config"), "Host *\n  StrictHostKeyChecking no\n").unwrap();
//! let (spec, _) = ClusterSpec::load(&Skeleton::Tutorial.to_yaml()).unwrap();
//! let mut opts = OpenOptions::new(dir.path().join("pki"));
//! opts.connect = ConnectOptions { ssh_config: Some(dir.path().join("ssh_config")), ..ConnectOptions::default() };
//! let err = tokio::runtime::Runtime::new().unwrap().block_on(open(&spec, &opts)).err().unwrap();
//! let info = describe(&err).unwrap();
//! assert_eq!((info.kind, info.problems[0].path.as_str()), (ErrorKind::Invalid, "ssh_config"));
//! # }
//! ```

use std::error::Error as StdError;

use serde::Serialize;

use crate::apply::{self, FailureKind, OpenError, PkiDirError, ReleaseError, RestoreError, SnapshotError};
use crate::spec::{Problem, SpecError};
use crate::transport::TransportError;
use crate::{docker, etcd, flannel, hostprep, pki, render};

/// What kind of error it is, for a front end to act on: the CLI's exit code
/// (2 for [`Invalid`](Self::Invalid), else 1), the Python exception class.
///
/// ```
/// use k8s_bootstrap_core::error::{kind, ErrorKind};
/// use k8s_bootstrap_core::pki;
/// let e = pki::Error::invalid("leaf_validity_days", "0", "must be at least 1");
/// assert_eq!(kind(&e), Some(ErrorKind::Invalid));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A value breaks a rule (a spec field, a builder setting, a PKI input,
    /// a release tarball, an argument); see [`ErrorInfo::problems`]. Nothing
    /// was done.
    Invalid,
    /// The PKI cannot do what was asked with the files it has: a CA close to
    /// expiry (never replaced silently), a certificate to issue without the
    /// CA key, a PKI folder open to others, a crypto failure.
    Pki,
    /// A template of the core failed to render.
    Render,
    /// Another run holds the cluster's lock (its PKI folder's, or the
    /// hosts'): nothing was done. See [`crate::apply::LockError`].
    Locked,
    /// Acting on a host (or on this machine's files) failed, in this way.
    Host(FailureKind),
    /// Anything else.
    Other,
}

/// The facts of a host error, as named values (absent when they do not
/// apply): what a front end shows or hands on, such as Python's exception
/// attributes. Serialized without the absent ones.
///
/// ```
/// use k8s_bootstrap_core::error::describe;
/// use k8s_bootstrap_core::transport::TransportError;
/// let e = TransportError::CommandFailed { host: "etcd02".into(), command: "systemctl start etcd".into(), code: Some(1), stderr_tail: "Job failed".into() };
/// let d = describe(&e).unwrap().details;
/// assert_eq!((d.command.as_deref(), d.exit_code, d.stderr.as_deref()), (Some("systemctl start etcd"), Some(1), Some("Job failed")));
/// assert_eq!(serde_json::to_value(&d).unwrap(), serde_json::json!({
///     "host": "etcd02", "command": "systemctl start etcd", "exit_code": 1, "stderr": "Job failed",
/// }));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ErrorDetails {
    /// The host the error is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Host key errors: the SHA256 fingerprint the host offered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// Host key mismatch: what was expected (known_hosts line, pinned fingerprint).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// Unknown host key: the known_hosts file consulted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub known_hosts: Option<String>,
    /// Authentication: the remote user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Authentication: what was tried (never secrets).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tried: Option<String>,
    /// Connection errors, a refused host key: why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Timeouts: the timeout, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<f64>,
    /// Command errors: the command (redacted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// Command errors: the exit code (absent when killed or timed out).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<u32>,
    /// Command errors: the last lines of its stderr.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stderr: Option<String>,
}

/// A core error classified: see the [module docs](self).
///
/// ```
/// use k8s_bootstrap_core::error::{describe, ErrorKind};
/// use k8s_bootstrap_core::spec::ClusterSpec;
/// let err = ClusterSpec::from_yaml_str("hosts: []\nversions: { etcd: '3.5.17', flannel: '0.26.1' }\nnetwrk: {}\n").unwrap_err();
/// let info = describe(&err).unwrap();
/// assert_eq!(info.kind, ErrorKind::Invalid);
/// assert_eq!((info.problems[0].path.as_str(), info.problems[0].location), ("netwrk", Some((3, 1))));
/// assert!(info.message.starts_with("netwrk (line 3, column 1): unknown field `netwrk`"));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ErrorInfo {
    /// The kind.
    pub kind: ErrorKind,
    /// The error and its causes, `outer: inner`.
    pub message: String,
    /// For [`ErrorKind::Invalid`]: every problem, the main one first.
    pub problems: Vec<Problem>,
    /// The host and the facts of a host error.
    pub details: ErrorDetails,
}

/// The kind of `e` when it is an error of the core, else `None`.
///
/// ```
/// use k8s_bootstrap_core::apply::FailureKind;
/// use k8s_bootstrap_core::error::{kind, ErrorKind};
/// use k8s_bootstrap_core::transport::TransportError;
/// let e = TransportError::Auth { host: "etcd01".into(), user: "root".into(), tried: "agent".into() };
/// assert_eq!(kind(&e), Some(ErrorKind::Host(FailureKind::Auth)));
/// ```
pub fn kind(e: &(dyn StdError + 'static)) -> Option<ErrorKind> {
    classify(e).map(|c| c.0)
}

/// Classifies `e` when it is an error of the core (or a [`Problem`]), else
/// `None`. Callers with an error chain (anyhow) try each link.
///
/// ```
/// use k8s_bootstrap_core::error::{describe, ErrorKind};
/// use k8s_bootstrap_core::pki::CertBundle;
/// let err = CertBundle::builder().existing_ca("not a pem", None).build().unwrap_err();
/// let info = describe(&err).unwrap();
/// assert_eq!((info.kind, info.problems[0].path.as_str()), (ErrorKind::Invalid, "existing_ca.cert"));
/// ```
pub fn describe(e: &(dyn StdError + 'static)) -> Option<ErrorInfo> {
    let (kind, problems, details) = classify(e)?;
    Some(ErrorInfo { kind, message: chain(e), problems, details })
}

/// The message of an error with its causes, `outer: inner: ...` (a cause
/// already in the message is not repeated).
fn chain(e: &(dyn StdError + 'static)) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = c.source();
    }
    s
}

type Classified = (ErrorKind, Vec<Problem>, ErrorDetails);

fn invalid(problems: Vec<Problem>) -> Option<Classified> {
    Some((ErrorKind::Invalid, problems, ErrorDetails::default()))
}

fn on_host(kind: ErrorKind, host: &str) -> Option<Classified> {
    Some((kind, Vec::new(), ErrorDetails { host: Some(host.to_string()), ..ErrorDetails::default() }))
}

fn with_host(c: Option<Classified>, host: &str) -> Option<Classified> {
    c.map(|(k, p, mut d)| {
        d.host.get_or_insert_with(|| host.to_string());
        (k, p, d)
    })
}

fn classify(e: &(dyn StdError + 'static)) -> Option<Classified> {
    use ErrorKind::{Other, Pki, Render};
    if let Some(e) = e.downcast_ref::<SpecError>() {
        return invalid(e.problems());
    }
    if let Some(p) = e.downcast_ref::<Problem>() {
        return invalid(vec![p.clone()]);
    }
    if let Some(t) = e.downcast_ref::<TransportError>() {
        return Some((ErrorKind::Host(FailureKind::of(t)), Vec::new(), transport_details(t)));
    }
    if let Some(e) = e.downcast_ref::<pki::Error>() {
        return pki_error(e);
    }
    if let Some(e) = e.downcast_ref::<render::Error>() {
        return match e {
            render::Error::Spec(s) => classify(s),
            render::Error::Etcd { host, source } => with_host(classify(source), host),
            render::Error::Flannel { host, source } => with_host(classify(source), host),
            render::Error::Docker { host, source } => with_host(classify(source), host),
            render::Error::HostPrep { host, source } => with_host(classify(source), host),
        };
    }
    if let Some(e) = e.downcast_ref::<etcd::Error>() {
        return match e {
            etcd::Error::Invalid(p) => invalid(p.clone()),
            etcd::Error::UnknownMember(name) => invalid(vec![Problem::new("name", name, "no etcd member has this name")]),
            etcd::Error::Template { .. } => Some((Render, Vec::new(), ErrorDetails::default())),
        };
    }
    if let Some(e) = e.downcast_ref::<etcd::upgrade::UpgradeError>() {
        use etcd::upgrade::UpgradeError as U;
        let (host, wanted) = match e {
            U::Jump { host, wanted, .. } | U::Downgrade { host, wanted, .. } | U::Major { host, wanted, .. } => (host, wanted),
        };
        return with_host(invalid(vec![Problem::new("versions.etcd", wanted, e.to_string())]), host);
    }
    if let Some(e) = e.downcast_ref::<flannel::Error>() {
        return match e {
            flannel::Error::Invalid(p) => invalid(p.clone()),
            flannel::Error::Template { .. } => Some((Render, Vec::new(), ErrorDetails::default())),
        };
    }
    if let Some(e) = e.downcast_ref::<docker::Error>() {
        return match e {
            docker::Error::Invalid(p) => invalid(p.clone()),
            docker::Error::Template { .. } => Some((Render, Vec::new(), ErrorDetails::default())),
        };
    }
    if let Some(hostprep::Error::Invalid(p)) = e.downcast_ref::<hostprep::Error>() {
        return invalid(p.clone());
    }
    if let Some(e) = e.downcast_ref::<apply::Error>() {
        return match e {
            apply::Error::Render(r) => classify(r),
            apply::Error::MissingCert { host, .. } => on_host(Pki, host),
            apply::Error::NoTransport { host } => on_host(Other, host),
        };
    }
    if let Some(e) = e.downcast_ref::<crate::adopt::AdoptError>() {
        use crate::adopt::AdoptError as A;
        let problem = |path: &str, value: &str| invalid(vec![Problem::new(path, value, e.to_string())]);
        return match e {
            A::Unreachable { host, .. } => on_host(ErrorKind::Host(FailureKind::Connect), host),
            A::File { host, .. } => on_host(ErrorKind::Host(FailureKind::Other), host),
            A::Nothing { host } | A::NotAMember { host, .. } => with_host(problem("hosts", host), host),
            A::CaDiffers { host, path, .. } => with_host(problem("hosts", path), host),
            A::MissingHost { name, .. } => problem("hosts", name),
            A::Versions { found } => problem("hosts", found),
            A::SpecExists { path } => problem("out", path),
            A::NoCaKey { .. } | A::CaKeyMismatch { .. } | A::OtherCa { .. } => Some((Pki, Vec::new(), ErrorDetails::default())),
            A::Local { .. } => Some((Other, Vec::new(), ErrorDetails::default())),
        };
    }
    if let Some(e) = e.downcast_ref::<OpenError>() {
        #[allow(unreachable_patterns)]
        return match e {
            OpenError::Pki { source, .. } => classify(source),
            OpenError::Releases(r) => classify(r),
            OpenError::Engine(e) => classify(e),
            #[cfg(feature = "ssh")]
            OpenError::SshConfig(e) => classify(e),
            _ => e.source().and_then(classify).or(Some((Other, Vec::new(), ErrorDetails::default()))),
        };
    }
    if let Some(e) = e.downcast_ref::<PkiDirError>() {
        #[allow(unreachable_patterns)]
        return match e {
            PkiDirError::Pki(p) => classify(p),
            PkiDirError::Transport(t) => classify(t),
            PkiDirError::Locked(l) => classify(l),
            _ => Some((Pki, Vec::new(), ErrorDetails::default())),
        };
    }
    if let Some(e) = e.downcast_ref::<ReleaseError>() {
        return match e {
            ReleaseError::Transport(t) => classify(t),
            ReleaseError::NotFound { field, path } => invalid(vec![Problem::new(field, path, "the file does not exist")]),
            ReleaseError::Checksum { field, got, expected, .. } => {
                invalid(vec![Problem::new(field, got, format!("sha256 differs from the spec's {expected}"))])
            }
            ReleaseError::Archive { field, source_name, reason } => invalid(vec![Problem::new(field, source_name, reason.clone())]),
        };
    }
    #[cfg(feature = "ssh")]
    if let Some(e) = e.downcast_ref::<crate::transport::SshConfigError>() {
        use crate::transport::SshConfigError as E;
        #[allow(unreachable_patterns)]
        return match e {
            E::Read { file, reason } => invalid(vec![Problem::new("ssh_config", file.display(), reason.clone())]),
            E::Line { file, line, keyword, value, problem } => invalid(vec![Problem::new(
                "ssh_config",
                format!("{keyword} {value}"),
                format!("{} line {line}: {problem}", file.display()),
            )]),
            E::Override { name, value, problem } => invalid(vec![Problem::new(name, value, problem.clone())]),
            _ => invalid(vec![Problem::new("ssh_config", "", e.to_string())]),
        };
    }
    if let Some(e) = e.downcast_ref::<apply::LockError>() {
        #[allow(unreachable_patterns)]
        return match e {
            apply::LockError::Held { .. } => Some((ErrorKind::Locked, Vec::new(), ErrorDetails::default())),
            _ => on_host(ErrorKind::Host(FailureKind::Transfer), "localhost"),
        };
    }
    if let Some(e) = e.downcast_ref::<RestoreError>() {
        #[allow(unreachable_patterns)]
        return match e {
            RestoreError::Read { path, source } => invalid(vec![Problem::new("from", path, source.to_string())]),
            RestoreError::NoMember => invalid(vec![Problem::new("hosts", "", "no host has the etcd role")]),
            RestoreError::NotASnapshot { path, reason, .. } => invalid(vec![Problem::new("from", path, format!("not an etcd snapshot: {reason}"))]),
            RestoreError::Unreachable { hosts } => on_host(ErrorKind::Host(FailureKind::Connect), hosts.first().map_or("", String::as_str)),
            RestoreError::Locked(_) => Some((ErrorKind::Locked, Vec::new(), ErrorDetails::default())),
            RestoreError::Step { source, host, .. } => with_host(classify(source), host),
            _ => Some((ErrorKind::Other, Vec::new(), ErrorDetails::default())),
        };
    }
    if let Some(e) = e.downcast_ref::<SnapshotError>() {
        return match e {
            SnapshotError::NoMember => invalid(vec![Problem::new("hosts", "", "no host has the etcd role")]),
            SnapshotError::AllFailed(v) => v.first().and_then(|t| classify(t)).or(Some((Other, Vec::new(), ErrorDetails::default()))),
            SnapshotError::Status { host, .. } => on_host(ErrorKind::Host(FailureKind::Command), host),
            SnapshotError::Write(t) => classify(t),
        };
    }
    None
}

fn pki_error(e: &pki::Error) -> Option<Classified> {
    use pki::Error as E;
    #[allow(unreachable_patterns)]
    match e {
        E::InvalidField { field, value, reason } => invalid(vec![Problem::new(field, value, reason.clone())]),
        E::BadPem { path, expected, reason } => invalid(vec![Problem::new(path, "", format!("not a valid {expected}: {reason}"))]),
        E::NotACa { path } => invalid(vec![Problem::new(path, "", "certificate is not a CA (basicConstraints CA:TRUE missing)")]),
        E::CaKeyMismatch { key_path, cert_path } => invalid(vec![Problem::new(key_path, "", format!("does not match CA certificate {cert_path}"))]),
        E::Cfssl { file, field, reason } => invalid(vec![Problem::new(format!("{file}:{field}"), "", reason.clone())]),
        // CaExpiring, CaKeyAbsent, Crypto
        _ => Some((ErrorKind::Pki, Vec::new(), ErrorDetails::default())),
    }
}

fn transport_details(e: &TransportError) -> ErrorDetails {
    let s = |v: &String| Some(v.clone());
    let d = ErrorDetails::default();
    #[allow(unreachable_patterns)]
    match e {
        TransportError::Connect { host, reason } | TransportError::Ssh { host, reason } => {
            ErrorDetails { host: s(host), reason: s(reason), ..d }
        }
        TransportError::ConnectTimeout { host, timeout } => {
            ErrorDetails { host: s(host), reason: Some("connect timed out".into()), timeout: Some(timeout.as_secs_f64()), ..d }
        }
        TransportError::Auth { host, user, tried } => ErrorDetails { host: s(host), user: s(user), tried: s(tried), ..d },
        TransportError::HostKeyUnknown { host, fingerprint, known_hosts, .. } => {
            ErrorDetails { host: s(host), fingerprint: s(fingerprint), known_hosts: Some(known_hosts.display().to_string()), ..d }
        }
        TransportError::HostKeyMismatch { host, fingerprint, expected } => {
            ErrorDetails { host: s(host), fingerprint: s(fingerprint), expected: s(expected), ..d }
        }
        TransportError::HostKeyRejected { host, fingerprint, reason } => {
            ErrorDetails { host: s(host), fingerprint: s(fingerprint), reason: s(reason), ..d }
        }
        TransportError::CommandFailed { host, command, code, stderr_tail } => {
            ErrorDetails { host: s(host), command: s(command), exit_code: *code, stderr: s(stderr_tail), ..d }
        }
        TransportError::Timeout { host, command, timeout } => {
            ErrorDetails { host: s(host), command: s(command), stderr: Some(String::new()), timeout: Some(timeout.as_secs_f64()), ..d }
        }
        TransportError::Transfer { host, .. } | TransportError::Io { host, .. } => ErrorDetails { host: s(host), ..d },
        // InvalidInput, and variants with no facts beyond their message.
        _ => d,
    }
}
