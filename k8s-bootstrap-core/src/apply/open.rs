//! From a spec to a ready [`Engine`] in one call: the PKI folder reconciled,
//! release tarballs fetched, every host connected. Front ends (the CLI, the
//! Python bindings, tools that embed the core) call [`open`] instead of
//! composing the steps themselves.

use std::path::{Path, PathBuf};

use super::hosts::{ConnectOptions, PkiDirError, sync_pki_dir_held};
use super::releases::{ReleaseError, fetch_releases};
use super::{Engine, Error};
use crate::spec::ClusterSpec;
use crate::transport::LocalTransport;

/// What [`open`] needs besides the spec.
///
/// ```
/// use k8s_bootstrap_core::apply::OpenOptions;
/// let o = OpenOptions::beside_spec("clusters/prod/cluster.yaml");
/// assert!(o.pki_dir.ends_with("clusters/prod/pki"));
/// assert!(o.cache_dir.ends_with("clusters/prod/.k8s-bootstrap-cache"));
/// ```
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// Folder of the cluster's certificates on this machine (CA key included).
    pub pki_dir: PathBuf,
    /// Folder where release tarballs fetched by URL are kept.
    pub cache_dir: PathBuf,
    /// How to reach the hosts.
    pub connect: ConnectOptions,
    /// Do not write the PKI folder (plan, status, reset, dry runs): missing
    /// certificates are issued in memory only.
    pub dry_run: bool,
}

impl OpenOptions {
    /// PKI in `pki_dir`, the release cache beside it, default SSH options.
    ///
    /// ```
    /// use k8s_bootstrap_core::apply::OpenOptions;
    /// let o = OpenOptions::new("/srv/clusters/lab/certs");
    /// assert_eq!(o.pki_dir, std::path::Path::new("/srv/clusters/lab/certs"));
    /// assert_eq!(o.cache_dir, std::path::Path::new("/srv/clusters/lab/.k8s-bootstrap-cache"));
    /// assert!(!o.dry_run);
    /// assert!(OpenOptions::new("pki").pki_dir.is_absolute()); // relative to the current directory
    /// ```
    pub fn new(pki_dir: impl Into<PathBuf>) -> Self {
        let pki_dir = absolute(pki_dir.into());
        let cache_dir = pki_dir.parent().unwrap_or(Path::new(".")).join(".k8s-bootstrap-cache");
        OpenOptions { pki_dir, cache_dir, connect: ConnectOptions::default(), dry_run: false }
    }

    /// The conventional layout: `pki/` and `.k8s-bootstrap-cache/` in the
    /// folder of the spec file.
    ///
    /// ```
    /// use k8s_bootstrap_core::apply::OpenOptions;
    /// let o = OpenOptions::beside_spec("/srv/clusters/lab/cluster.yaml");
    /// assert_eq!(o.pki_dir, std::path::Path::new("/srv/clusters/lab/pki"));
    /// // A bare file name: the current directory.
    /// assert_eq!(OpenOptions::beside_spec("cluster.yaml").pki_dir, std::env::current_dir().unwrap().join("pki"));
    /// ```
    pub fn beside_spec(spec_file: impl AsRef<Path>) -> Self {
        let dir = spec_file.as_ref().parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        Self::new(dir.join("pki"))
    }
}

fn absolute(p: PathBuf) -> PathBuf {
    std::path::absolute(&p).unwrap_or(p)
}

