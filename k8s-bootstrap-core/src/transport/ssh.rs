//! [`SshTransport`]: a host over SSH (russh), one connection reused for many
//! concurrent commands, each served by a long-lived remote shell on one of a
//! few session channels; file operations built on those commands (no SFTP
//! needed).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use russh::client::{self, Handle};
use russh::keys::{self, Algorithm, PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate};

use crate::shell::shell_quote as quote;

use super::known_hosts::{self, KnownHosts, Verdict};
use super::ssh_session::{self as session, Body, Reply, Session};
use super::{
    Command, FileSource, FileStat, Output, PutOptions, PutOutcome, Result, Transport,
    TransportError, script,
};

/// How the host key of the server is checked.
///
/// ```
/// use k8s_bootstrap_core::transport::{HostKeyCheck, SshConfig};
/// let pinned = SshConfig::new("10.77.0.11")
///     .host_key_check(HostKeyCheck::Pinned("SHA256:thrKgDEHhpIztuM39PM3KfKOuoSRDPC+xeut9MAYpas".into()));
/// assert_eq!(SshConfig::new("h").host_key_check, HostKeyCheck::Strict);
/// # let _ = pinned;
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum HostKeyCheck {
    /// The key must be in known_hosts; unknown or changed keys are errors
    /// that show the fingerprint and how to accept it. The default.
    #[default]
    Strict,
    /// Trust on first use: an unknown key is appended to known_hosts; a
    /// changed key is still an error.
    AcceptNew,
    /// The key's SHA256 fingerprint must equal this (`SHA256:...` as printed
    /// by `ssh-keygen -lf`); known_hosts is not consulted.
    Pinned(String),
    /// No check at all. Only by explicit choice of a program built on this
    /// library: every connect prints a warning on stderr. A cluster spec and
    /// an ssh_config file can never ask for it.
    Off,
}

/// Where and how to connect. OpenSSH conventions by default: user `root`,
/// port 22, keys `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa` (those present)
/// plus ssh-agent (if `SSH_AUTH_SOCK` is set), host keys from
/// `~/.ssh/known_hosts` (and the global `/etc/ssh/ssh_known_hosts`) checked
/// strictly, connect timeout 10 s, keepalive 15 s. To read these settings
/// from an OpenSSH config file, see [`SshConfigFile`](super::SshConfigFile).
///
/// known_hosts files are read as OpenSSH reads them: host patterns with
/// wildcards and `!`, `[host]:port` entries, hashed entries, `@revoked`
/// (the key is refused) and `@cert-authority` (host certificates signed by
/// that CA are accepted for the matching hosts, after checking signature,
/// validity, principals and type; a certificate is never taken for the
/// plain key inside it).
///
/// ```
/// use k8s_bootstrap_core::transport::{HostKeyCheck, SshConfig};
/// use std::time::Duration;
/// let cfg = SshConfig::new("10.77.0.11")
///     .user("deploy")
///     .identity_file("/home/me/.ssh/deploy_ed25519")
///     .host_key_check(HostKeyCheck::AcceptNew)
///     .connect_timeout(Duration::from_secs(5));
/// assert_eq!(cfg.port, 22);
/// assert!(cfg.uses_sudo()); // non-root users run everything via `sudo -n`
/// ```
#[derive(Clone)]
pub struct SshConfig {
    /// Host name or address (also the known_hosts lookup name).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Remote user.
    pub user: String,
    /// Private key files to try, in order; empty means the OpenSSH defaults.
    pub identity_files: Vec<PathBuf>,
    passphrase: Option<String>,
    /// Try the keys of the ssh-agent first.
    pub use_agent: bool,
    /// Like OpenSSH `IdentitiesOnly`: of the agent's keys, only those of
    /// the identity files are offered.
    pub identities_only: bool,
    /// The agent's socket; `None` means `$SSH_AUTH_SOCK`.
    pub agent_socket: Option<PathBuf>,
    /// known_hosts file, the one [`HostKeyCheck::AcceptNew`] records new keys
    /// in; `None` means `~/.ssh/known_hosts`.
    pub known_hosts: Option<PathBuf>,
    /// Further known_hosts files, read but never written (the other files of
    /// `UserKnownHostsFile`, `GlobalKnownHostsFile`); missing files are
    /// skipped. Default `/etc/ssh/ssh_known_hosts`, `/etc/ssh/ssh_known_hosts2`.
    pub extra_known_hosts: Vec<PathBuf>,
    /// Host key checking mode.
    pub host_key_check: HostKeyCheck,
    /// Limit for TCP connect + SSH handshake, and again for authentication.
    pub connect_timeout: Duration,
    /// Keepalive interval (`None`: off).
    pub keepalive: Option<Duration>,
    /// Wrap every command in `sudo -n`; `None`: when the user is not root.
    pub sudo: Option<bool>,
    /// One jump host to connect through (like OpenSSH `ProxyJump`).
    pub proxy_jump: Option<Box<SshConfig>>,
    /// Extra connect attempts after a retryable failure (connect refused or
    /// timed out), 1 s apart. Host key and authentication errors are never retried.
    pub connect_retries: u32,
}

/// Never prints the passphrase.
impl std::fmt::Debug for SshConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("identity_files", &self.identity_files)
            .field("passphrase", &self.passphrase.as_ref().map(|_| "***"))
            .field("use_agent", &self.use_agent)
            .field("identities_only", &self.identities_only)
            .field("agent_socket", &self.agent_socket)
            .field("known_hosts", &self.known_hosts)
            .field("extra_known_hosts", &self.extra_known_hosts)
            .field("host_key_check", &self.host_key_check)
            .field("connect_timeout", &self.connect_timeout)
            .field("keepalive", &self.keepalive)
            .field("sudo", &self.sudo)
            .field("proxy_jump", &self.proxy_jump)
            .field("connect_retries", &self.connect_retries)
            .finish()
    }
}

impl SshConfig {
    /// How long a connect may take unless told otherwise (10 s): the
    /// default of [`SshConfig::new`], of the apply engine's connect
    /// options, and so of the CLI and Python.
    ///
    /// ```
    /// use std::time::Duration;
    /// use k8s_bootstrap_core::transport::SshConfig;
    /// assert_eq!(SshConfig::new("etcd01").connect_timeout, SshConfig::DEFAULT_CONNECT_TIMEOUT);
    /// assert_eq!(SshConfig::DEFAULT_CONNECT_TIMEOUT, Duration::from_secs(10));
    /// ```
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

