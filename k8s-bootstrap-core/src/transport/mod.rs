//! Acting on hosts: the [`Transport`] trait and its implementations.
//!
//! The core reaches a host only through a [`Transport`]. The trait is small:
//! [`run`](Transport::run) a command (argv, optional stdin, env, timeout),
//! [`put_file`](Transport::put_file) atomically, [`read_file`](Transport::read_file)
//! and [`stat`](Transport::stat). Compound operations (systemctl helpers,
//! checked commands, hashes) are default methods built on those four.
//!
//! Implementations:
//! - [`LocalTransport`]: this machine, optionally rooted at a directory.
//! - [`SshTransport`] (cargo feature `ssh`, on by default): a host over SSH (russh),
//!   one connection reused for many concurrent commands, served by one
//!   long-lived remote shell per session channel; [`SshConfigFile`]
//!   reads its settings from OpenSSH config files (`~/.ssh/config`).
//! - [`RecordingTransport`]: captures what would run, the base of dry-run.
//! - `MockTransport` (cargo feature `mock`, or in this crate's tests): a mockall mock.
//!
//! File writes are atomic everywhere: a temp file in the target directory,
//! fsync, chmod/chown, rename. If the content hash and metadata already match,
//! nothing is written and the result is [`PutOutcome::Unchanged`].
//!
//! ```
//! use k8s_bootstrap_core::transport::{Command, FileSource, LocalTransport, PutOptions, PutOutcome, Transport};
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let dir = tempfile::tempdir().unwrap();
//! let t = LocalTransport::rooted(dir.path()); // files under dir, commands on this machine
//! let out = t.run_ok(&Command::new(["echo", "etcd01"])).await?;
//! assert_eq!(out.stdout_str(), "etcd01\n");
//! let env = FileSource::from("ETCD_NAME=etcd01\n");
//! let put = t.put_file("/opt/etcd/cfg/etcd", &env, &PutOptions::new(0o640)).await?;
//! assert_eq!(put, PutOutcome::Created);
//! // The same content and mode again: nothing is written.
//! assert_eq!(t.put_file("/opt/etcd/cfg/etcd", &env, &PutOptions::new(0o640)).await?, PutOutcome::Unchanged);
//! # Ok::<(), k8s_bootstrap_core::transport::TransportError>(())
//! # }).unwrap();
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;

mod error;
#[cfg(feature = "ssh")]
mod known_hosts;
mod local;
mod recording;
mod script;
#[cfg(feature = "ssh")]
mod ssh;
#[cfg(feature = "ssh")]
mod ssh_config;
#[cfg(feature = "ssh")]
mod ssh_session;
#[cfg(test)]
mod tests;

pub use error::{Result, TransportError};
pub(crate) use error::tail;
pub(crate) use script::{DIGEST_CACHE, SHA_FN};
pub use local::LocalTransport;
pub use recording::{RecordedOp, RecordingTransport};
#[cfg(feature = "ssh")]
pub use ssh::{HostKeyCheck, SshConfig, SshStats, SshTransport};
#[cfg(feature = "ssh")]
pub use ssh_config::{Resolved, SshConfigError, SshConfigFile, SshOverrides};
#[cfg(feature = "ssh")]
pub(crate) use ssh_config::check_proxy_jump;

/// A command to run on a host: argv (never a shell string), optional stdin,
/// extra environment, optional timeout.
///
/// ```
/// use k8s_bootstrap_core::transport::Command;
/// use std::time::Duration;
/// let cmd = Command::new(["systemctl", "restart", "etcd"])
///     .env("SYSTEMD_PAGER", "")
///     .timeout(Duration::from_secs(30));
/// assert_eq!(cmd.to_string(), "SYSTEMD_PAGER=*** systemctl restart etcd");
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Command {
    /// Program and arguments; `argv[0]` is looked up in `PATH`.
    pub argv: Vec<String>,
    /// Bytes fed to the command's stdin (stdin is empty when `None`).
    pub stdin: Option<Vec<u8>>,
    /// Extra environment variables.
    pub env: BTreeMap<String, String>,
    /// Give up (and kill the command) after this long.
    pub timeout: Option<Duration>,
}