/// Errors of [`open`]: nothing was done on any host. A host that cannot be
/// reached is not an error here; it fails its steps in the report.
///
/// ```no_run
/// use k8s_bootstrap_core::apply::{open, OpenError, OpenOptions};
/// # async fn run(spec: k8s_bootstrap_core::spec::ClusterSpec) {
/// match open(&spec, &OpenOptions::new("pki")).await {
///     Ok(opened) => println!("{:?}", opened.engine),
///     Err(OpenError::Pki { dir, source }) => eprintln!("fix the certificates in {}: {source}", dir.display()),
///     Err(OpenError::Releases(e)) => eprintln!("a release tarball: {e}"),
///     Err(e) => eprintln!("{e}"),
/// }
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The PKI folder could not be read, reconciled or written.
    #[error("certificates in {dir}: {source}")]
    Pki {
        /// The folder.
        dir: PathBuf,
        /// The cause.
        #[source]
        source: PkiDirError,
    },
    /// A release tarball could not be fetched or checked.
    #[error(transparent)]
    Releases(#[from] ReleaseError),
    /// The spec does not render, or a host lacks a certificate.
    #[error(transparent)]
    Engine(#[from] Error),
    /// The OpenSSH config file cannot be read or used (file, line and value
    /// in the error). Checked before anything else is done.
    #[cfg(feature = "ssh")]
    #[error(transparent)]
    SshConfig(#[from] crate::transport::SshConfigError),
}

/// A ready engine and the warnings met on the way (a leaf certificate cut to
/// its CA's lifetime, a CA close to expiry, a setting of the OpenSSH config
/// file that is ignored).
///
/// ```no_run
/// use k8s_bootstrap_core::apply::{open, ApplyOptions, OpenOptions};
/// # async fn run(spec: k8s_bootstrap_core::spec::ClusterSpec) -> Result<(), Box<dyn std::error::Error>> {
/// let opened = open(&spec, &OpenOptions::beside_spec("cluster.yaml")).await?;
/// for w in &opened.warnings {
///     eprintln!("warning: {w}"); // e.g. "server: validity cut to the CA's notAfter ..."
/// }
/// let report = opened.engine.apply(&ApplyOptions::default()).await;
/// assert!(report.ok());
/// # Ok(()) }
/// ```
pub struct Opened {
    /// The engine, connected to every host (unreachable hosts fail their
    /// steps with the connection error, the others go on).
    pub engine: Engine,
    /// Warnings for people.
    pub warnings: Vec<String>,
}

/// Resolves every host's SSH settings (the spec's, then the OpenSSH config
/// file's, see [`super::ssh_configs`]), reconciles the PKI folder with the
/// spec (unless `dry_run`: writing it, holding its lock until the engine is
/// dropped, see [`super::PkiLock`]), fetches release tarballs, connects to
/// every host over SSH in parallel and returns the engine.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use k8s_bootstrap_core::apply::{open, ApplyOptions, OpenOptions};
/// use k8s_bootstrap_core::spec::ClusterSpec;
/// let (spec, _warnings) = ClusterSpec::load(&std::fs::read_to_string("cluster.yaml")?)?;
/// let opened = open(&spec, &OpenOptions::beside_spec("cluster.yaml")).await?;
/// let report = opened.engine.apply(&ApplyOptions::default()).await;
/// assert!(report.ok());
/// # Ok(()) }
/// ```
///
/// # Errors
/// [`OpenError`]; unreachable hosts are not errors here (see [`Opened::engine`]).
#[cfg(feature = "ssh")]
pub async fn open(spec: &ClusterSpec, opts: &OpenOptions) -> Result<Opened, OpenError> {
    let ssh = super::hosts::ssh_configs(spec, &opts.connect)?;
    let local = LocalTransport::new();
    let dir = opts.pki_dir.to_string_lossy();
    let pki_err = |source| OpenError::Pki { dir: opts.pki_dir.clone(), source };
    // A run that writes the PKI folder holds its lock until the engine is dropped.
    let pki_lock = super::PkiLock::unless_dry_run(&opts.pki_dir, opts.dry_run).map_err(|e| pki_err(e.into()))?;
    let pki = sync_pki_dir_held(spec, &local, &dir, opts.dry_run).await.map_err(pki_err)?;
    let releases = fetch_releases(spec, &local, &opts.cache_dir.to_string_lossy()).await?;
    let mut warnings = pki.warnings.clone();
    for w in ssh.values().flat_map(|r| &r.warnings) {
        if !warnings.contains(w) {
            warnings.push(w.clone());
        }
    }
    let hosts = super::hosts::connect_all(ssh.into_iter().map(|(name, r)| (name, r.ssh)).collect()).await;
    let mut engine = Engine::new(spec, &pki, hosts)?.with_releases(&releases);
    engine.pki_lock = pki_lock;
    Ok(Opened { engine, warnings })
}