    /// Defaults for `host` (see the type docs).
    ///
    /// ```
    /// use k8s_bootstrap_core::transport::SshConfig;
    ///
    /// let cfg = SshConfig::new("192.168.1.30");
    /// assert_eq!((cfg.user.as_str(), cfg.port, cfg.connect_retries), ("root", 22, 0));
    /// assert!(cfg.use_agent && cfg.identity_files.is_empty()); // agent + OpenSSH default keys
    /// ```
    pub fn new(host: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            port: 22,
            user: "root".into(),
            identity_files: Vec::new(),
            passphrase: None,
            use_agent: true,
            identities_only: false,
            agent_socket: None,
            known_hosts: None,
            extra_known_hosts: GLOBAL_KNOWN_HOSTS.iter().map(PathBuf::from).collect(),
            host_key_check: HostKeyCheck::Strict,
            connect_timeout: Self::DEFAULT_CONNECT_TIMEOUT,
            keepalive: Some(Duration::from_secs(15)),
            sudo: None,
            proxy_jump: None,
            connect_retries: 0,
        }
    }

    /// Sets the port.
    ///
    /// ```
    /// use k8s_bootstrap_core::transport::SshConfig;
    ///
    /// assert_eq!(SshConfig::new("192.168.1.30").port(2222).port, 2222);
    /// ```
    #[must_use]
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Sets the remote user.
    ///
    /// ```
    /// use k8s_bootstrap_core::transport::SshConfig;
    ///
    /// let cfg = SshConfig::new("192.168.1.30").user("vagrant");
    /// assert_eq!(cfg.user, "vagrant");
    /// assert!(cfg.uses_sudo()); // not root: commands run under `sudo -n`
    /// ```
    #[must_use]
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = user.into();
        self
    }

    /// Adds a private key file (replaces the OpenSSH default list).
    ///
    /// ```
    /// use k8s_bootstrap_core::transport::SshConfig;
    ///
    /// let cfg = SshConfig::new("192.168.1.30")
    ///     .identity_file("/home/me/.ssh/etcd_ed25519")
    ///     .identity_file("/home/me/.ssh/id_rsa");
    /// assert_eq!(cfg.identity_files.len(), 2); // tried in this order
    /// assert!(cfg.identity_files[0].ends_with("etcd_ed25519"));
    /// ```
    #[must_use]
    pub fn identity_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.identity_files.push(path.into());
        self
    }

    /// Passphrase for encrypted key files (never logged).
    ///
    /// ```
    /// use k8s_bootstrap_core::transport::SshConfig;
    ///
    /// let cfg = SshConfig::new("192.168.1.30").identity_file("/home/me/.ssh/id_ed25519").passphrase("s3cret");
    /// let shown = format!("{cfg:?}");
    /// assert!(shown.contains(r#"passphrase: Some("***")"#) && !shown.contains("s3cret"));
    /// ```
    #[must_use]
    pub fn passphrase(mut self, passphrase: impl Into<String>) -> Self {
        self.passphrase = Some(passphrase.into());
        self
    }

    /// Whether to use the ssh-agent at `SSH_AUTH_SOCK`.
    ///
    /// ```
    /// use k8s_bootstrap_core::transport::SshConfig;
    ///
    /// assert!(!SshConfig::new("192.168.1.30").use_agent(false).use_agent);
    /// ```
    #[must_use]
    pub fn use_agent(mut self, yes: bool) -> Self {
        self.use_agent = yes;
        self
    }

    /// Uses the ssh-agent listening on this socket (instead of `$SSH_AUTH_SOCK`).
    ///
    /// ```
    /// use k8s_bootstrap_core::transport::SshConfig;
    ///
    /// let cfg = SshConfig::new("192.168.1.30").use_agent(false).agent_socket("/run/user/1000/ssh-agent.sock");
    /// assert!(cfg.use_agent); // naming a socket turns the agent back on
    /// assert_eq!(cfg.agent_socket.unwrap().to_str(), Some("/run/user/1000/ssh-agent.sock"));
    /// ```
    #[must_use]
    pub fn agent_socket(mut self, path: impl Into<PathBuf>) -> Self {
        self.agent_socket = Some(path.into());
        self.use_agent = true;
        self
    }

    /// Sets the known_hosts file.
    ///
    /// ```
    /// use k8s_bootstrap_core::transport::SshConfig;
    ///
    /// let cfg = SshConfig::new("192.168.1.30").known_hosts("/etc/k8s-bootstrap/known_hosts");
    /// assert_eq!(cfg.known_hosts.unwrap().to_str(), Some("/etc/k8s-bootstrap/known_hosts"));
    /// ```
    #[must_use]
    pub fn known_hosts(mut self, path: impl Into<PathBuf>) -> Self {
        self.known_hosts = Some(path.into());
        self
    }

    /// Sets the further known_hosts files that are read (replacing the
    /// global ones; an empty list reads only [`SshConfig::known_hosts`]).
    ///
    /// ```
    /// use k8s_bootstrap_core::transport::SshConfig;
    ///
    /// assert_eq!(SshConfig::new("192.168.1.30").extra_known_hosts[0].to_str(), Some("/etc/ssh/ssh_known_hosts"));
    /// let cfg = SshConfig::new("192.168.1.30").extra_known_hosts(["/etc/k8s-bootstrap/ca_known_hosts"]);
    /// assert_eq!(cfg.extra_known_hosts.len(), 1);
    /// ```
    #[must_use]
    pub fn extra_known_hosts<I, P>(mut self, files: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<PathBuf>,
    {
        self.extra_known_hosts = files.into_iter().map(Into::into).collect();
        self
    }

    /// Offers, of the agent's keys, only those of the identity files
    /// (OpenSSH `IdentitiesOnly`).
    ///
    /// ```
    /// use k8s_bootstrap_core::transport::SshConfig;
    ///
    /// let cfg = SshConfig::new("192.168.1.30").identity_file("/home/me/.ssh/etcd_ed25519").identities_only(true);
    /// assert!(cfg.identities_only && cfg.use_agent); // the agent may still sign with that key
    /// ```
    #[must_use]
    pub fn identities_only(mut self, yes: bool) -> Self {
        self.identities_only = yes;
        self
    }

    /// Sets the host key checking mode.
    ///
    /// ```
    /// use k8s_bootstrap_core::transport::{HostKeyCheck, SshConfig};
    /// let cfg = SshConfig::new("192.168.1.30").host_key_check(HostKeyCheck::AcceptNew);
    /// assert_eq!(cfg.host_key_check, HostKeyCheck::AcceptNew);
    /// ```
    #[must_use]
    pub fn host_key_check(mut self, check: HostKeyCheck) -> Self {
        self.host_key_check = check;
        self
    }

    /// Sets the connect (TCP + handshake) timeout.
    ///
    /// ```
    /// use k8s_bootstrap_core::transport::SshConfig;
    ///
    /// use std::time::Duration;
    /// let cfg = SshConfig::new("192.168.1.30").connect_timeout(Duration::from_secs(3));
    /// assert_eq!(cfg.connect_timeout.as_secs(), 3);
    /// ```
    #[must_use]
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }

    /// Sets the keepalive interval.
    ///
    /// ```
    /// use k8s_bootstrap_core::transport::SshConfig;
    ///
    /// use std::time::Duration;
    /// assert_eq!(SshConfig::new("192.168.1.30").keepalive, Some(Duration::from_secs(15)));
    /// assert_eq!(SshConfig::new("192.168.1.30").keepalive(None).keepalive, None);
    /// ```
    #[must_use]
    pub fn keepalive(mut self, d: Option<Duration>) -> Self {
        self.keepalive = d;
        self
    }

    /// Forces `sudo -n` on or off.
    ///
    /// ```
    /// use k8s_bootstrap_core::transport::SshConfig;
    ///
    /// // A non-root user that may write the target directories itself.
    /// assert!(!SshConfig::new("192.168.1.30").user("deploy").sudo(false).uses_sudo());
    /// assert!(SshConfig::new("192.168.1.30").sudo(true).uses_sudo()); // even as root
    /// ```
    #[must_use]
    pub fn sudo(mut self, yes: bool) -> Self {
        self.sudo = Some(yes);
        self
    }

    /// Connects through this jump host.
    ///
    /// ```
    /// use k8s_bootstrap_core::transport::SshConfig;
    ///
    /// let cfg = SshConfig::new("192.168.1.30").proxy_jump(SshConfig::new("bastion.example.com").user("jump"));
    /// let jump = cfg.proxy_jump.as_deref().unwrap();
    /// assert_eq!((jump.host.as_str(), jump.user.as_str()), ("bastion.example.com", "jump"));
    /// ```
    #[must_use]
    pub fn proxy_jump(mut self, jump: SshConfig) -> Self {
        self.proxy_jump = Some(Box::new(jump));
        self
    }

    /// Sets the number of extra connect attempts for retryable failures.
    ///
    /// ```
    /// use k8s_bootstrap_core::transport::SshConfig;
    ///
    /// assert_eq!(SshConfig::new("192.168.1.30").connect_retries(3).connect_retries, 3);
    /// ```
    #[must_use]
    pub fn connect_retries(mut self, n: u32) -> Self {
        self.connect_retries = n;
        self
    }

    /// Whether commands are wrapped in `sudo -n`.
    ///
    /// ```
    /// use k8s_bootstrap_core::transport::SshConfig;
    ///
    /// assert!(!SshConfig::new("192.168.1.30").uses_sudo()); // root
    /// assert!(SshConfig::new("192.168.1.30").user("vagrant").uses_sudo());
    /// ```
    pub fn uses_sudo(&self) -> bool {
        self.sudo.unwrap_or(self.user != "root")
    }

    fn known_hosts_path(&self) -> PathBuf {
        self.known_hosts
            .clone()
            .unwrap_or_else(|| home().join(".ssh").join("known_hosts"))
    }

    /// Every known_hosts file read: the main one, then the extra ones.
    fn known_hosts_files(&self) -> Vec<PathBuf> {
        let mut files = vec![self.known_hosts_path()];
        files.extend(self.extra_known_hosts.iter().cloned());
        files
    }

    fn key_files(&self) -> Vec<PathBuf> {
        if !self.identity_files.is_empty() {
            return self.identity_files.clone();
        }
        ["id_ed25519", "id_ecdsa", "id_rsa"]
            .iter()
            .map(|n| home().join(".ssh").join(n))
            .filter(|p| p.exists())
            .collect()
    }
}

