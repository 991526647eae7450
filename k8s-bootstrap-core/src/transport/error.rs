//! Classified transport errors, each with the host (and command or path) in it.

use std::path::PathBuf;
use std::time::Duration;

use super::{Command, Output};

/// `Result` with [`TransportError`].
///
/// ```
/// use k8s_bootstrap_core::transport::{self, Command, LocalTransport, Transport};
/// async fn kernel(t: &dyn Transport) -> transport::Result<String> {
///     Ok(t.run_ok(&Command::new(["uname", "-r"])).await?.stdout_str().trim().to_string())
/// }
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// assert!(!kernel(&LocalTransport::new()).await.unwrap().is_empty());
/// # });
/// ```
pub type Result<T, E = TransportError> = std::result::Result<T, E>;

/// What went wrong acting on a host. Every variant names the host.
///
/// ```no_run
/// use k8s_bootstrap_core::transport::{SshConfig, SshTransport, TransportError};
/// # async fn demo() {
/// match SshTransport::connect(SshConfig::new("10.77.0.11")).await {
///     Err(TransportError::HostKeyUnknown { fingerprint, .. }) => eprintln!("verify {fingerprint}"),
///     Err(e) if e.is_retryable() => eprintln!("try again later: {e}"),
///     Err(e) => eprintln!("{e}"),
///     Ok(_) => {}
/// }
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// TCP/SSH connection could not be established.
    #[error("{host}: connect failed: {reason}")]
    Connect {
        /// Host.
        host: String,
        /// Cause.
        reason: String,
    },
    /// No connection within the connect timeout.
    #[error("{host}: connect timed out after {timeout:?}")]
    ConnectTimeout {
        /// Host.
        host: String,
        /// The configured timeout.
        timeout: Duration,
    },
    /// No offered key (files, agent) was accepted.
    #[error("{host}: authentication failed for user {user:?} (tried: {tried})")]
    Auth {
        /// Host.
        host: String,
        /// Remote user.
        user: String,
        /// What was tried (key file paths, agent key comments); never secrets.
        tried: String,
    },
    /// The host key is not in known_hosts (strict mode).
    #[error(
        "{host}: host key unknown ({fingerprint}, not in {known_hosts}); to accept it, verify the \
         fingerprint out of band and then run `ssh-keyscan -p {port} {addr} >> {known_hosts}`, \
         pin it (HostKeyCheck::Pinned(\"{fingerprint}\")), or use HostKeyCheck::AcceptNew"
    )]
    HostKeyUnknown {
        /// Host.
        host: String,
        /// Address used for known_hosts lookup.
        addr: String,
        /// SSH port.
        port: u16,
        /// SHA256 fingerprint of the offered key (`SHA256:...`).
        fingerprint: String,
        /// known_hosts file consulted.
        known_hosts: PathBuf,
    },
    /// The host key differs from the recorded or pinned one. Never retried.
    #[error(
        "{host}: HOST KEY MISMATCH: the host offered {fingerprint} but {expected}; possible \
         man-in-the-middle, or the host was rebuilt: if so, remove the old entry (`ssh-keygen -R` \
         on the known_hosts file) or update the pinned fingerprint"
    )]
    HostKeyMismatch {
        /// Host.
        host: String,
        /// SHA256 fingerprint the host offered.
        fingerprint: String,
        /// What was expected (known_hosts line or pinned fingerprint).
        expected: String,
    },
    /// The host key is refused whatever else known_hosts says: it (or the
    /// CA of the host certificate it came in) is marked `@revoked`, or the
    /// host presented a certificate that its `@cert-authority` line does not
    /// vouch for (wrong CA, expired, not valid for this host, a user
    /// certificate). Never retried.
    ///
    /// ```
    /// use k8s_bootstrap_core::apply::FailureKind;
    /// use k8s_bootstrap_core::transport::TransportError;
    /// let e = TransportError::HostKeyRejected {
    ///     host: "10.77.0.12".into(),
    ///     fingerprint: "SHA256:Zm9vYmFy".into(),
    ///     reason: "the key is marked @revoked in /root/.ssh/known_hosts line 4".into(),
    /// };
    /// assert_eq!(e.to_string(), "10.77.0.12: host key SHA256:Zm9vYmFy refused: the key is marked @revoked in /root/.ssh/known_hosts line 4");
    /// assert!(!e.is_retryable());
    /// assert_eq!(FailureKind::of(&e), FailureKind::HostKey);
    /// ```
    #[error("{host}: host key {fingerprint} refused: {reason}")]
    HostKeyRejected {
        /// Host.
        host: String,
        /// SHA256 fingerprint of the key the host offered (of the key inside its certificate).
        fingerprint: String,
        /// Why, with the known_hosts file and line.
        reason: String,
    },
    /// A command exited non-zero (from [`Transport::run_ok`](super::Transport::run_ok)).
    #[error("{host}: `{command}` failed with exit code {code:?}: {stderr_tail}")]
    CommandFailed {
        /// Host.
        host: String,
        /// The command (redacted rendering).
        command: String,
        /// Exit code (`None`: killed by a signal).
        code: Option<u32>,
        /// Last lines of stderr.
        stderr_tail: String,
    },
    /// A command did not finish in time and was killed.
    #[error("{host}: `{command}` timed out after {timeout:?}")]
    Timeout {
        /// Host.
        host: String,
        /// The command (redacted rendering).
        command: String,
        /// The configured timeout.
        timeout: Duration,
    },
    /// A file transfer failed; the old file (if any) is intact.
    #[error("{host}: transfer to {path} failed: {reason}")]
    Transfer {
        /// Host.
        host: String,
        /// Target path.
        path: String,
        /// Cause.
        reason: String,
    },
    /// A local or channel I/O error.
    #[error("{host}: {context}: {source}")]
    Io {
        /// Host.
        host: String,
        /// What was being done.
        context: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The SSH session failed after connecting (protocol error, connection lost).
    #[error("{host}: ssh: {reason}")]
    Ssh {
        /// Host.
        host: String,
        /// Cause.
        reason: String,
    },
    /// A key or option given to the transport is unusable.
    #[error("invalid input: {reason}")]
    InvalidInput {
        /// Cause.
        reason: String,
    },
}