impl Command {
    /// A command from its argv.
    ///
    /// ```
    /// use k8s_bootstrap_core::transport::Command;
    /// let c = Command::new(["etcdctl", "member", "list"]);
    /// assert_eq!(c.argv, ["etcdctl", "member", "list"]);
    /// assert_eq!((c.stdin, c.timeout), (None, None));
    /// ```
    pub fn new<I, S>(argv: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            argv: argv.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }

    /// Runs `script` with `sh -c` (the script is one argv element, so it is
    /// escaped like any other value; write the script itself with care).
    ///
    /// ```
    /// use k8s_bootstrap_core::transport::Command;
    /// let c = Command::shell("systemctl is-active etcd || journalctl -u etcd -n 20");
    /// assert_eq!(c.argv[..2], ["sh", "-c"]);
    /// assert_eq!(c.to_string(), "sh -c 'systemctl is-active etcd || journalctl -u etcd -n 20'");
    /// ```
    pub fn shell(script: impl Into<String>) -> Self {
        Self::new(["sh".to_string(), "-c".to_string(), script.into()])
    }

    /// Feeds these bytes to stdin.
    ///
    /// ```
    /// use k8s_bootstrap_core::transport::{Command, LocalTransport, Transport};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let cmd = Command::new(["cat"]).stdin("ETCD_NAME=etcd01\n");
    /// assert_eq!(LocalTransport::new().run_ok(&cmd).await?.stdout_str(), "ETCD_NAME=etcd01\n");
    /// assert!(format!("{cmd:?}").contains("stdin_len: Some(17)")); // never the bytes themselves
    /// # Ok::<(), k8s_bootstrap_core::transport::TransportError>(())
    /// # }).unwrap();
    /// ```
    #[must_use]
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(bytes.into());
        self
    }

    /// Adds an environment variable (`key` must be a valid shell variable name).
    ///
    /// ```
    /// use k8s_bootstrap_core::transport::{Command, TransportError};
    /// let c = Command::new(["etcdctl", "endpoint", "health"]).env("ETCDCTL_API", "3");
    /// assert_eq!(c.to_shell_line().unwrap(), "ETCDCTL_API=3 exec etcdctl endpoint health");
    /// assert_eq!(c.to_string(), "ETCDCTL_API=*** etcdctl endpoint health"); // values redacted
    /// let bad = Command::new(["true"]).env("ETCDCTL-API", "3").to_shell_line().unwrap_err();
    /// assert!(matches!(bad, TransportError::InvalidInput { .. }));
    /// ```
    #[must_use]
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.insert(key.into(), value.into());
        self
    }

    /// Kills the command and fails with [`TransportError::Timeout`] after `d`.
    ///
    /// ```
    /// use k8s_bootstrap_core::transport::{Command, LocalTransport, Transport, TransportError};
    /// use std::time::Duration;
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let cmd = Command::new(["sleep", "5"]).timeout(Duration::from_millis(100));
    /// let err = LocalTransport::new().run(&cmd).await.unwrap_err();
    /// assert!(matches!(err, TransportError::Timeout { .. }) && err.is_retryable());
    /// assert_eq!(err.to_string(), "local: `sleep 5` timed out after 100ms");
    /// # });
    /// ```
    #[must_use]
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = Some(d);
        self
    }

    /// The POSIX shell command line that runs this command (env values
    /// included, every value escaped). Used by exec-based transports.
    ///
    /// ```
    /// use k8s_bootstrap_core::transport::Command;
    /// let c = Command::new(["echo", "a b"]).env("X", "1 2");
    /// assert_eq!(c.to_shell_line().unwrap(), "X='1 2' exec echo 'a b'");
    /// ```
    pub fn to_shell_line(&self) -> Result<String> {
        self.validate()?;
        let mut line = String::new();
        for (k, v) in &self.env {
            line.push_str(k);
            line.push('=');
            line.push_str(&crate::shell::shell_quote(v));
            line.push(' ');
        }
        line.push_str("exec ");
        line.push_str(&crate::shell::join_argv(&self.argv));
        Ok(line)
    }

    pub(crate) fn validate(&self) -> Result<()> {
        let bad = |reason: String| Err(TransportError::InvalidInput { reason });
        if self.argv.is_empty() {
            return bad("empty argv".into());
        }
        if let Some(a) = self.argv.iter().find(|a| a.contains('\0')) {
            return bad(format!("argument contains a NUL byte: {a:?}"));
        }
        for (k, v) in &self.env {
            let valid = !k.is_empty()
                && !k.starts_with(|c: char| c.is_ascii_digit())
                && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !valid {
                return bad(format!("invalid environment variable name {k:?}"));
            }
            if v.contains('\0') {
                return bad(format!("environment value of {k} contains a NUL byte"));
            }
        }
        Ok(())
    }
}