/// OpenSSH's default `GlobalKnownHostsFile`.
const GLOBAL_KNOWN_HOSTS: [&str; 2] = ["/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"];

fn home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/root"))
}

/// Checks the server's host key during the handshake (before authentication).
struct Client {
    host: String,
    port: u16,
    check: HostKeyCheck,
    known: Arc<KnownHosts>,
    /// Where accept-new records keys (the first known_hosts file).
    known_hosts: PathBuf,
    rejected: Arc<Mutex<Option<TransportError>>>,
}

impl Client {
    fn rejected(&self, fingerprint: &str, reason: String) -> TransportError {
        TransportError::HostKeyRejected { host: self.host.clone(), fingerprint: fingerprint.to_string(), reason }
    }

    fn verdict(&self, key: &PublicKeyOrCertificate) -> std::result::Result<(), TransportError> {
        let (data, cert) = match key {
            PublicKeyOrCertificate::PublicKey { key, .. } => (key.key_data().clone(), None),
            PublicKeyOrCertificate::Certificate(c) => (c.public_key().clone(), Some(c)),
        };
        let fingerprint = known_hosts::fingerprint(&data);
        let mismatch = |expected: String| TransportError::HostKeyMismatch {
            host: self.host.clone(),
            fingerprint: fingerprint.clone(),
            expected,
        };
        let name = known_hosts::lookup_name(&self.host, self.port);
        match (&self.check, cert) {
            (HostKeyCheck::Off, _) => {
                tracing::warn!(host = %self.host, %fingerprint, "host key checking is OFF: accepting any key");
                Ok(())
            }
            (HostKeyCheck::Pinned(want), None) => {
                if want.trim() == fingerprint {
                    Ok(())
                } else {
                    Err(mismatch(format!("the pinned fingerprint is {want}")))
                }
            }
            (HostKeyCheck::Pinned(_), Some(_)) => Err(self.rejected(
                &fingerprint,
                "it is a host certificate, and a pinned fingerprint is checked against plain keys only".into(),
            )),
            (HostKeyCheck::Strict | HostKeyCheck::AcceptNew, Some(cert)) => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0);
                match self.known.check_certificate(&name, &self.host, cert, now) {
                    Verdict::Known { at } => {
                        tracing::debug!(host = %self.host, %fingerprint, ca = %at, "host certificate accepted");
                        Ok(())
                    }
                    Verdict::Revoked { at } => Err(self.rejected(&fingerprint, format!("its certificate or CA is marked @revoked in {at}"))),
                    Verdict::BadCertificate(why) => Err(self.rejected(
                        &fingerprint,
                        format!(
                            "the host presented a certificate and {why}; a certificate is never accepted as the plain key it \
                             contains: fix the certificate or the @cert-authority line, or remove the @cert-authority line \
                             for this host so that its plain key is checked"
                        ),
                    )),
                    other => Err(self.rejected(&fingerprint, format!("unexpected verdict for a certificate: {other:?}"))),
                }
            }
            (HostKeyCheck::Strict | HostKeyCheck::AcceptNew, None) => match self.known.check_key(&name, &data) {
                Verdict::Known { at } => {
                    tracing::debug!(host = %self.host, %fingerprint, entry = %at, "host key known");
                    Ok(())
                }
                Verdict::Revoked { at } => Err(self.rejected(&fingerprint, format!("the key is marked @revoked in {at}"))),
                Verdict::Changed { at } => Err(mismatch(format!("{at} records a different key"))),
                Verdict::Unknown { .. } if self.check == HostKeyCheck::AcceptNew => {
                    known_hosts::append(&self.known_hosts, &self.host, self.port, &data).map_err(|e| TransportError::Connect {
                        host: self.host.clone(),
                        reason: format!("cannot record host key in {}: {e}", self.known_hosts.display()),
                    })?;
                    tracing::info!(host = %self.host, %fingerprint, file = %self.known_hosts.display(), "recorded new host key");
                    Ok(())
                }
                Verdict::Unknown { other_types, cert_authority } => {
                    if !other_types.is_empty() || cert_authority {
                        tracing::warn!(host = %self.host, %fingerprint, ?other_types, cert_authority, "host key unknown, but the host has other entries");
                    }
                    Err(TransportError::HostKeyUnknown {
                        host: self.host.clone(),
                        addr: self.host.clone(),
                        port: self.port,
                        fingerprint,
                        known_hosts: self.known_hosts.clone(),
                    })
                }
                Verdict::BadCertificate(why) => Err(self.rejected(&fingerprint, why)),
            },
        }
    }
}

