//! [`LocalTransport`]: this machine, optionally rooted at a directory.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use tokio::io::AsyncWriteExt;

use super::{
    Command, FileKind, FileSource, FileStat, Output, PutOptions, PutOutcome, Result, Transport,
    TransportError, script,
};

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// This machine. With [`LocalTransport::rooted`], every file path is taken
/// relative to a directory (so "render into a folder" and local tests use the
/// same code path as a real host); commands still run on this machine, with
/// the root as working directory.
///
/// ```
/// use k8s_bootstrap_core::transport::{LocalTransport, Transport, PutOptions, FileSource};
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let dir = tempfile::tempdir().unwrap();
/// let out = LocalTransport::rooted(dir.path());
/// // writes <dir>/etc/hosts, not /etc/hosts
/// out.put_file("/etc/hosts", &FileSource::from("127.0.0.1 localhost\n"), &PutOptions::new(0o644)).await?;
/// assert_eq!(std::fs::read_to_string(dir.path().join("etc/hosts")).unwrap(), "127.0.0.1 localhost\n");
/// assert_eq!(out.read_file("/etc/hosts").await?.unwrap(), b"127.0.0.1 localhost\n");
/// # Ok::<(), k8s_bootstrap_core::transport::TransportError>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Debug, Default)]
pub struct LocalTransport {
    root: Option<PathBuf>,
}

impl LocalTransport {
    /// This machine, paths as given.
    ///
    /// ```
    /// use k8s_bootstrap_core::transport::{LocalTransport, Transport};
    /// let t = LocalTransport::new();
    /// assert_eq!(t.host(), "local");
    /// assert_eq!((t.root(), t.map_path("/opt/etcd/cfg/etcd")), (None, "/opt/etcd/cfg/etcd".into()));
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// This machine, every file path taken relative to `dir`.
    ///
    /// ```
    /// use k8s_bootstrap_core::transport::{LocalTransport, Transport};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let dir = tempfile::tempdir().unwrap();
    /// let t = LocalTransport::rooted(dir.path());
    /// assert!(t.write_if_different("/opt/etcd/cfg/etcd", b"ETCD_NAME=etcd01\n", 0o640).await?);
    /// assert!(dir.path().join("opt/etcd/cfg/etcd").is_file());
    /// assert_eq!(t.host(), format!("local:{}", dir.path().display()));
    /// # Ok::<(), k8s_bootstrap_core::transport::TransportError>(())
    /// # }).unwrap();
    /// ```
    pub fn rooted(dir: impl Into<PathBuf>) -> Self {
        Self {
            root: Some(dir.into()),
        }
    }

    /// The directory file paths are relative to, if rooted.
    ///
    /// ```
    /// use k8s_bootstrap_core::transport::LocalTransport;
    /// use std::path::Path;
    /// assert_eq!(LocalTransport::rooted("/srv/render").root(), Some(Path::new("/srv/render")));
    /// assert_eq!(LocalTransport::new().root(), None);
    /// ```
    pub fn root(&self) -> Option<&Path> {
        self.root.as_deref()
    }

    /// The local path a host path maps to.
    ///
    /// ```
    /// use k8s_bootstrap_core::transport::LocalTransport;
    /// use std::path::Path;
    /// let t = LocalTransport::rooted("/srv/render");
    /// assert_eq!(t.map_path("/opt/etcd/cfg/etcd"), Path::new("/srv/render/opt/etcd/cfg/etcd"));
    /// ```
    pub fn map_path(&self, path: &str) -> PathBuf {
        match &self.root {
            Some(r) => r.join(path.trim_start_matches('/')),
            None => PathBuf::from(path),
        }
    }

    fn err(&self, ctx: impl Into<String>, e: std::io::Error) -> TransportError {
        TransportError::io(&self.host(), ctx, e)
    }

    async fn write_new(&self, target: &Path, source: &FileSource, opts: &PutOptions) -> Result<()> {
        let dir = target.parent().unwrap_or(Path::new("/"));
        if opts.create_parents {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(|e| self.err(format!("create {}", dir.display()), e))?;
        }
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = dir.join(format!(
            ".{name}.kbtmp.{}.{}",
            std::process::id(),
            TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let res = self.write_tmp(&tmp, target, source, opts).await;
        if res.is_err() {
            let _ = tokio::fs::remove_file(&tmp).await;
        }
        res
    }

    async fn write_tmp(
        &self,
        tmp: &Path,
        target: &Path,
        source: &FileSource,
        opts: &PutOptions,
    ) -> Result<()> {
        let tmp_err = |e| TransportError::Transfer {
            host: self.host(),
            path: target.display().to_string(),
            reason: format!("{}: {e}", tmp.display()),
        };
        let mut f = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(tmp)
            .await
            .map_err(tmp_err)?;
        let mut reader = source.reader().await.map_err(tmp_err)?;
        tokio::io::copy(&mut reader, &mut f)
            .await
            .map_err(tmp_err)?;
        f.flush().await.map_err(tmp_err)?;
        f.sync_all().await.map_err(tmp_err)?;
        drop(f);
        tokio::fs::set_permissions(tmp, std::fs::Permissions::from_mode(opts.mode))
            .await
            .map_err(tmp_err)?;
        if let Some(owner) = &opts.owner {
            self.chown(owner, tmp).await?;
        }
        tokio::fs::rename(tmp, target).await.map_err(tmp_err)?;
        if let Some(dir) = target.parent()
            && let Ok(d) = tokio::fs::File::open(dir).await
        {
            let _ = d.sync_all().await;
        }
        Ok(())
    }

    /// What [`script::probe`] reports of `target`, read with the file
    /// system calls instead of `sh`, `openssl` and `stat` (a run that keeps
    /// its PKI folder in sync put 18 files through that, 3 processes each,
    /// on every apply); the owner's names are left empty. Not a regular
    /// file (absent, a link, a folder): `None`, as the script says `absent`.
    /// One this user may not read has no digest (it is written).
    async fn probe(&self, target: &Path) -> Result<Option<script::Probe>> {
        let m = match tokio::fs::symlink_metadata(target).await {
            Ok(m) if m.file_type().is_file() => m,
            Ok(_) => return Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.err(format!("stat {}", target.display()), e)),
        };
        let p = target.to_path_buf();
        let sha256 = tokio::task::spawn_blocking(move || super::sha256_file(&p).map(|(d, _)| d))
        .await
        .map_err(|e| self.err(format!("hash {}", target.display()), std::io::Error::other(e)))?
        // one this user cannot read is replaced, as any that differs
        .or_else(|e| if e.kind() == std::io::ErrorKind::PermissionDenied { Ok(String::new()) } else { Err(self.err(format!("read {}", target.display()), e)) })?;
        Ok(Some(script::Probe { sha256, mode: m.mode() & 0o7777, names: String::new(), ids: format!("{}:{}", m.uid(), m.gid()) }))
    }

    async fn chown(&self, owner: &str, path: &Path) -> Result<()> {
        let cmd = Command::new(["chown", "--", owner, &path.to_string_lossy()]);
        self.run_ok(&cmd).await.map(drop)
    }
}

#[async_trait]
impl Transport for LocalTransport {
    fn host(&self) -> String {
        match &self.root {
            Some(r) => format!("local:{}", r.display()),
            None => "local".into(),
        }
    }

