//! Reaching the hosts of a spec, and keeping the cluster's PKI in a folder
//! of the control machine.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::pki::{CertBundle, Issued};
use crate::spec::ClusterSpec;
use crate::transport::{
    Command, FileSource, FileStat, Output, PutOptions, PutOutcome, Result as TResult, Transport, TransportError,
};
#[cfg(feature = "ssh")]
use crate::transport::{Resolved, SshConfig, SshConfigError, SshConfigFile, SshOverrides, SshTransport};

/// A host that could not be reached: every operation fails with the error
/// its connection attempt gave, so that an [`super::Engine`] reports that
/// host as failed (with host and cause) while the others go on.
///
/// ```
/// use k8s_bootstrap_core::apply::{FailureKind, Unreachable};
/// use k8s_bootstrap_core::transport::{Command, Transport, TransportError};
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let cause = TransportError::Auth { host: "etcd02".into(), user: "deploy".into(), tried: "~/.ssh/id_ed25519".into() };
/// let t = Unreachable::new("etcd02", &cause);
/// assert_eq!(t.host(), "etcd02");
/// let err = t.run(&Command::new(["systemctl", "is-active", "etcd"])).await.unwrap_err();
/// assert_eq!(FailureKind::of(&err), FailureKind::Auth); // the cause keeps its kind
/// assert!(t.read_file("/opt/etcd/cfg/etcd").await.is_err());
/// # });
/// ```
#[derive(Debug)]
pub struct Unreachable {
    host: String,
    error: TransportError,
}

impl Unreachable {
    /// A host whose connection failed with `error`; every operation returns
    /// a copy of it, so a host-key or authentication failure keeps its kind.
    ///
    /// ```
    /// use std::time::Duration;
    /// use k8s_bootstrap_core::apply::Unreachable;
    /// use k8s_bootstrap_core::transport::{Transport, TransportError};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let cause = TransportError::ConnectTimeout { host: "etcd03".into(), timeout: Duration::from_secs(10) };
    /// let t = Unreachable::new("etcd03", &cause);
    /// let err = t.stat("/opt/etcd/bin/etcd").await.unwrap_err();
    /// assert_eq!(err.to_string(), "etcd03: connect timed out after 10s");
    /// assert!(err.is_retryable());
    /// # });
    /// ```
    pub fn new(host: impl Into<String>, error: &TransportError) -> Self {
        Unreachable { host: host.into(), error: error.duplicate() }
    }
    fn err(&self) -> TransportError {
        self.error.duplicate()
    }
}

#[async_trait]
impl Transport for Unreachable {
    fn host(&self) -> String {
        self.host.clone()
    }
    async fn run(&self, _cmd: &Command) -> TResult<Output> {
        Err(self.err())
    }
    async fn put_file(&self, _path: &str, _source: &FileSource, _opts: &PutOptions) -> TResult<PutOutcome> {
        Err(self.err())
    }
    async fn read_file(&self, _path: &str) -> TResult<Option<Vec<u8>>> {
        Err(self.err())
    }
    async fn stat(&self, _path: &str) -> TResult<Option<FileStat>> {
        Err(self.err())
    }
}

/// How to reach the hosts: OpenSSH conventions unless said otherwise. These
/// are the program's options (like `ssh`'s command line); each host's
/// settings come from its spec `ssh` section, then from the OpenSSH config
/// file, then from the defaults (see [`ssh_configs`]).
///
/// ```
/// use std::time::Duration;
/// use k8s_bootstrap_core::apply::{ConnectOptions, OpenOptions};
/// let d = ConnectOptions::default(); // ~/.ssh/config, ~/.ssh/known_hosts, strict, 10 s
/// assert!(d.known_hosts.is_none() && !d.accept_new_host_keys && d.connect_timeout.is_none() && d.ssh_config.is_none());
/// let mut opts = OpenOptions::beside_spec("cluster.yaml");
/// opts.connect = ConnectOptions {
///     known_hosts: Some("clusters/lab/known_hosts".into()),
///     accept_new_host_keys: true, // first contact with fresh VMs; a changed key is still an error
///     connect_timeout: Some(Duration::from_secs(5)),
///     ssh_config: Some("clusters/lab/ssh_config".into()), // like `ssh -F`
/// };
/// assert_eq!(opts.connect.connect_timeout, Some(Duration::from_secs(5)));
/// ```
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    /// known_hosts file (default: ssh_config's `UserKnownHostsFile`, else
    /// `~/.ssh/known_hosts`), for the hosts and their jump hosts.
    pub known_hosts: Option<PathBuf>,
    /// Trust unknown host keys on first use and record them (changed keys stay errors).
    pub accept_new_host_keys: bool,
    /// Connect timeout (default 10 s).
    pub connect_timeout: Option<Duration>,
    /// The OpenSSH client config file to read, like `ssh -F FILE` (`none`:
    /// none). Default: `~/.ssh/config` and `/etc/ssh/ssh_config`, those that exist.
    pub ssh_config: Option<PathBuf>,
}

