//! [`RecordingTransport`]: records what would run instead of running it.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::{Command, FileSource, FileStat, Output, PutOptions, PutOutcome, Result, Transport};

/// One operation captured by a [`RecordingTransport`].
///
/// ```
/// use k8s_bootstrap_core::transport::{FileSource, PutOptions, RecordedOp, RecordingTransport, Transport};
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let rec = RecordingTransport::new("etcd01");
/// rec.put_file("/opt/etcd/cfg/etcd", &FileSource::from("ETCD_NAME=etcd01\n"), &PutOptions::new(0o640)).await?;
/// let RecordedOp::Put { path, size, sha256, opts } = &rec.ops()[0] else { panic!() };
/// assert_eq!((path.as_str(), *size, opts.mode), ("/opt/etcd/cfg/etcd", 17, 0o640));
/// assert_eq!(sha256.len(), 64); // the content itself is not kept
/// # Ok::<(), k8s_bootstrap_core::transport::TransportError>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordedOp {
    /// A command that would run.
    Run(Command),
    /// A file that would be written.
    Put {
        /// Target path.
        path: String,
        /// SHA-256 (hex) of the content.
        sha256: String,
        /// Content length.
        size: u64,
        /// Mode, owner, parents.
        opts: PutOptions,
    },
}

/// Captures every command and file write instead of performing it, for
/// tools that want to see what would be sent to a host. Commands "succeed"
/// with empty output; writes report [`PutOutcome::Created`]. Reads
/// (`read_file`, `stat`) go to an optional inner transport or report
/// "absent". It is not a host the [`crate::apply::Engine`] can plan
/// against: the engine's batched checks expect one result line per command
/// and get none. For a dry run of the engine use
/// [`crate::apply::Engine::plan`] over the real transport, which only reads.
///
/// ```
/// use k8s_bootstrap_core::transport::{Command, RecordingTransport, RecordedOp, Transport};
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let rec = RecordingTransport::new("node1");
/// rec.run(&Command::new(["systemctl", "restart", "etcd"])).await.unwrap();
/// assert_eq!(rec.ops(), vec![RecordedOp::Run(Command::new(["systemctl", "restart", "etcd"]))]);
/// # });
/// ```
#[derive(Clone)]
pub struct RecordingTransport {
    host: String,
    reads_from: Option<Arc<dyn Transport>>,
    ops: Arc<Mutex<Vec<RecordedOp>>>,
}

impl std::fmt::Debug for RecordingTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordingTransport")
            .field("host", &self.host)
            .field("ops", &self.ops.lock().map(|o| o.len()).unwrap_or(0))
            .finish()
    }
}

impl RecordingTransport {
    /// Records for `host`; reads report "absent".
    ///
    /// ```
    /// use k8s_bootstrap_core::transport::{RecordingTransport, Transport};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let rec = RecordingTransport::new("etcd01");
    /// assert_eq!(rec.host(), "etcd01");
    /// assert_eq!(rec.read_file("/opt/etcd/cfg/etcd").await?, None); // every file looks absent
    /// # Ok::<(), k8s_bootstrap_core::transport::TransportError>(())
    /// # }).unwrap();
    /// ```
    pub fn new(host: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            reads_from: None,
            ops: Arc::default(),
        }
    }

    /// Records writes and commands, but answers reads from `inner`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use k8s_bootstrap_core::transport::{LocalTransport, RecordingTransport, Transport};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let dir = tempfile::tempdir().unwrap();
    /// std::fs::write(dir.path().join("etcd.env"), "ETCD_NAME=old\n").unwrap();
    /// let rec = RecordingTransport::with_reads_from(Arc::new(LocalTransport::rooted(dir.path())));
    /// assert_eq!(rec.read_file("/etcd.env").await?.unwrap(), b"ETCD_NAME=old\n"); // real reads
    /// rec.write_if_different("/etcd.env", b"ETCD_NAME=etcd01\n", 0o640).await?; // recorded only
    /// assert_eq!(std::fs::read_to_string(dir.path().join("etcd.env")).unwrap(), "ETCD_NAME=old\n");
    /// # Ok::<(), k8s_bootstrap_core::transport::TransportError>(())
    /// # }).unwrap();
    /// ```
    pub fn with_reads_from(inner: Arc<dyn Transport>) -> Self {
        Self {
            host: inner.host(),
            reads_from: Some(inner),
            ops: Arc::default(),
        }
    }

    /// Everything recorded so far, in order.
    ///
    /// ```
    /// use k8s_bootstrap_core::transport::{RecordedOp, RecordingTransport, Transport};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let rec = RecordingTransport::new("etcd01");
    /// rec.daemon_reload().await?;
    /// rec.systemctl("restart", "etcd").await?;
    /// let argv: Vec<String> = rec.ops().iter().map(|op| match op {
    ///     RecordedOp::Run(c) => c.to_string(),
    ///     RecordedOp::Put { path, .. } => path.clone(),
    /// }).collect();
    /// assert_eq!(argv, ["systemctl daemon-reload", "systemctl restart etcd"]);
    /// # Ok::<(), k8s_bootstrap_core::transport::TransportError>(())
    /// # }).unwrap();
    /// ```
    pub fn ops(&self) -> Vec<RecordedOp> {
        self.ops.lock().map(|o| o.clone()).unwrap_or_default()
    }

    fn push(&self, op: RecordedOp) {
        if let Ok(mut o) = self.ops.lock() {
            o.push(op);
        }
    }
}

#[async_trait]
impl Transport for RecordingTransport {
    fn host(&self) -> String {
        self.host.clone()
    }

    async fn run(&self, cmd: &Command) -> Result<Output> {
        cmd.validate()?;
        self.push(RecordedOp::Run(cmd.clone()));
        Ok(Output {
            exit_code: Some(0),
            ..Output::default()
        })
    }

    async fn put_file(
        &self,
        path: &str,
        source: &FileSource,
        opts: &PutOptions,
    ) -> Result<PutOutcome> {
        let (sha256, size) = source.digest_for(&self.host).await?;
        self.push(RecordedOp::Put {
            path: path.to_string(),
            sha256,
            size,
            opts: opts.clone(),
        });
        Ok(PutOutcome::Created)
    }

    async fn read_file(&self, path: &str) -> Result<Option<Vec<u8>>> {
        match &self.reads_from {
            Some(t) => t.read_file(path).await,
            None => Ok(None),
        }
    }

    async fn stat(&self, path: &str) -> Result<Option<FileStat>> {
        match &self.reads_from {
            Some(t) => t.stat(path).await,
            None => Ok(None),
        }
    }
}