impl client::Handler for Client {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> std::result::Result<bool, Self::Error> {
        match self.verdict(key) {
            Ok(()) => Ok(true),
            Err(e) => {
                if let Ok(mut r) = self.rejected.lock() {
                    *r = Some(e);
                }
                Ok(false)
            }
        }
    }
}

/// russh's cipher order, with AES-256-GCM first where this CPU has AES
/// instructions (and carry-less multiply, for GHASH): both it and
/// chacha20-poly1305 are AEADs with 256-bit keys, and with those
/// instructions AES-GCM costs both ends (russh's aws-lc and sshd's
/// OpenSSL) several times less CPU per byte, which is what an apply that
/// sends ~100 MB of binaries per host spends. Elsewhere the order stays.
fn cipher_order(default: &[russh::cipher::Name]) -> Vec<russh::cipher::Name> {
    #[cfg(target_arch = "x86_64")]
    let fast_aes = std::arch::is_x86_feature_detected!("aes") && std::arch::is_x86_feature_detected!("pclmulqdq");
    #[cfg(target_arch = "aarch64")]
    let fast_aes = std::arch::is_aarch64_feature_detected!("aes") && std::arch::is_aarch64_feature_detected!("pmull");
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    let fast_aes = false;
    let mut order = default.to_vec();
    if fast_aes && let Some(i) = order.iter().position(|c| *c == russh::cipher::AES_256_GCM) {
        let gcm = order.remove(i);
        order.insert(0, gcm);
    }
    order
}

/// Host key algorithms to offer: those known_hosts records for the host
/// first (as OpenSSH orders them), and host certificates only when an
/// `@cert-authority` line matches the host.
fn preferred(known: &KnownHosts, name: &str, check: &HostKeyCheck) -> russh::Preferred {
    let mut p = russh::Preferred::default();
    p.cipher = cipher_order(&p.cipher).into();
    if !matches!(check, HostKeyCheck::Strict | HostKeyCheck::AcceptNew) {
        return p;
    }
    let recorded = known.known_algorithms(name);
    let is_recorded = |a: &Algorithm| recorded.iter().any(|r| r == a || (r.clone().is_rsa() && a.clone().is_rsa()));
    let (mut first, rest): (Vec<Algorithm>, Vec<Algorithm>) = p.key.iter().cloned().partition(is_recorded);
    first.extend(rest);
    p.key = first.into();
    if known.has_cert_authority(name) {
        p.host_key_certificates = p.key.to_vec().into();
    }
    p
}

/// A host over SSH. One connection, reused (and shared by clones) for many
/// concurrent commands. Commands do not each open a channel: a session
/// channel runs one small remote shell loop that serves command after
/// command (one framed request and answer each, see [`SshStats`]), so the
/// host sets up an sshd session (PAM, logind) and enters `sudo` once per
/// session, not per command. Concurrent commands take another session of a
/// small pool (normally one). Every value is escaped; with a non-root user
/// the remote shell runs under `sudo -n`. Files are written with the
/// exec-based atomic upload (temp file in the target dir, sha256 check,
/// chmod/chown, fsync, rename).
///
/// A command whose future is dropped, or that outlives its timeout, takes
/// its session with it (the session is closed; the next command gets a
/// fresh one); a command with a timeout is also killed on the host
/// (`timeout -s KILL`). A command killed by a signal reports exit code 128
/// + the signal number, as a shell does.
///
/// ```no_run
/// use k8s_bootstrap_core::transport::{Command, SshConfig, SshTransport, Transport};
/// # async fn demo() -> Result<(), k8s_bootstrap_core::transport::TransportError> {
/// let host = SshTransport::connect(SshConfig::new("10.77.0.11")).await?;
/// let out = host.run_ok(&Command::new(["hostname"])).await?;
/// println!("{}", out.stdout_str());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SshTransport {
    inner: Arc<Inner>,
}

struct Inner {
    config: SshConfig,
    handle: Handle<Client>,
    _jump: Option<SshTransport>,
    /// Sessions whose shell waits for a request, most recently used last.
    idle: Mutex<Vec<Session>>,
    connections: AtomicU64,
    sessions: AtomicU64,
    exchanges: AtomicU64,
}

/// Counters of an [`SshTransport`] (shared by its clones), from
/// [`SshTransport::stats`].
///
/// An *exchange* is one request and its answer on a session: one command,
/// or one step of a file operation (a probe, an upload).
///
/// ```no_run
/// use k8s_bootstrap_core::transport::{Command, SshConfig, SshStats, SshTransport, Transport};
/// # async fn demo() -> Result<(), k8s_bootstrap_core::transport::TransportError> {
/// let host = SshTransport::connect(SshConfig::new("10.77.0.11")).await?;
/// for _ in 0..20 {
///     host.run_ok(&Command::new(["true"])).await?;
/// }
/// // one connection, one session (one remote shell), twenty exchanges on it
/// assert_eq!(host.stats(), SshStats { connections: 1, sessions: 1, exchanges: 20 });
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SshStats {
    /// SSH connections opened (a connect opens one; a jump host's is its own).
    pub connections: u64,
    /// Session channels opened, each running one remote shell loop.
    pub sessions: u64,
    /// Requests sent to those shells (each answered, unless its session died).
    pub exchanges: u64,
}

/// Idle sessions kept for later commands; more are closed when returned.
const MAX_IDLE_SESSIONS: usize = 4;

/// The most of a file [`SshTransport::read_file`] reads in one exchange.
const READ_CHUNK: u64 = 16 << 20;