/// The SSH settings of every host of `spec`, by host name: what the host's
/// `ssh` section gives (user, port, identity, host_key, proxy_jump) wins;
/// the rest comes from the OpenSSH config file ([`ConnectOptions::ssh_config`],
/// default `~/.ssh/config`) whose `Host` and `Match host` lines match the
/// host's name or its address, then from the defaults. Jump hosts get their
/// own settings from the same file. The options in `opts` apply to every
/// host and jump host. Each entry also carries warnings for people (settings
/// or `Match` blocks of the file that were ignored).
///
/// ```
/// use k8s_bootstrap_core::apply::{ssh_configs, ConnectOptions};
/// use k8s_bootstrap_core::spec::{ClusterSpec, HostSpec, Role, SshSpec, Version};
/// let dir = tempfile::tempdir().unwrap();
/// let file = dir.path().join("ssh_config");
/// std::fs::write(&file, "Host etcd01\n  User deploy\n  Port 2222\nHost 192.168.1.*\n  ProxyJump admin@bastion\n").unwrap();
/// let mut h = HostSpec::new("etcd01", [192, 168, 1, 30].into(), &[Role::Etcd]);
/// h.ssh = Some(SshSpec { port: Some(22), ..SshSpec::default() });
/// let spec = ClusterSpec::new(vec![h], Version::new(3, 5, 17), Version::new(0, 26, 1));
/// let opts = ConnectOptions { ssh_config: Some(file), ..ConnectOptions::default() };
/// let ssh = &ssh_configs(&spec, &opts)?["etcd01"].ssh;
/// assert_eq!((ssh.host.as_str(), ssh.user.as_str(), ssh.port), ("192.168.1.30", "deploy", 22)); // the spec's port wins
/// assert_eq!(ssh.proxy_jump.as_ref().map(|j| (j.user.as_str(), j.host.as_str())), Some(("admin", "bastion")));
/// # Ok::<(), k8s_bootstrap_core::transport::SshConfigError>(())
/// ```
///
/// # Errors
/// [`SshConfigError`]: the file cannot be read or used (with file, line and
/// value), for instance `StrictHostKeyChecking no`, which is refused.
#[cfg(feature = "ssh")]
pub fn ssh_configs(spec: &ClusterSpec, opts: &ConnectOptions) -> Result<BTreeMap<String, Resolved>, SshConfigError> {
    let file = match &opts.ssh_config {
        Some(p) => SshConfigFile::load(p)?,
        None => SshConfigFile::load_default()?,
    };
    let mut out = BTreeMap::new();
    for h in &spec.hosts {
        let ssh = h.ssh.clone().unwrap_or_default();
        let given = SshOverrides {
            user: ssh.user,
            port: ssh.port,
            identity_files: ssh.identity.iter().map(|i| expand_home(i)).collect(),
            proxy_jump: ssh.proxy_jump,
            host_key: ssh.host_key,
            known_hosts: opts.known_hosts.clone(),
            accept_new_host_keys: opts.accept_new_host_keys,
        };
        let address = h.address.to_string();
        let mut r = file.resolve_names(&[&h.name, &address], &address, &given)?;
        if let Some(t) = opts.connect_timeout {
            let mut hop = Some(&mut r.ssh);
            while let Some(c) = hop {
                c.connect_timeout = t;
                hop = c.proxy_jump.as_deref_mut();
            }
        }
        out.insert(h.name.clone(), r);
    }
    Ok(out)
}

/// Connects to every host of `spec` over SSH, in parallel, with the
/// settings [`ssh_configs`] gives. A host that cannot be reached gets an
/// [`Unreachable`] transport; if the OpenSSH config file cannot be used,
/// every host does (with that error, [`TransportError::InvalidInput`]).
///
/// ```no_run
/// use k8s_bootstrap_core::apply::{connect, ConnectOptions, Engine};
/// # async fn run(spec: k8s_bootstrap_core::spec::ClusterSpec, pki: k8s_bootstrap_core::pki::Issued) -> Result<(), Box<dyn std::error::Error>> {
/// let hosts = connect(&spec, &ConnectOptions::default()).await;
/// assert_eq!(hosts.len(), spec.hosts.len()); // one transport per host, reachable or not
/// for (name, t) in &hosts {
///     if let Err(e) = t.run(&k8s_bootstrap_core::transport::Command::new(["true"])).await {
///         eprintln!("{name}: {e}");
///     }
/// }
/// let engine = Engine::new(&spec, &pki, hosts)?;
/// # Ok(()) }
/// ```
#[cfg(feature = "ssh")]
pub async fn connect(spec: &ClusterSpec, opts: &ConnectOptions) -> BTreeMap<String, Arc<dyn Transport>> {
    match ssh_configs(spec, opts) {
        Ok(configs) => connect_all(configs.into_iter().map(|(name, r)| (name, r.ssh)).collect()).await,
        Err(e) => {
            let err = TransportError::InvalidInput { reason: e.to_string() };
            spec.hosts.iter().map(|h| (h.name.clone(), Arc::new(Unreachable::new(h.name.clone(), &err)) as Arc<dyn Transport>)).collect()
        }
    }
}