/// Redacted rendering: argv escaped, env values replaced by `***`, stdin omitted.
impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for k in self.env.keys() {
            write!(f, "{k}=*** ")?;
        }
        f.write_str(&crate::shell::join_argv(&self.argv))
    }
}

/// Redacted like [`Display`](fmt::Display): env values and stdin are never shown.
impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Command")
            .field("argv", &self.argv)
            .field("env", &self.env.keys().collect::<Vec<_>>())
            .field("stdin_len", &self.stdin.as_ref().map(Vec::len))
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// What a command produced.
///
/// ```
/// use k8s_bootstrap_core::transport::Output;
/// let out = Output { stdout: b"active\n".to_vec(), stderr: vec![], exit_code: Some(0) };
/// assert!(out.success());
/// assert_eq!(out.stdout_str().trim(), "active");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Output {
    /// Everything written to stdout.
    pub stdout: Vec<u8>,
    /// Everything written to stderr.
    pub stderr: Vec<u8>,
    /// Exit code; `None` if the command died from a signal or sent no status.
    pub exit_code: Option<u32>,
}

impl Output {
    /// Exit code 0.
    ///
    /// ```
    /// use k8s_bootstrap_core::transport::Output;
    /// assert!(Output { exit_code: Some(0), ..Output::default() }.success());
    /// assert!(!Output { exit_code: Some(3), ..Output::default() }.success());
    /// assert!(!Output { exit_code: None, ..Output::default() }.success()); // killed by a signal
    /// ```
    pub fn success(&self) -> bool {
        self.exit_code == Some(0)
    }

    /// Stdout as text (lossy UTF-8).
    ///
    /// ```
    /// use k8s_bootstrap_core::transport::Output;
    /// let out = Output { stdout: b"etcd01\xff\n".to_vec(), ..Output::default() };
    /// assert_eq!(out.stdout_str(), "etcd01\u{fffd}\n"); // invalid UTF-8 replaced, never an error
    /// ```
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Stderr as text (lossy UTF-8).
    ///
    /// ```
    /// use k8s_bootstrap_core::transport::Output;
    /// let out = Output { stderr: b"Failed to start etcd.service\n".to_vec(), exit_code: Some(1), ..Output::default() };
    /// assert!(out.stderr_str().starts_with("Failed to start"));
    /// ```
    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// The content of a file to put on a host.
///
/// ```
/// use k8s_bootstrap_core::transport::FileSource;
/// let small = FileSource::from("ETCD_NAME=etcd1\n");
/// let big = FileSource::Path("/var/cache/etcd-v3.4.23-linux-amd64/etcd".into()); // streamed
/// # let _ = (small, big);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileSource {
    /// Bytes in memory.
    Bytes(Vec<u8>),
    /// A local file, streamed (never read into memory whole).
    Path(PathBuf),
}

impl From<Vec<u8>> for FileSource {
    fn from(b: Vec<u8>) -> Self {
        Self::Bytes(b)
    }
}
impl From<&[u8]> for FileSource {
    fn from(b: &[u8]) -> Self {
        Self::Bytes(b.to_vec())
    }
}
impl From<&str> for FileSource {
    fn from(s: &str) -> Self {
        Self::Bytes(s.as_bytes().to_vec())
    }
}
impl From<String> for FileSource {
    fn from(s: String) -> Self {
        Self::Bytes(s.into_bytes())
    }
}