impl TransportError {
    /// Whether retrying may help (connection problems and timeouts). Host key
    /// and authentication errors are never retryable.
    ///
    /// ```
    /// use k8s_bootstrap_core::transport::{Command, LocalTransport, Transport, TransportError};
    /// let refused = TransportError::Connect { host: "192.168.1.30".into(), reason: "connection refused".into() };
    /// assert!(refused.is_retryable());
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// // A command that ran and failed will fail again: not retryable.
    /// let err = LocalTransport::new().run_ok(&Command::shell("echo 'etcd: no such unit' >&2; exit 3")).await.unwrap_err();
    /// assert!(matches!(&err, TransportError::CommandFailed { code: Some(3), stderr_tail, .. } if stderr_tail == "etcd: no such unit"));
    /// assert!(!err.is_retryable());
    /// # });
    /// ```
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Connect { .. }
                | Self::ConnectTimeout { .. }
                | Self::Ssh { .. }
                | Self::Timeout { .. }
        )
    }

    /// A copy of this error. An I/O cause keeps its kind and message (an
    /// `std::io::Error` cannot be cloned); every other variant is copied as is.
    ///
    /// ```
    /// use k8s_bootstrap_core::transport::{LocalTransport, Transport, TransportError};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let dir = tempfile::tempdir().unwrap();
    /// std::fs::create_dir(dir.path().join("cfg")).unwrap();
    /// let err = LocalTransport::rooted(dir.path()).read_file("/cfg").await.unwrap_err(); // a directory
    /// let copy = err.duplicate();
    /// assert!(matches!(copy, TransportError::Io { .. }));
    /// assert_eq!(copy.to_string(), err.to_string());
    /// # });
    /// ```
    pub fn duplicate(&self) -> Self {
        match self {
            Self::Connect { host, reason } => Self::Connect { host: host.clone(), reason: reason.clone() },
            Self::ConnectTimeout { host, timeout } => Self::ConnectTimeout { host: host.clone(), timeout: *timeout },
            Self::Auth { host, user, tried } => Self::Auth { host: host.clone(), user: user.clone(), tried: tried.clone() },
            Self::HostKeyUnknown { host, addr, port, fingerprint, known_hosts } => Self::HostKeyUnknown {
                host: host.clone(),
                addr: addr.clone(),
                port: *port,
                fingerprint: fingerprint.clone(),
                known_hosts: known_hosts.clone(),
            },
            Self::HostKeyMismatch { host, fingerprint, expected } => {
                Self::HostKeyMismatch { host: host.clone(), fingerprint: fingerprint.clone(), expected: expected.clone() }
            }
            Self::HostKeyRejected { host, fingerprint, reason } => {
                Self::HostKeyRejected { host: host.clone(), fingerprint: fingerprint.clone(), reason: reason.clone() }
            }
            Self::CommandFailed { host, command, code, stderr_tail } => Self::CommandFailed {
                host: host.clone(),
                command: command.clone(),
                code: *code,
                stderr_tail: stderr_tail.clone(),
            },
            Self::Timeout { host, command, timeout } => {
                Self::Timeout { host: host.clone(), command: command.clone(), timeout: *timeout }
            }
            Self::Transfer { host, path, reason } => Self::Transfer { host: host.clone(), path: path.clone(), reason: reason.clone() },
            Self::Io { host, context, source } => Self::Io {
                host: host.clone(),
                context: context.clone(),
                source: std::io::Error::new(source.kind(), source.to_string()),
            },
            Self::Ssh { host, reason } => Self::Ssh { host: host.clone(), reason: reason.clone() },
            Self::InvalidInput { reason } => Self::InvalidInput { reason: reason.clone() },
        }
    }

    pub(crate) fn command_failed(host: &str, cmd: &Command, out: &Output) -> Self {
        Self::CommandFailed {
            host: host.to_string(),
            command: cmd.to_string(),
            code: out.exit_code,
            stderr_tail: tail(&out.stderr),
        }
    }

    pub(crate) fn io(host: &str, context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            host: host.to_string(),
            context: context.into(),
            source,
        }
    }
}

/// The last 10 lines (at most 2000 bytes) of a byte stream, lossy UTF-8.
pub(crate) fn tail(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = s.trim_end().lines().collect();
    let start = lines.len().saturating_sub(10);
    let mut t = lines[start..].join("\n");
    if t.len() > 2000 {
        let mut cut = t.len() - 2000;
        while !t.is_char_boundary(cut) {
            cut += 1;
        }
        t = t[cut..].to_string();
    }
    t
}