    async fn run(&self, cmd: &Command) -> Result<Output> {
        use std::process::Stdio;
        cmd.validate()?;
        let mut c = tokio::process::Command::new(&cmd.argv[0]);
        c.args(&cmd.argv[1..])
            .envs(&cmd.env)
            .stdin(if cmd.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(r) = &self.root {
            c.current_dir(r);
        }
        let mut child = c
            .spawn()
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound if !crate::tools::on_path(&cmd.argv[0]) => {
                    self.err(format!("spawn `{cmd}`: {}", crate::tools::missing(&cmd.argv[0])), e)
                }
                _ => self.err(format!("spawn `{cmd}`"), e),
            })?;
        let stdin_task = match (child.stdin.take(), cmd.stdin.clone()) {
            (Some(mut pipe), Some(bytes)) => Some(tokio::spawn(async move {
                // A command that exits without reading stdin gives EPIPE: not an error.
                let _ = pipe.write_all(&bytes).await;
            })),
            _ => None,
        };
        let wait = child.wait_with_output();
        let out = match cmd.timeout {
            Some(t) => match tokio::time::timeout(t, wait).await {
                Ok(r) => r,
                Err(_) => {
                    return Err(TransportError::Timeout {
                        host: self.host(),
                        command: cmd.to_string(),
                        timeout: t,
                    });
                }
            },
            None => wait.await,
        }
        .map_err(|e| self.err(format!("wait for `{cmd}`"), e))?;
        if let Some(t) = stdin_task {
            let _ = t.await;
        }
        Ok(Output {
            stdout: out.stdout,
            stderr: out.stderr,
            exit_code: out.status.code().map(|c| c as u32),
        })
    }

    async fn put_file(
        &self,
        path: &str,
        source: &FileSource,
        opts: &PutOptions,
    ) -> Result<PutOutcome> {
        let target = self.map_path(path);
        let (sha, _) = source.digest_for(&self.host()).await?;
        let target_str = target.to_string_lossy();
        // An owner is matched by name too: the shell's `stat` resolves the
        // names (NSS included). Without one, the file is read here.
        let existing = match &opts.owner {
            Some(_) => {
                let probe = self
                    .run_ok(&Command::shell(script::with_sha(&script::probe(&target_str))))
                    .await?;
                script::parse_probe(&probe.stdout_str())
            }
            None => self.probe(&target).await?,
        };
        match script::plan(existing.as_ref(), &sha, opts) {
            script::Plan::Unchanged => Ok(PutOutcome::Unchanged),
            script::Plan::MetadataOnly => {
                self.run_ok(&Command::shell(script::set_meta(&target_str, opts)))
                    .await?;
                Ok(PutOutcome::MetadataUpdated)
            }
            script::Plan::Write { existed } => {
                self.write_new(&target, source, opts).await?;
                Ok(if existed {
                    PutOutcome::Updated
                } else {
                    PutOutcome::Created
                })
            }
        }
    }

    async fn read_file(&self, path: &str) -> Result<Option<Vec<u8>>> {
        let p = self.map_path(path);
        match tokio::fs::read(&p).await {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.err(format!("read {}", p.display()), e)),
        }
    }

    async fn stat(&self, path: &str) -> Result<Option<FileStat>> {
        let p = self.map_path(path);
        let m = match tokio::fs::symlink_metadata(&p).await {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.err(format!("stat {}", p.display()), e)),
        };
        let ft = m.file_type();
        let kind = if ft.is_file() {
            FileKind::File
        } else if ft.is_dir() {
            FileKind::Dir
        } else if ft.is_symlink() {
            FileKind::Symlink
        } else {
            FileKind::Other
        };
        Ok(Some(FileStat {
            kind,
            size: m.len(),
            mode: m.mode() & 0o7777,
            uid: m.uid(),
            gid: m.gid(),
            mtime: m.mtime(),
        }))
    }
}