/// How much longer than a command's timeout we wait for the host's answer
/// (its `timeout -s KILL` fires at the timeout, on the host's clock) before
/// giving up on the session.
const TIMEOUT_GRACE: Duration = Duration::from_secs(1);

/// Exit code of `timeout -s KILL` when it killed the command (it kills its
/// own process group, itself included).
const KILLED_BY_TIMEOUT: u32 = 128 + 9;

impl std::fmt::Debug for SshTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshTransport")
            .field("config", &self.inner.config)
            .finish()
    }
}

impl SshTransport {
    /// Connects, checks the host key and authenticates (agent keys first,
    /// then key files). Host key and auth errors are final (not retryable).
    ///
    /// ```no_run
    /// use k8s_bootstrap_core::transport::{SshConfig, SshTransport, TransportError};
    /// # async fn demo() -> Result<(), TransportError> {
    /// let cfg = SshConfig::new("192.168.1.30").user("vagrant").connect_retries(2);
    /// match SshTransport::connect(cfg).await {
    ///     Ok(host) => assert!(!host.is_closed()),
    ///     Err(e @ TransportError::Auth { .. }) => return Err(e), // final: never retried
    ///     Err(e) => eprintln!("192.168.1.30 unreachable: {e}"),
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn connect(config: SshConfig) -> Result<Self> {
        let mut attempt = 0;
        loop {
            match Box::pin(Self::connect_inner(config.clone())).await {
                Err(e) if e.is_retryable() && attempt < config.connect_retries => {
                    attempt += 1;
                    tracing::warn!(host = %config.host, attempt, "connect failed, retrying: {e}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                r => return r,
            }
        }
    }

    async fn connect_inner(config: SshConfig) -> Result<Self> {
        let host = config.host.clone();
        let rejected = Arc::new(Mutex::new(None));
        if config.host_key_check == HostKeyCheck::Off {
            // On stderr, not only as a tracing event: nobody may be collecting those.
            eprintln!(
                "warning: {host}: host key checking is OFF (HostKeyCheck::Off): any key is accepted, \
                 so a man-in-the-middle would not be noticed"
            );
        }
        let known = match &config.host_key_check {
            HostKeyCheck::Strict | HostKeyCheck::AcceptNew => {
                KnownHosts::load(&config.known_hosts_files()).map_err(|e| TransportError::Connect {
                    host: host.clone(),
                    reason: e.to_string(),
                })?
            }
            _ => KnownHosts::default(),
        };
        let preferred = preferred(&known, &known_hosts::lookup_name(&host, config.port), &config.host_key_check);
        let handler = Client {
            host: host.clone(),
            port: config.port,
            check: config.host_key_check.clone(),
            known: Arc::new(known),
            known_hosts: config.known_hosts_path(),
            rejected: rejected.clone(),
        };
        let russh_config = Arc::new(client::Config {
            keepalive_interval: config.keepalive,
            keepalive_max: 3,
            inactivity_timeout: None,
            nodelay: true,
            preferred,
            ..client::Config::default()
        });
        let jump = match &config.proxy_jump {
            Some(j) => Some(Self::connect((**j).clone()).await?),
            None => None,
        };
        let connect = async {
            match &jump {
                Some(j) => {
                    let ch = j
                        .inner
                        .handle
                        .channel_open_direct_tcpip(
                            host.clone(),
                            u32::from(config.port),
                            "127.0.0.1",
                            0,
                        )
                        .await
                        .map_err(|e| TransportError::Connect {
                            host: host.clone(),
                            reason: format!("via jump host {}: {e}", j.inner.config.host),
                        })?;
                    client::connect_stream(russh_config, ch.into_stream(), handler)
                        .await
                        .map_err(|e| TransportError::Connect {
                            host: host.clone(),
                            reason: e.to_string(),
                        })
                }
                None => {
                    let tcp = tokio::net::TcpStream::connect((host.as_str(), config.port))
                        .await
                        .map_err(|e| TransportError::Connect {
                            host: host.clone(),
                            reason: format!("tcp {}:{}: {e}", host, config.port),
                        })?;
                    let _ = tcp.set_nodelay(true);
                    client::connect_stream(russh_config, tcp, handler)
                        .await
                        .map_err(|e| TransportError::Connect {
                            host: host.clone(),
                            reason: e.to_string(),
                        })
                }
            }
        };
        let handle = match tokio::time::timeout(config.connect_timeout, connect).await {
            Err(_) => {
                return Err(TransportError::ConnectTimeout {
                    host,
                    timeout: config.connect_timeout,
                });
            }
            Ok(r) => {
                let host_key_error = rejected.lock().ok().and_then(|mut r| r.take());
                match (r, host_key_error) {
                    (_, Some(e)) => return Err(e),
                    (Err(e), None) => return Err(e),
                    (Ok(h), None) => h,
                }
            }
        };
        let mut handle = handle;
        // a server that stalls during authentication must not hang us either
        tokio::time::timeout(config.connect_timeout, authenticate(&mut handle, &config))
            .await
            .map_err(|_| TransportError::ConnectTimeout {
                host: config.host.clone(),
                timeout: config.connect_timeout,
            })??;
        tracing::debug!(host = %config.host, user = %config.user, "ssh connected");
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                handle,
                _jump: jump,
                idle: Mutex::new(Vec::new()),
                connections: AtomicU64::new(1),
                sessions: AtomicU64::new(0),
                exchanges: AtomicU64::new(0),
            }),
        })
    }

    /// The configuration this transport was connected with.
    ///
    /// ```no_run
    /// use k8s_bootstrap_core::transport::{SshConfig, SshTransport};
    /// # async fn demo() -> Result<(), k8s_bootstrap_core::transport::TransportError> {
    /// let host = SshTransport::connect(SshConfig::new("192.168.1.30").user("vagrant")).await?;
    /// assert_eq!(host.config().user, "vagrant");
    /// assert!(host.config().uses_sudo());
    /// # Ok(()) }
    /// ```
    pub fn config(&self) -> &SshConfig {
        &self.inner.config
    }

    /// Whether the underlying connection is closed.
    ///
    /// ```no_run
    /// use k8s_bootstrap_core::transport::{SshConfig, SshTransport};
    /// # async fn demo() -> Result<(), k8s_bootstrap_core::transport::TransportError> {
    /// let host = SshTransport::connect(SshConfig::new("192.168.1.30")).await?;
    /// assert!(!host.is_closed());
    /// // A long-lived transport may lose its connection: connect again then.
    /// let host = if host.is_closed() { SshTransport::connect(host.config().clone()).await? } else { host };
    /// # let _ = host;
    /// # Ok(()) }
    /// ```
    pub fn is_closed(&self) -> bool {
        self.inner.handle.is_closed()
    }

    /// Closes the connection (other clones become unusable).
    ///
    /// ```no_run
    /// use k8s_bootstrap_core::transport::{Command, SshConfig, SshTransport, Transport};
    /// # async fn demo() -> Result<(), k8s_bootstrap_core::transport::TransportError> {
    /// let host = SshTransport::connect(SshConfig::new("192.168.1.30")).await?;
    /// let clone = host.clone(); // shares the connection
    /// host.disconnect().await?;
    /// assert!(clone.run(&Command::new(["hostname"])).await.is_err());
    /// # Ok(()) }
    /// ```
    pub async fn disconnect(&self) -> Result<()> {
        self.idle().clear();
        self.inner
            .handle
            .disconnect(russh::Disconnect::ByApplication, "", "en")
            .await
            .map_err(|e| self.ssh_err(e))
    }

    fn ssh_err(&self, e: impl std::fmt::Display) -> TransportError {
        TransportError::Ssh {
            host: self.inner.config.host.clone(),
            reason: e.to_string(),
        }
    }

    /// Connections, sessions and exchanges so far (see [`SshStats`]).
    ///
    /// ```no_run
    /// use k8s_bootstrap_core::transport::{Command, SshConfig, SshTransport, Transport};
    /// # async fn demo() -> Result<(), k8s_bootstrap_core::transport::TransportError> {
    /// let host = SshTransport::connect(SshConfig::new("10.77.0.11")).await?;
    /// assert_eq!(host.stats().sessions, 0); // the first command starts one
    /// let t = Command::new(["true"]);
    /// let (a, b) = tokio::join!(host.run_ok(&t), host.run_ok(&t)); // at once
    /// (a?, b?);
    /// let s = host.stats();
    /// assert_eq!((s.connections, s.exchanges), (1, 2));
    /// assert!(s.sessions <= 2); // two at once may need a second session
    /// # Ok(()) }
    /// ```
    pub fn stats(&self) -> SshStats {
        SshStats {
            connections: self.inner.connections.load(Ordering::Relaxed),
            sessions: self.inner.sessions.load(Ordering::Relaxed),
            exchanges: self.inner.exchanges.load(Ordering::Relaxed),
        }
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Session>> {
        self.inner.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// An idle session, or a new one: a channel running the remote shell
    /// loop (under `sudo -n` when the config uses sudo).
    async fn session(&self, shown: &str) -> Result<Session> {
        loop {
            let Some(mut s) = self.idle().pop() else { break };
            if s.is_alive() {
                return Ok(s);
            }
            tracing::debug!(host = %self.inner.config.host, session = s.id, "idle session ended; dropping it");
        }
        let ch = self
            .inner
            .handle
            .channel_open_session()
            .await
            .map_err(|e| self.ssh_err(format!("open channel for `{shown}`: {e}")))?;
        let (rd, wr) = ch.split();
        let mut line = format!("exec sh -c {}", quote(session::DRIVER));
        if self.inner.config.uses_sudo() {
            line = format!("exec sudo -n -- sh -c {}", quote(session::DRIVER));
        }
        wr.exec(true, line)
            .await
            .map_err(|e| self.ssh_err(format!("exec `{shown}`: {e}")))?;
        let id = self.inner.sessions.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::debug!(host = %self.inner.config.host, session = id, sudo = self.inner.config.uses_sudo(), "session shell started");
        Ok(Session::new(id, rd, wr))
    }

    /// Gives a session that answered back to the pool.
    fn release(&self, s: Session) {
        let mut idle = self.idle();
        if idle.len() < MAX_IDLE_SESSIONS {
            idle.push(s);
        }
    }

    /// Runs one shell script on a session (stdin from `body`), bounded by
    /// `timeout` (plus a grace for the host's own kill to answer).
    /// `shown` is the redacted command for errors and logs.
    async fn exchange(&self, script: &str, body: Body<'_>, timeout: Option<Duration>, shown: &str) -> Result<Output> {
        let start = Instant::now();
        let run = async {
            let mut s = self.session(shown).await?;
            self.inner.exchanges.fetch_add(1, Ordering::Relaxed);
            tracing::trace!(host = %self.inner.config.host, session = s.id, command = %shown, "exchange");
            // on an error (or if this future is dropped) `s` is dropped: closed
            match s.exchange(script, body).await {
                Ok(Reply::Answer(out)) => {
                    self.release(s);
                    Ok(out)
                }
                Ok(Reply::NotStarted(out)) if !self.is_closed() => {
                    tracing::debug!(host = %self.inner.config.host, session = s.id, exit = ?out.exit_code, "session shell did not start");
                    Ok(out)
                }
                Ok(Reply::NotStarted(_)) => Err(self.ssh_err(format!("connection lost while running `{shown}`"))),
                Err(b) => {
                    // the connection's own end may be noticed a moment after the channel's
                    for _ in 0..10 {
                        if self.is_closed() {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    Err(if self.is_closed() {
                        self.ssh_err(format!("connection lost while running `{shown}`"))
                    } else if let Some(w) = b.write {
                        self.ssh_err(format!("sending stdin to `{shown}`: {w}"))
                    } else {
                        let why = b.protocol.unwrap_or_else(|| format!("exit status {:?}", b.exit));
                        self.ssh_err(format!("session shell ended while running `{shown}` ({why}): {}", b.diag))
                    })
                }
            }
        };
        let Some(t) = timeout else { return run.await };
        let timed_out = || TransportError::Timeout {
            host: self.inner.config.host.clone(),
            command: shown.to_string(),
            timeout: t,
        };
        match tokio::time::timeout(t + TIMEOUT_GRACE, run).await {
            Err(_) => Err(timed_out()),
            Ok(Ok(out)) if out.exit_code == Some(KILLED_BY_TIMEOUT) && start.elapsed() >= t => Err(timed_out()),
            Ok(r) => r,
        }
    }

    async fn script(&self, script: String, shown: &str) -> Result<Output> {
        self.exchange(&script, Body::empty(), None, shown).await
    }

    /// `chmod` (and `chown`) of the files `which` of `files`, in place, in
    /// one exchange: their contents are already right. One outcome each.
    async fn set_meta(&self, files: &[(String, FileSource, PutOptions)], which: &[usize], results: &mut [Option<Result<PutOutcome>>]) {
        let host = self.host();
        let script: String = which
            .iter()
            .map(|&i| format!("if {}; then echo ok; else echo failed; fi\n", script::set_meta(&files[i].0, &files[i].2)))
            .collect();
        let out = self.script(script, &format!("chmod/chown {} files", which.len())).await;
        let text = out.as_ref().map(|o| o.stdout_str()).unwrap_or_default();
        let mut lines = text.lines();
        for &i in which {
            let path = files[i].0.clone();
            results[i] = Some(match (&out, lines.next()) {
                (Ok(_), Some("ok")) => Ok(PutOutcome::MetadataUpdated),
                (Ok(o), _) => Err(TransportError::Transfer { host: host.clone(), path, reason: format!("chmod/chown failed: {}", super::error::tail(&o.stderr)) }),
                (Err(e), _) => Err(TransportError::Transfer { host: host.clone(), path, reason: e.to_string() }),
            });
        }
    }
}

async fn authenticate(handle: &mut Handle<Client>, config: &SshConfig) -> Result<()> {
    let host = config.host.clone();
    let user = config.user.clone();
    let mut tried = Vec::new();
    let rsa_hash = handle
        .best_supported_rsa_hash()
        .await
        .map_err(|e| TransportError::Ssh {
            host: host.clone(),
            reason: e.to_string(),
        })?
        .flatten();
    let agent_socket = config
        .agent_socket
        .clone()
        .or_else(|| std::env::var_os("SSH_AUTH_SOCK").map(PathBuf::from));
    // IdentitiesOnly: the agent may sign only with the keys of the identity files.
    let allowed: Option<Vec<PublicKey>> = config.identities_only.then(|| {
        config
            .key_files()
            .iter()
            .filter_map(|p| {
                let public = PathBuf::from(format!("{}.pub", p.display()));
                PublicKey::read_openssh_file(&public)
                    .ok()
                    .or_else(|| keys::load_secret_key(p, config.passphrase.as_deref()).ok().map(|k| k.public_key().clone()))
            })
            .collect()
    });
    if let (true, Some(sock)) = (config.use_agent, agent_socket) {
        match keys::agent::client::AgentClient::connect_uds(&sock).await {
            Ok(mut agent) => {
                let ids = agent.request_identities().await.unwrap_or_default();
                for id in ids {
                    let pk = id.public_key().into_owned();
                    if allowed.as_ref().is_some_and(|a| !a.iter().any(|k| k.key_data() == pk.key_data())) {
                        continue;
                    }
                    let hash = if pk.algorithm().is_rsa() {
                        rsa_hash
                    } else {
                        None
                    };
                    tried.push(format!("agent key {:?}", id.comment()));
                    match handle
                        .authenticate_publickey_with(&user, pk, hash, &mut agent)
                        .await
                    {
                        Ok(r) if r.success() => return Ok(()),
                        Ok(_) => {}
                        Err(e) => tracing::debug!(host = %host, "agent signing failed: {e:?}"),
                    }
                }
            }
            Err(e) => tried.push(format!("agent (unreachable: {e})")),
        }
    }
    for path in config.key_files() {
        let key = match keys::load_secret_key(&path, config.passphrase.as_deref()) {
            Ok(k) => k,
            Err(e) => {
                tried.push(format!("{} (unusable: {e})", path.display()));
                continue;
            }
        };
        tried.push(path.display().to_string());
        let hash = if key.algorithm().is_rsa() {
            rsa_hash
        } else {
            None
        };
        let r = handle
            .authenticate_publickey(&user, PrivateKeyWithHashAlg::new(Arc::new(key), hash))
            .await
            .map_err(|e| TransportError::Ssh {
                host: host.clone(),
                reason: e.to_string(),
            })?;
        if r.success() {
            return Ok(());
        }
    }
    Err(TransportError::Auth {
        host,
        user,
        tried: if tried.is_empty() {
            "no keys: none given, none in ~/.ssh, no agent".into()
        } else {
            tried.join(", ")
        },
    })
}

/// What the upload script's stderr adds to a file's error (the reason a
/// write failed: "No space left on device"), when it said anything.
fn stderr_note(stderr: &[u8]) -> String {
    let t = super::error::tail(stderr);
    if t.is_empty() { String::new() } else { format!(": {t}") }
}

#[async_trait]
impl Transport for SshTransport {
    fn host(&self) -> String {
        self.inner.config.host.clone()
    }

    async fn run(&self, cmd: &Command) -> Result<Output> {
        // Display of a Command is redacted: env values and stdin never appear.
        tracing::debug!(host = %self.host(), command = %cmd, "run");
        let mut line = cmd.to_shell_line()?;
        if let Some(t) = cmd.timeout {
            // sshd may ignore "signal" requests: coreutils `timeout` makes sure the
            // remote command dies too, not only our wait for it.
            line = format!(
                "exec timeout -s KILL {:.3} sh -c {}",
                t.as_secs_f64(),
                quote(&line)
            );
        }
        let shown = cmd.to_string();
        let stdin = Body::Slices(cmd.stdin.as_deref().into_iter().collect());
        self.exchange(&line, stdin, cmd.timeout, &shown).await
    }

    /// One file is a batch of one ([`put_files`](Transport::put_files)): the
    /// same remote script, the same checks and the same outcomes.
    async fn put_file(
        &self,
        path: &str,
        source: &FileSource,
        opts: &PutOptions,
    ) -> Result<PutOutcome> {
        self.put_files(&[(path.to_string(), source.clone(), opts.clone())])
            .await
            .pop()
            .expect("one outcome per file")
    }

    /// Every file in two round trips at most: the files from disk (large:
    /// binaries) are first probed together, so that one already there is
    /// not sent again (one whose mode or owner differs gets a `chmod` /
    /// `chown` in one more exchange, its content is not sent); then all
    /// that must be written go out in one exchange, a remote `sh` script
    /// that writes them one by one (each atomically, checked against its
    /// SHA-256), their contents streamed one after another as its stdin
    /// (files from disk are never held in memory).
    async fn put_files(&self, files: &[(String, FileSource, PutOptions)]) -> Vec<Result<PutOutcome>> {
        let host = self.host();
        // Paths and modes only: file contents (private keys) are never logged.
        tracing::debug!(host = %host, files = files.len(), paths = ?files.iter().map(|f| f.0.as_str()).collect::<Vec<_>>(), "put files");
        let mut results: Vec<Option<Result<PutOutcome>>> = (0..files.len()).map(|_| None).collect();
        let mut digests = Vec::with_capacity(files.len());
        for (i, (_, source, _)) in files.iter().enumerate() {
            match source.digest_for(&host).await {
                Ok(d) => digests.push(Some(d)),
                Err(e) => {
                    results[i] = Some(Err(e));
                    digests.push(None);
                }
            }
        }
        // Files from disk already on the host, as they should be: not sent.
        let on_disk: Vec<usize> = (0..files.len()).filter(|&i| digests[i].is_some() && matches!(files[i].1, FileSource::Path(_)) && files[i].2.probe).collect();
        if !on_disk.is_empty() {
            let script: String = script::with_sha(&on_disk.iter().map(|&i| format!("{}\n", script::probe(&files[i].0))).collect::<String>());
            match self.script(script, &format!("probe {} files", on_disk.len())).await {
                Ok(out) if out.success() => {
                    let text = out.stdout_str();
                    let mut meta = Vec::new();
                    for (&i, line) in on_disk.iter().zip(text.lines()) {
                        let sha = &digests[i].as_ref().expect("probed files have a digest").0;
                        match script::plan(script::parse_probe(line).as_ref(), sha, &files[i].2) {
                            script::Plan::Unchanged => results[i] = Some(Ok(PutOutcome::Unchanged)),
                            script::Plan::MetadataOnly => meta.push(i),
                            script::Plan::Write { .. } => {}
                        }
                    }
                    if !meta.is_empty() {
                        self.set_meta(files, &meta, &mut results).await;
                    }
                }
                Ok(out) => {
                    for &i in &on_disk {
                        results[i] = Some(Err(TransportError::command_failed(&host, &Command::new(["probe", files[i].0.as_str()]), &out)));
                    }
                }
                Err(e) => {
                    for &i in &on_disk {
                        results[i] = Some(Err(TransportError::Transfer { host: host.clone(), path: files[i].0.clone(), reason: e.to_string() }));
                    }
                }
            }
        }
        let send: Vec<usize> = (0..files.len()).filter(|&i| results[i].is_none()).collect();
        if send.is_empty() {
            return results.into_iter().map(|r| r.expect("every file has a result")).collect();
        }
        let mut batch = Vec::new();
        let mut body: Box<dyn tokio::io::AsyncRead + Send + Unpin + '_> = Box::new(tokio::io::empty());
        let mut len = 0u64;
        let mut sent = Vec::new();
        for &i in &send {
            let (path, source, opts) = &files[i];
            let (sha, size) = digests[i].clone().expect("files to send have a digest");
            match source.reader().await {
                Ok(r) => {
                    body = Box::new(tokio::io::AsyncReadExt::chain(body, tokio::io::AsyncReadExt::take(r, size)));
                    len += size;
                    batch.push((path.clone(), sha, size, opts.clone()));
                    sent.push(i);
                }
                Err(e) => results[i] = Some(Err(TransportError::io(&host, "open upload source", e))),
            }
        }
        let shown = format!("upload {} files", batch.len());
        match self.exchange(&script::put_many(&batch), Body::Reader(body, len), None, &shown).await {
            Ok(out) => {
                let text = out.stdout_str();
                let mut lines = text.lines();
                for (&i, (path, ..)) in sent.iter().zip(&batch) {
                    let r = match lines.next() {
                        Some("created") => Ok(PutOutcome::Created),
                        Some("updated") => Ok(PutOutcome::Updated),
                        Some("meta") => Ok(PutOutcome::MetadataUpdated),
                        Some("unchanged") => Ok(PutOutcome::Unchanged),
                        Some(other) => Err(TransportError::Transfer {
                            host: host.clone(),
                            path: path.clone(),
                            reason: format!("{}{}", other.trim_start_matches("error "), stderr_note(&out.stderr)),
                        }),
                        None => Err(TransportError::Transfer {
                            host: host.clone(),
                            path: path.clone(),
                            reason: format!("no result (exit {:?}): {}", out.exit_code, super::error::tail(&out.stderr)),
                        }),
                    };
                    results[i] = Some(r);
                }
            }
            Err(e) => {
                let reason = e.to_string();
                for (&i, (path, ..)) in sent.iter().zip(&batch) {
                    results[i] = Some(Err(TransportError::Transfer { host: host.clone(), path: path.clone(), reason: reason.clone() }));
                }
            }
        }
        results.into_iter().map(|r| r.expect("every file has a result")).collect()
    }

    /// Read in chunks of 16 MiB, one exchange each: the remote shell holds
    /// a command's output in RAM (`/dev/shm`, so that a full disk cannot
    /// cut it short), and a large file (a snapshot) must never need that
    /// much of the host's memory at once. A small file is one exchange.
    async fn read_file(&self, path: &str) -> Result<Option<Vec<u8>>> {
        let mut bytes = Vec::new();
        loop {
            let out = self
                .script(script::read_chunk(path, bytes.len() as u64, READ_CHUNK), &format!("cat {path}"))
                .await?;
            match out.exit_code {
                Some(0) => {}
                Some(script::ABSENT) if bytes.is_empty() => return Ok(None),
                _ => {
                    return Err(TransportError::command_failed(&self.host(), &Command::new(["cat", path]), &out));
                }
            }
            let n = out.stdout.len() as u64;
            bytes.extend_from_slice(&out.stdout);
            if n < READ_CHUNK {
                return Ok(Some(bytes));
            }
        }
    }

    async fn stat(&self, path: &str) -> Result<Option<FileStat>> {
        let out = self
            .script(script::stat(path), &format!("stat {path}"))
            .await?;
        match out.exit_code {
            Some(0) => script::parse_stat(&out.stdout_str())
                .map(Some)
                .ok_or_else(|| TransportError::Ssh {
                    host: self.host(),
                    reason: format!("unexpected stat output for {path}: {}", out.stdout_str()),
                }),
            Some(script::ABSENT) => Ok(None),
            _ => Err(TransportError::command_failed(
                &self.host(),
                &Command::new(["stat", path]),
                &out,
            )),
        }
    }

    async fn sha256(&self, path: &str) -> Result<Option<String>> {
        let out = self
            .script(script::sha256(path), &format!("sha256sum {path}"))
            .await?;
        match out.exit_code {
            Some(0) => Ok(Some(out.stdout_str().trim().to_string())),
            Some(script::ABSENT) => Ok(None),
            _ => Err(TransportError::command_failed(
                &self.host(),
                &Command::new(["sha256sum", path]),
                &out,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    /// On a CPU with AES and carry-less multiply instructions (this
    /// machine's, checked here from /proc/cpuinfo, not from the function's
    /// own test), AES-256-GCM is offered first; the set of ciphers offered
    /// is russh's own, unchanged.
    #[test]
    fn aes_gcm_first_where_the_cpu_has_aes_instructions() {
        let default = russh::Preferred::default().cipher.to_vec();
        let order = super::cipher_order(&default);
        let mut a = order.clone();
        let mut b = default.clone();
        a.sort_by_key(|c| c.as_ref().to_string());
        b.sort_by_key(|c| c.as_ref().to_string());
        assert_eq!(a, b, "the same ciphers, only another order");
        let flags = std::fs::read_to_string("/proc/cpuinfo").expect("Linux: /proc/cpuinfo");
        let has = |f: &str| flags.lines().any(|l| l.starts_with("flags") && l.split_whitespace().any(|w| w == f));
        if cfg!(target_arch = "x86_64") && has("aes") && has("pclmulqdq") {
            assert_eq!(order[0], russh::cipher::AES_256_GCM, "{order:?}");
        } else {
            assert_eq!(order, default);
        }
    }
}
