//! [`RecordingTransport`]: records what would run instead of running it.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::{Command, FileSource, FileStat, Output, PutOptions, PutOutcome, Result, Transport};

/// One operation captured by a [`RecordingTransport`].
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

/// Captures every command and file write instead of performing it: the base
/// of dry-run. Commands "succeed" with empty output; writes report
/// [`PutOutcome::Created`]. Reads (`read_file`, `stat`) go to an optional
/// inner transport (so a dry-run can diff against the real host) or report
/// "absent".
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
    pub fn new(host: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            reads_from: None,
            ops: Arc::default(),
        }
    }

    /// Records writes and commands, but answers reads from `inner`.
    pub fn with_reads_from(inner: Arc<dyn Transport>) -> Self {
        Self {
            host: inner.host(),
            reads_from: Some(inner),
            ops: Arc::default(),
        }
    }

    /// Everything recorded so far, in order.
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
