//! Writing a rendered cluster into a folder (`k8s-bootstrap render --out`):
//! `DIR/<host>/<absolute path>` for every file with its mode, and
//! `DIR/<host>/commands.sh` with the host's commands, for review or for
//! hand-off to another tool.

use super::RenderedCluster;
use crate::transport::{FileSource, PutOptions, PutOutcome, Transport, TransportError};

/// What [`RenderedCluster::write_tree`] did.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use k8s_bootstrap_core::render::TreeWritten;
/// use k8s_bootstrap_core::spec::{ClusterSpec, HostSpec, Role, Version};
/// use k8s_bootstrap_core::transport::LocalTransport;
/// let hosts = vec![HostSpec::new("etcd01", [192, 168, 1, 30].into(), &[Role::Etcd])];
/// let cluster = ClusterSpec::new(hosts, Version::new(3, 5, 17), Version::new(0, 26, 1)).render().unwrap();
/// let dir = tempfile::tempdir().unwrap();
/// let out = dir.path().to_str().unwrap();
/// let first = cluster.write_tree(&LocalTransport::new(), out).await.unwrap();
/// assert_eq!(first.written, cluster.hosts["etcd01"].files.len() + 1); // + commands.sh
/// let again = cluster.write_tree(&LocalTransport::new(), out).await.unwrap();
/// assert_eq!(again, TreeWritten { written: 0, unchanged: first.written });
/// # });
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TreeWritten {
    /// Files written (new or changed).
    pub written: usize,
    /// Files already there with the same bytes and mode.
    pub unchanged: usize,
}

impl RenderedCluster {
    /// Writes every file of every host under `dir` through `local`
    /// (usually [`crate::transport::LocalTransport`]): atomically, with the
    /// rendered modes, leaving files that are already right untouched.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use k8s_bootstrap_core::spec::{ClusterSpec, Skeleton};
    /// use k8s_bootstrap_core::transport::LocalTransport;
    /// let (spec, _) = ClusterSpec::load(&Skeleton::Tutorial.to_yaml()).unwrap();
    /// let dir = tempfile::tempdir().unwrap();
    /// let out = dir.path().to_str().unwrap();
    /// let first = spec.render().unwrap().write_tree(&LocalTransport::new(), out).await.unwrap();
    /// assert!(std::path::Path::new(&format!("{out}/etcd02/opt/etcd/cfg/etcd")).exists());
    /// let again = spec.render().unwrap().write_tree(&LocalTransport::new(), out).await.unwrap();
    /// assert_eq!((again.written, again.unchanged), (0, first.written));
    /// # });
    /// ```
    ///
    /// # Errors
    /// The first [`TransportError`] met (with the path); files written
    /// before it stay written, none is ever half-written.
    pub async fn write_tree(&self, local: &dyn Transport, dir: &str) -> Result<TreeWritten, TransportError> {
        let dir = dir.trim_end_matches('/');
        let mut files = Vec::new();
        for (host, r) in &self.hosts {
            for f in &r.files {
                let path = format!("{dir}/{host}/{}", f.path.trim_start_matches('/'));
                files.push((path, FileSource::Bytes(f.contents.clone()), PutOptions::new(f.mode)));
            }
            files.push((format!("{dir}/{host}/commands.sh"), FileSource::Bytes(r.commands_sh(host).into_bytes()), PutOptions::new(0o755)));
        }
        let mut done = TreeWritten::default();
        for r in local.put_files(&files).await {
            match r? {
                PutOutcome::Unchanged => done.unchanged += 1,
                _ => done.written += 1,
            }
        }
        Ok(done)
    }
}