impl FileSource {
    /// SHA-256 (lowercase hex) and length of the content; streams local files.
    ///
    /// ```
    /// use k8s_bootstrap_core::transport::FileSource;
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let (sha, len) = FileSource::from("").sha256().await.unwrap();
    /// assert_eq!((sha.as_str(), len), ("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", 0));
    /// // A local file gives the same digest as its bytes, without reading it whole.
    /// let dir = tempfile::tempdir().unwrap();
    /// std::fs::write(dir.path().join("etcd.env"), "ETCD_NAME=etcd01\n").unwrap();
    /// let from_path = FileSource::Path(dir.path().join("etcd.env")).sha256().await.unwrap();
    /// assert_eq!(from_path, FileSource::from("ETCD_NAME=etcd01\n").sha256().await.unwrap());
    /// # });
    /// ```
    pub async fn sha256(&self) -> std::io::Result<(String, u64)> {
        match self {
            Self::Bytes(b) => Ok((sha256_hex(b), b.len() as u64)),
            Self::Path(p) => {
                // A binary goes to every host of its role: read and hashed
                // once per process while its size and mtime stay the same.
                // Hosts ask for it at the same moment: the first caller
                // hashes (on a blocking thread, in large reads), the others
                // wait for that answer instead of each reading the file.
                type Key = (std::path::PathBuf, u64, std::time::SystemTime);
                type Seen = std::sync::Mutex<std::collections::HashMap<Key, std::sync::Arc<tokio::sync::OnceCell<String>>>>;
                static SEEN: std::sync::OnceLock<Seen> = std::sync::OnceLock::new();
                let meta = tokio::fs::metadata(p).await?;
                let key = (p.clone(), meta.len(), meta.modified()?);
                let size = key.1;
                let cell = SEEN.get_or_init(Default::default).lock().unwrap_or_else(std::sync::PoisonError::into_inner).entry(key).or_default().clone();
                let d = cell
                    .get_or_try_init(|| async {
                        let p = p.clone();
                        tokio::task::spawn_blocking(move || -> std::io::Result<String> {
                            let (d, n) = sha256_file(&p)?;
                            #[cfg(test)]
                            tests::hashed(&p);
                            if n != size {
                                // Changed while read: an error now, hashed again next time.
                                return Err(std::io::Error::other(format!("{} changed while it was read ({size} bytes, then {n})", p.display())));
                            }
                            Ok(d)
                        })
                        .await
                        .map_err(std::io::Error::other)?
                    })
                    .await?;
                Ok((d.clone(), size))
            }
        }
    }

    /// [`sha256`](Self::sha256) with the error as a [`TransportError`] of `host`.
    pub(crate) async fn digest_for(&self, host: &str) -> Result<(String, u64)> {
        self.sha256()
            .await
            .map_err(|e| TransportError::io(host, "read upload source", e))
    }

    /// An async reader over the content.
    pub(crate) async fn reader(
        &self,
    ) -> std::io::Result<Box<dyn tokio::io::AsyncRead + Send + Unpin + '_>> {
        Ok(match self {
            Self::Bytes(b) => Box::new(&b[..]),
            Self::Path(p) => Box::new(tokio::fs::File::open(p).await?),
        })
    }
}

/// How to put a file: mode, owner, whether to create parent directories.
///
/// ```
/// use k8s_bootstrap_core::transport::PutOptions;
/// let o = PutOptions::new(0o600).owner("etcd:etcd");
/// assert!(o.create_parents);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PutOptions {
    /// Permission bits, e.g. `0o644`.
    pub mode: u32,
    /// `user`, `user:group` (names or numbers) for chown; `None` keeps the
    /// connecting user's (or sudo's root) ownership.
    pub owner: Option<String>,
    /// Create missing parent directories (mode 0755).
    pub create_parents: bool,
    /// Ask the host for its copy first and send nothing when it already has
    /// these contents (the default). A caller that has just read the
    /// host's copy and knows it differs (the apply engine, from its facts)
    /// turns this off to save that round trip, and the host then does not
    /// hash its old copy either (tens of MB for an upgraded binary): the
    /// file is written, and reported `Updated`, even if it became the same
    /// in between. The write stays atomic and checked either way.
    pub probe: bool,
}

impl Default for PutOptions {
    fn default() -> Self {
        Self::new(0o644)
    }
}

impl PutOptions {
    /// Mode `mode`, no chown, create parents.
    ///
    /// ```
    /// use k8s_bootstrap_core::transport::PutOptions;
    /// let o = PutOptions::new(0o640);
    /// assert_eq!((o.mode, o.owner, o.create_parents), (0o640, None, true));
    /// assert_eq!(PutOptions::default().mode, 0o644);
    /// ```
    pub fn new(mode: u32) -> Self {
        Self {
            mode,
            owner: None,
            create_parents: true,
            probe: true,
        }
    }