/// Connects to every host, in parallel; unreachable ones get an [`Unreachable`].
#[cfg(feature = "ssh")]
pub(crate) async fn connect_all(configs: BTreeMap<String, SshConfig>) -> BTreeMap<String, Arc<dyn Transport>> {
    let futs = configs.into_iter().map(|(name, cfg)| async move {
        let t: Arc<dyn Transport> = match SshTransport::connect(cfg).await {
            Ok(t) => Arc::new(t),
            Err(e) => Arc::new(Unreachable::new(name.clone(), &e)),
        };
        (name, t)
    });
    futures::future::join_all(futs).await.into_iter().collect()
}

fn expand_home(p: &str) -> PathBuf {
    match (p.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(p),
    }
}

/// [`CertBundle::reconcile`] on tokio's blocking pool: key generation is
/// seconds of CPU (RSA), and run inline it would hold the caller's task
/// that long, so a caller waiting on this future together with something
/// else (a Ctrl-C, a timeout, Python's signal check) could not act until
/// it ended. Dropping the future drops the result: nothing is written.
async fn reconcile_off_the_runtime(bundle: CertBundle, existing: BTreeMap<String, Vec<u8>>) -> Result<Issued, PkiDirError> {
    let now = time::OffsetDateTime::now_utc();
    match tokio::runtime::Handle::try_current() {
        Ok(rt) => match rt.spawn_blocking(move || bundle.reconcile(&existing, now)).await {
            Ok(r) => Ok(r?),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // only when the runtime shuts down under it
            Err(e) => Err(TransportError::io("localhost", "generate the PKI's keys", std::io::Error::other(e.to_string())).into()),
        },
        // Polled outside a tokio runtime (another executor): inline.
        Err(_) => Ok(bundle.reconcile(&existing, now)?),
    }
}