    /// Whether to ask the host for its copy before sending (see [`PutOptions::probe`]).
    ///
    /// ```
    /// use k8s_bootstrap_core::transport::PutOptions;
    /// // The facts say the host's etcd binary is another one: send it at once.
    /// let o = PutOptions::new(0o755).probe(false);
    /// assert!(!o.probe && PutOptions::new(0o755).probe);
    /// ```
    #[must_use]
    pub fn probe(mut self, probe: bool) -> Self {
        self.probe = probe;
        self
    }

    /// Sets the owner (`user` or `user:group`).
    ///
    /// ```
    /// use k8s_bootstrap_core::transport::{FileSource, PutOptions, RecordedOp, RecordingTransport, Transport};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let rec = RecordingTransport::new("etcd01");
    /// let opts = PutOptions::new(0o600).owner("etcd:etcd");
    /// rec.put_file("/opt/etcd/ssl/etcd01-server-key.pem", &FileSource::from("..."), &opts).await?;
    /// let RecordedOp::Put { opts, .. } = &rec.ops()[0] else { panic!() };
    /// assert_eq!(opts.owner.as_deref(), Some("etcd:etcd"));
    /// # Ok::<(), k8s_bootstrap_core::transport::TransportError>(())
    /// # }).unwrap();
    /// ```
    #[must_use]
    pub fn owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = Some(owner.into());
        self
    }

    /// Whether to create missing parent directories.
    ///
    /// ```
    /// use k8s_bootstrap_core::transport::{FileSource, LocalTransport, PutOptions, Transport};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let dir = tempfile::tempdir().unwrap();
    /// let t = LocalTransport::rooted(dir.path());
    /// let opts = PutOptions::new(0o644).create_parents(false);
    /// assert!(t.put_file("/opt/etcd/cfg/etcd", &FileSource::from("x"), &opts).await.is_err());
    /// assert!(!dir.path().join("opt").exists()); // nothing was created
    /// # });
    /// ```
    #[must_use]
    pub fn create_parents(mut self, yes: bool) -> Self {
        self.create_parents = yes;
        self
    }
}

/// What [`Transport::put_file`] did.
///
/// ```
/// use k8s_bootstrap_core::transport::PutOutcome;
/// assert!(PutOutcome::Updated.changed());
/// assert!(!PutOutcome::Unchanged.changed());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PutOutcome {
    /// The file did not exist and was written.
    Created,
    /// The content differed and was replaced.
    Updated,
    /// Content was identical; only mode/owner were changed (mtime untouched).
    MetadataUpdated,
    /// Content, mode and owner already matched: nothing was written.
    Unchanged,
}

impl PutOutcome {
    /// True unless [`PutOutcome::Unchanged`].
    ///
    /// ```
    /// use k8s_bootstrap_core::transport::PutOutcome;
    /// assert!(PutOutcome::Created.changed());
    /// assert!(PutOutcome::MetadataUpdated.changed()); // a chmod is a change too
    /// assert!(!PutOutcome::Unchanged.changed());
    /// ```
    pub fn changed(self) -> bool {
        self != Self::Unchanged
    }
}

/// Kind of a filesystem entry.
///
/// ```
/// use k8s_bootstrap_core::transport::{FileKind, LocalTransport, Transport};
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let dir = tempfile::tempdir().unwrap();
/// std::os::unix::fs::symlink("/opt/etcd/bin/etcdctl", dir.path().join("etcdctl")).unwrap();
/// let t = LocalTransport::rooted(dir.path());
/// assert_eq!(t.stat("/").await?.unwrap().kind, FileKind::Dir);
/// assert_eq!(t.stat("/etcdctl").await?.unwrap().kind, FileKind::Symlink); // not followed
/// # Ok::<(), k8s_bootstrap_core::transport::TransportError>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// Regular file.
    File,
    /// Directory.
    Dir,
    /// Symbolic link (not followed).
    Symlink,
    /// Anything else (socket, device, fifo).
    Other,
}

/// Metadata of a path on a host.
///
/// ```
/// use k8s_bootstrap_core::transport::{FileKind, LocalTransport, Transport};
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let dir = tempfile::tempdir().unwrap();
/// let t = LocalTransport::rooted(dir.path());
/// t.write_if_different("/opt/etcd/cfg/etcd", b"ETCD_NAME=etcd01\n", 0o640).await?;
/// let st = t.stat("/opt/etcd/cfg/etcd").await?.unwrap();
/// assert_eq!((st.kind, st.mode, st.size), (FileKind::File, 0o640, 17));
/// assert!(t.stat("/opt/etcd/cfg/absent").await?.is_none());
/// # Ok::<(), k8s_bootstrap_core::transport::TransportError>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileStat {
    /// Kind of entry.
    pub kind: FileKind,
    /// Size in bytes.
    pub size: u64,
    /// Permission bits (`0o7777` mask).
    pub mode: u32,
    /// Owner uid.
    pub uid: u32,
    /// Owner gid.
    pub gid: u32,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
}

/// A host the core can act on. Small on purpose: four required methods,
/// everything else is a default method on top.
///
/// With the `mock` feature (or in this crate's own tests) mockall generates
/// `MockTransport`.
///
/// Implement it to reach hosts another way (a container runtime, a serial
/// console, an archive). The [`Engine`](crate::apply::Engine) needs `run` to
/// execute a POSIX `sh` on the host; builders and your own code need only
/// what they call. A minimal in-memory host:
///
/// ```
/// use std::collections::BTreeMap;
/// use std::sync::Mutex;
/// use async_trait::async_trait;
/// use k8s_bootstrap_core::transport::{
///     Command, FileKind, FileSource, FileStat, Output, PutOptions, PutOutcome, Result, Transport,
/// };
///
/// #[derive(Default)]
/// struct Memory(Mutex<BTreeMap<String, (Vec<u8>, u32)>>);
///
/// #[async_trait]
/// impl Transport for Memory {
///     fn host(&self) -> String {
///         "memory".into()
///     }
///     async fn run(&self, cmd: &Command) -> Result<Output> {
///         println!("would run: {cmd}"); // Display is redacted: env values never shown
///         Ok(Output { exit_code: Some(0), ..Output::default() })
///     }
///     async fn put_file(&self, path: &str, src: &FileSource, opts: &PutOptions) -> Result<PutOutcome> {
///         let FileSource::Bytes(b) = src else { unimplemented!("streamed files") };
///         let mut files = self.0.lock().unwrap();
///         let new = (b.clone(), opts.mode);
///         Ok(match files.insert(path.into(), new.clone()) {
///             None => PutOutcome::Created,
///             Some(old) if old == new => PutOutcome::Unchanged,
///             Some(_) => PutOutcome::Updated,
///         })
///     }
///     async fn read_file(&self, path: &str) -> Result<Option<Vec<u8>>> {
///         Ok(self.0.lock().unwrap().get(path).map(|(b, _)| b.clone()))
///     }
///     async fn stat(&self, path: &str) -> Result<Option<FileStat>> {
///         Ok(self.0.lock().unwrap().get(path).map(|(b, mode)| FileStat {
///             kind: FileKind::File, size: b.len() as u64, mode: *mode, uid: 0, gid: 0, mtime: 0,
///         }))
///     }
/// }
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let host = Memory::default();
/// // The default methods come for free: write_if_different, sha256, systemctl, ...
/// assert!(host.write_if_different("/etc/x.conf", b"a=1\n", 0o644).await?);
/// assert!(!host.write_if_different("/etc/x.conf", b"a=1\n", 0o644).await?);
/// assert_eq!(host.sha256("/etc/absent").await?, None);
/// host.systemctl("restart", "etcd").await?;
/// # Ok::<(), k8s_bootstrap_core::transport::TransportError>(())
/// # }).unwrap();
/// ```
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait Transport: Send + Sync {
    /// The host name used in errors and logs (e.g. `10.77.0.11` or `local`).
    ///
    /// ```
    /// use k8s_bootstrap_core::transport::{LocalTransport, RecordingTransport, Transport};
    /// assert_eq!(RecordingTransport::new("etcd01").host(), "etcd01");
    /// assert_eq!(LocalTransport::new().host(), "local");
    /// ```
    fn host(&self) -> String;

    /// Runs a command. A non-zero exit is *not* an error here (see
    /// [`run_ok`](Transport::run_ok)); a timeout is ([`TransportError::Timeout`]).
    async fn run(&self, cmd: &Command) -> Result<Output>;

    /// Writes a file atomically (temp file in the target dir, fsync,
    /// chmod/chown, rename). Identical content + metadata writes nothing.
    async fn put_file(
        &self,
        path: &str,
        source: &FileSource,
        opts: &PutOptions,
    ) -> Result<PutOutcome>;

    /// Reads a whole file; `Ok(None)` if it does not exist.
    ///
    /// ```
    /// use k8s_bootstrap_core::transport::{LocalTransport, Transport};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let dir = tempfile::tempdir().unwrap();
    /// let t = LocalTransport::rooted(dir.path());
    /// assert_eq!(t.read_file("/run/flannel/subnet.env").await?, None); // absent is not an error
    /// t.write_if_different("/run/flannel/subnet.env", b"FLANNEL_MTU=1450\n", 0o644).await?;
    /// assert_eq!(t.read_file("/run/flannel/subnet.env").await?.unwrap(), b"FLANNEL_MTU=1450\n");
    /// # Ok::<(), k8s_bootstrap_core::transport::TransportError>(())
    /// # }).unwrap();
    /// ```
    async fn read_file(&self, path: &str) -> Result<Option<Vec<u8>>>;

    /// Metadata of `path` (symlinks not followed); `Ok(None)` if absent.
    async fn stat(&self, path: &str) -> Result<Option<FileStat>>;

    /// Puts several files, each atomically as [`put_file`](Transport::put_file)
    /// does, and returns one outcome per file in order. The default puts
    /// them one after another; exec-based transports override it to write
    /// all in-memory files in one round trip.
    ///
    /// ```
    /// use k8s_bootstrap_core::transport::{FileSource, LocalTransport, PutOptions, PutOutcome, Transport};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let dir = tempfile::tempdir().unwrap();
    /// let t = LocalTransport::rooted(dir.path());
    /// let files = vec![
    ///     ("/opt/etcd/cfg/etcd".to_string(), FileSource::from("ETCD_NAME=etcd01\n"), PutOptions::new(0o640)),
    ///     ("/opt/etcd/ssl/ca.pem".to_string(), FileSource::from("-----BEGIN CERTIFICATE-----\n"), PutOptions::new(0o644)),
    /// ];
    /// let outcomes: Vec<PutOutcome> = t.put_files(&files).await.into_iter().map(Result::unwrap).collect();
    /// assert_eq!(outcomes, [PutOutcome::Created, PutOutcome::Created]); // one per file, in order
    /// # });
    /// ```
    async fn put_files(&self, files: &[(String, FileSource, PutOptions)]) -> Vec<Result<PutOutcome>> {
        let mut out = Vec::with_capacity(files.len());
        for (path, source, opts) in files {
            out.push(self.put_file(path, source, opts).await);
        }
        out
    }

    /// Runs a command and fails with [`TransportError::CommandFailed`]
    /// (exit code + stderr tail) unless it exits 0.
    ///
    /// ```
    /// use k8s_bootstrap_core::transport::{Command, LocalTransport, Transport, TransportError};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let t = LocalTransport::new();
    /// assert_eq!(t.run_ok(&Command::new(["echo", "ok"])).await?.stdout_str(), "ok\n");
    /// let err = t.run_ok(&Command::shell("exit 1")).await.unwrap_err();
    /// assert!(matches!(err, TransportError::CommandFailed { code: Some(1), .. }));
    /// // `run` reports the same exit as an Output instead.
    /// assert_eq!(t.run(&Command::shell("exit 1")).await?.exit_code, Some(1));
    /// # Ok::<(), k8s_bootstrap_core::transport::TransportError>(())
    /// # }).unwrap();
    /// ```
    async fn run_ok(&self, cmd: &Command) -> Result<Output> {
        let out = self.run(cmd).await?;
        if out.success() {
            Ok(out)
        } else {
            Err(TransportError::command_failed(&self.host(), cmd, &out))
        }
    }

    /// SHA-256 (hex) of a file on the host, `None` if absent.
    ///
    /// ```
    /// use k8s_bootstrap_core::transport::{LocalTransport, Transport};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let dir = tempfile::tempdir().unwrap();
    /// let t = LocalTransport::rooted(dir.path());
    /// assert_eq!(t.sha256("/opt/etcd/bin/etcd").await?, None);
    /// t.write_if_different("/empty", b"", 0o644).await?;
    /// assert_eq!(t.sha256("/empty").await?.unwrap(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    /// # Ok::<(), k8s_bootstrap_core::transport::TransportError>(())
    /// # }).unwrap();
    /// ```
    async fn sha256(&self, path: &str) -> Result<Option<String>> {
        Ok(self.read_file(path).await?.map(|b| sha256_hex(&b)))
    }

    /// Writes `content` only if it differs: same as [`put_file`](Transport::put_file)
    /// with bytes; returns whether anything changed.
    ///
    /// ```
    /// use k8s_bootstrap_core::transport::{LocalTransport, Transport};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let dir = tempfile::tempdir().unwrap();
    /// let t = LocalTransport::rooted(dir.path());
    /// assert!(t.write_if_different("/opt/etcd/cfg/etcd", b"ETCD_NAME=etcd01\n", 0o640).await?); // created
    /// assert!(!t.write_if_different("/opt/etcd/cfg/etcd", b"ETCD_NAME=etcd01\n", 0o640).await?); // same
    /// assert!(t.write_if_different("/opt/etcd/cfg/etcd", b"ETCD_NAME=etcd01\n", 0o600).await?); // chmod
    /// # Ok::<(), k8s_bootstrap_core::transport::TransportError>(())
    /// # }).unwrap();
    /// ```
    async fn write_if_different(&self, path: &str, content: &[u8], mode: u32) -> Result<bool> {
        let src = FileSource::Bytes(content.to_vec());
        Ok(self
            .put_file(path, &src, &PutOptions::new(mode))
            .await?
            .changed())
    }

    /// `systemctl <verb> <unit>`, checked (e.g. `"restart", "etcd"`).
    ///
    /// ```
    /// use k8s_bootstrap_core::transport::{Command, RecordedOp, RecordingTransport, Transport};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let rec = RecordingTransport::new("etcd01"); // records instead of touching systemd
    /// rec.systemctl("restart", "flanneld").await?;
    /// assert_eq!(rec.ops(), [RecordedOp::Run(Command::new(["systemctl", "restart", "flanneld"]))]);
    /// # Ok::<(), k8s_bootstrap_core::transport::TransportError>(())
    /// # }).unwrap();
    /// ```
    async fn systemctl(&self, verb: &str, unit: &str) -> Result<Output> {
        self.run_ok(&Command::new(["systemctl", verb, unit])).await
    }

    /// `systemctl daemon-reload`, checked.
    ///
    /// ```
    /// use k8s_bootstrap_core::transport::{Command, RecordedOp, RecordingTransport, Transport};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let rec = RecordingTransport::new("etcd01");
    /// rec.daemon_reload().await?;
    /// assert_eq!(rec.ops(), [RecordedOp::Run(Command::new(["systemctl", "daemon-reload"]))]);
    /// # Ok::<(), k8s_bootstrap_core::transport::TransportError>(())
    /// # }).unwrap();
    /// ```
    async fn daemon_reload(&self) -> Result<()> {
        self.run_ok(&Command::new(["systemctl", "daemon-reload"]))
            .await
            .map(drop)
    }

    /// Whether `systemctl is-active <unit>` reports active.
    ///
    /// ```
    /// use k8s_bootstrap_core::transport::{Command, RecordedOp, RecordingTransport, Transport};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let rec = RecordingTransport::new("etcd01"); // every recorded command "succeeds"
    /// assert!(rec.is_active("etcd").await?);
    /// assert_eq!(rec.ops(), [RecordedOp::Run(Command::new(["systemctl", "is-active", "--quiet", "etcd"]))]);
    /// # Ok::<(), k8s_bootstrap_core::transport::TransportError>(())
    /// # }).unwrap();
    /// ```
    async fn is_active(&self, unit: &str) -> Result<bool> {
        Ok(self
            .run(&Command::new(["systemctl", "is-active", "--quiet", unit]))
            .await?
            .success())
    }
}

/// The SHA-256 (hex) of the file at `p` and the number of bytes read, in
/// 1 MiB reads (blocking: call it on a blocking thread).
pub(crate) fn sha256_file(p: &std::path::Path) -> std::io::Result<(String, u64)> {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let mut f = std::fs::File::open(p)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let r = f.read(&mut buf)?;
        if r == 0 {
            break;
        }
        n += r as u64;
        h.update(&buf[..r]);
    }
    Ok((hex::encode(h.finalize()), n))
}

/// SHA-256 of bytes in memory, lowercase hex: the digest every file
/// comparison with a host (`sha256sum` there) uses.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}