/// Errors of [`sync_pki_dir`].
///
/// ```
/// use k8s_bootstrap_core::apply::{sync_pki_dir, PkiDirError};
/// use k8s_bootstrap_core::pki::Error;
/// use k8s_bootstrap_core::transport::LocalTransport;
/// # use k8s_bootstrap_core::spec::{ClusterSpec, HostSpec, Role, Version};
/// # let spec = ClusterSpec::new(vec![HostSpec::new("etcd01", [192, 168, 1, 30].into(), &[Role::Etcd])], Version::new(3, 5, 17), Version::new(0, 26, 1));
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let dir = tempfile::tempdir().unwrap();
/// std::fs::write(dir.path().join("ca.pem"), "not a certificate\n").unwrap();
/// let err = sync_pki_dir(&spec, &LocalTransport::new(), dir.path().to_str().unwrap(), false).await.unwrap_err();
/// assert!(matches!(err, PkiDirError::Pki(Error::BadPem { path, .. }) if path == "ca.pem"));
/// # });
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PkiDirError {
    /// The bundle could not be built or reconciled.
    #[error(transparent)]
    Pki(#[from] crate::pki::Error),
    /// Reading or writing the folder failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The folder, or a private key in it, can be read (or written) by group
    /// or others: refused, as OpenSSH refuses such private keys. `fix` is the
    /// command that makes it private.
    #[error("{path} is mode {mode:04o}, open to group or others: the cluster's private keys must be private; fix with `{fix}`")]
    Insecure {
        /// The folder or key file.
        path: String,
        /// Its permission bits.
        mode: u32,
        /// The command that fixes it (`chmod 700 DIR` or `chmod 600 KEY`).
        fix: String,
    },
    /// Another run holds the folder's lock (see [`super::PkiLock`]).
    #[error(transparent)]
    Locked(#[from] super::LockError),
}

/// Keeps the cluster's certificate bundle in folder `dir` of the machine
/// `local` reaches (usually [`crate::transport::LocalTransport`]): reads the
/// files there, reconciles them with what the spec asks (keeping every
/// certificate that is still right), and, unless `dry_run`, writes what
/// changed atomically (keys 0600). Returns the bundle.
///
/// ```
/// use k8s_bootstrap_core::apply::sync_pki_dir;
/// use k8s_bootstrap_core::pki::Change;
/// use k8s_bootstrap_core::transport::LocalTransport;
/// # use k8s_bootstrap_core::spec::{ClusterSpec, HostSpec, Role, Version};
/// # let mut spec = ClusterSpec::new(vec![HostSpec::new("etcd01", [192, 168, 1, 30].into(), &[Role::Etcd])], Version::new(3, 5, 17), Version::new(0, 26, 1));
/// # spec.pki.key_algorithm = k8s_bootstrap_core::pki::KeyAlgorithm::EcdsaP256;
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let dir = tempfile::tempdir().unwrap();
/// let pki = dir.path().to_str().unwrap();
/// let first = sync_pki_dir(&spec, &LocalTransport::new(), pki, false).await.unwrap();
/// assert!(dir.path().join("etcd01-peer-key.pem").exists());
/// let again = sync_pki_dir(&spec, &LocalTransport::new(), pki, false).await.unwrap();
/// assert!(again.actions.iter().all(|a| a.change == Change::Kept));
/// assert_eq!(again.as_existing(), first.as_existing());
/// # });
/// ```
///
/// # Errors
/// [`PkiDirError::Pki`] for a bundle that cannot be built or a CA that is
/// broken or expiring; [`PkiDirError::Transport`] for I/O errors, with the path.
///
/// Unless `dry_run`, the folder's lock is held while this runs (see
/// [`super::PkiLock`]; the lock file is on this machine, so `local` should
/// be [`crate::transport::LocalTransport::new`]): another run writing the
/// folder is refused with [`PkiDirError::Locked`].
pub async fn sync_pki_dir(spec: &ClusterSpec, local: &dyn Transport, dir: &str, dry_run: bool) -> Result<Issued, PkiDirError> {
    let _lock = super::PkiLock::unless_dry_run(std::path::Path::new(dir), dry_run)?;
    sync_pki_dir_held(spec, local, dir, dry_run).await
}

/// [`sync_pki_dir`] for a caller that holds the folder's lock (or writes nothing).
pub(crate) async fn sync_pki_dir_held(spec: &ClusterSpec, local: &dyn Transport, dir: &str, dry_run: bool) -> Result<Issued, PkiDirError> {
    let bundle = CertBundle::for_cluster(spec)?;
    let existing = super::pki_dir::read_existing(&bundle, local, dir).await?;
    let issued = reconcile_off_the_runtime(bundle, existing).await?;
    if !dry_run {
        super::pki_dir::write_issued(&issued, local, dir).await?;
    }
    Ok(issued)
}

impl ConnectOptions {
    /// The SSH connect timeout front ends offer unless told otherwise: the
    /// CLI's `--connect-timeout` and Python's `connect_timeout=`; the
    /// transport's own [`SshConfig::DEFAULT_CONNECT_TIMEOUT`](crate::transport::SshConfig::DEFAULT_CONNECT_TIMEOUT).
    ///
    /// ```
    /// use std::time::Duration;
    /// use k8s_bootstrap_core::apply::ConnectOptions;
    /// assert_eq!(ConnectOptions::DEFAULT_CONNECT_TIMEOUT, Duration::from_secs(10));
    /// ```
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = crate::transport::SshConfig::DEFAULT_CONNECT_TIMEOUT;

    /// These options with a connect timeout of `secs` seconds, as people
    /// give it (a command-line flag, a Python keyword): a positive, finite
    /// number.
    ///
    /// ```
    /// use std::time::Duration;
    /// use k8s_bootstrap_core::apply::ConnectOptions;
    /// let o = ConnectOptions::default().connect_timeout_secs(2.5).unwrap();
    /// assert_eq!(o.connect_timeout, Some(Duration::from_millis(2500)));
    /// for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
    ///     let p = ConnectOptions::default().connect_timeout_secs(bad).unwrap_err();
    ///     assert_eq!(p.path, "connect_timeout");
    /// }
    /// ```
    ///
    /// # Errors
    /// A [`crate::spec::Problem`] with path `connect_timeout` and the value.
    pub fn connect_timeout_secs(mut self, secs: f64) -> Result<Self, crate::spec::Problem> {
        let d = Duration::try_from_secs_f64(secs).ok().filter(|d| !d.is_zero()).ok_or_else(|| {
            crate::spec::Problem::new("connect_timeout", secs, "must be a positive number of seconds")
                .fix(format!("use {} (the default)", Self::DEFAULT_CONNECT_TIMEOUT.as_secs()))
        })?;
        self.connect_timeout = Some(d);
        Ok(self)
    }
}
