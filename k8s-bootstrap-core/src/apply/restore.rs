//! `etcd restore`: the whole etcd cluster rebuilt from a snapshot taken with
//! [`Engine::snapshot`] (disaster recovery: every member lost its data, or
//! the data is wrong and must go back to a known point).

use std::collections::BTreeSet;
use std::time::Duration;

use serde::Serialize;

use super::{ApplyOptions, Engine};
use crate::etcd::etcdctl_reads_api_env;
use crate::shell::shell_quote;
use crate::spec::Role;
use crate::transport::{Command, FileSource, PutOptions, TransportError};

/// What [`Engine::restore`] did.
///
/// ```
/// use k8s_bootstrap_core::apply::RestoreReport;
/// let r = RestoreReport {
///     snapshot: "/backup/etcd.db".into(), sha256: "9f86d0".into(), revision: 1042, total_keys: 57,
///     token: "etcd-cluster-restored-1764849663".into(),
///     members: vec!["etcd01".into(), "etcd02".into(), "etcd03".into()],
///     kept: vec![("etcd01".into(), "/var/lib/etcd/default.etcd.before-restore-1764849663".into())],
///     elapsed_ms: 9800,
/// };
/// let json = serde_json::to_value(&r).unwrap(); // as `etcd restore --output json`
/// assert_eq!(json["revision"], 1042);
/// assert_eq!(json["kept"][0], serde_json::json!(["etcd01", "/var/lib/etcd/default.etcd.before-restore-1764849663"]));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RestoreReport {
    /// The snapshot file on the control machine.
    pub snapshot: String,
    /// Its SHA-256, hex.
    pub sha256: String,
    /// The store revision it holds (`snapshot status`): the cluster's revision after the restore.
    pub revision: u64,
    /// The number of keys it holds.
    pub total_keys: u64,
    /// The new cluster token the members were restored with: the restored
    /// cluster has a new cluster ID, so a member still running on old data
    /// can never join it.
    pub token: String,
    /// The members restored, all of the spec's.
    pub members: Vec<String>,
    /// Per member, where its data directory before the restore was moved
    /// (remove it once the restored cluster is trusted).
    pub kept: Vec<(String, String)>,
    /// Wall time in milliseconds.
    pub elapsed_ms: u64,
}

/// Errors of [`Engine::restore`]. Each says how far the restore got: before
/// [`RestoreError::Step`], nothing was changed on any host.
///
/// ```
/// use k8s_bootstrap_core::apply::RestoreError;
/// let e = RestoreError::Unreachable { hosts: vec!["etcd02".into()] };
/// assert!(e.to_string().starts_with("every member must be reachable to restore: etcd02"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RestoreError {
    /// The snapshot file cannot be read on the control machine.
    #[error("snapshot {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The spec has no etcd member.
    #[error("the spec has no etcd member to restore")]
    NoMember,
    /// A member cannot be reached: a restore needs them all. Nothing was changed.
    #[error("every member must be reachable to restore: {} cannot be reached; nothing was changed", hosts.join(", "))]
    Unreachable {
        /// The members that cannot be reached.
        hosts: Vec<String>,
    },
    /// Another run holds the cluster lock. Nothing was changed.
    #[error("{0}")]
    Locked(String),
    /// The file is not a snapshot etcd can read (`snapshot status` on a
    /// member refused it). Nothing was changed.
    #[error("{host}: {path} is not an etcd snapshot etcd {version} can read: {reason}; nothing was changed")]
    NotASnapshot {
        /// The member that checked it.
        host: String,
        /// The file on the control machine.
        path: String,
        /// The etcd version of the spec.
        version: String,
        /// What `snapshot status` said.
        reason: String,
    },
    /// A step on a member failed after the restore began: the members may
    /// be stopped or half restored. Running the restore again starts over
    /// from the same snapshot (each data directory is moved aside again).
    #[error("{host}: {step} failed: {source}; the restore stopped there (members may be stopped): fix the cause and run the restore again")]
    Step {
        /// The member.
        host: String,
        /// The step.
        step: String,
        /// The cause.
        #[source]
        source: TransportError,
    },
    /// The restored members started but the cluster did not become healthy.
    #[error("{0}")]
    Unhealthy(String),
}

impl Engine {
    /// Rebuilds the etcd cluster from the snapshot at `snapshot` on the
    /// control machine (one taken with [`Engine::snapshot`]), as etcd's
    /// disaster-recovery guide does: the file is uploaded to every member
    /// and checked there (`snapshot status`); then every member's etcd is
    /// stopped, its data directory moved aside
    /// (`<data_dir>.before-restore-<unix time>`), and the snapshot restored
    /// into a new data directory (`snapshot restore` with the member's
    /// name and peer URL, the spec's members and a new cluster token;
    /// etcdctl up to 3.5, etcdutl from 3.6); the members start together
    /// and the cluster must report healthy within `opts.etcd_timeout`. The
    /// cluster then holds exactly the snapshot's keys at its revision.
    /// Runs under the cluster lock (see [`super::LockError`]). Every member
    /// of the spec must be reachable. The members' config files are not
    /// changed: the next apply changes nothing.
    ///
    /// ```no_run
    /// # async fn run(engine: k8s_bootstrap_core::apply::Engine) -> Result<(), Box<dyn std::error::Error>> {
    /// use k8s_bootstrap_core::apply::ApplyOptions;
    /// let r = engine.restore("/backup/etcd.db", &ApplyOptions::default()).await?;
    /// println!("{} keys at revision {} on {}", r.total_keys, r.revision, r.members.join(", "));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`RestoreError`]; before [`RestoreError::Step`] nothing was changed.
    pub async fn restore(&self, snapshot: &str, opts: &ApplyOptions) -> Result<RestoreReport, RestoreError> {
        let start = std::time::Instant::now();
        let bytes = tokio::fs::read(snapshot).await.map_err(|source| RestoreError::Read { path: snapshot.to_string(), source })?;
        let sha256 = crate::transport::sha256_hex(&bytes);
        let mut hosts = self.views(&ApplyOptions { only: None, ..opts.clone() });
        hosts.retain(|h| h.roles.contains(&Role::Etcd));
        if hosts.is_empty() {
            return Err(RestoreError::NoMember);
        }
        let spec = &self.spec;
        let v = spec.versions.etcd;
        let bin = format!("{}/bin", spec.layout.etcd_dir);
        // etcd 3.6 removed `etcdctl snapshot status|restore`; etcdutl has both (since 3.5).
        let tool = if v.major_minor() >= (3, 6) { format!("{bin}/etcdutl") } else { format!("{bin}/etcdctl") };
        let api_env = etcdctl_reads_api_env(v);
        let env = |c: Command| if api_env { c.env("ETCDCTL_API", "3") } else { c };
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let token = format!("{}-restored-{now}", spec.etcd.token);
        let file = format!("/var/tmp/k8s-bootstrap-restore-{now}.db");
        let data_dir = spec.etcd.data_dir.clone();
        let initial_cluster: Vec<String> = spec.hosts_with(Role::Etcd).map(|m| format!("{}=https://{}:{}", m.name, m.address, spec.etcd.peer_port)).collect();
        let initial_cluster = initial_cluster.join(",");

        // Every member reachable, then the lock: nothing changed before both.
        let probe = Command::new(["true"]);
        let probes = futures::future::join_all(hosts.iter().map(|h| h.transport.run_ok(&probe))).await;
        let down: Vec<String> = hosts.iter().zip(&probes).filter(|(_, r)| r.is_err()).map(|(h, _)| h.name.clone()).collect();
        if !down.is_empty() {
            return Err(RestoreError::Unreachable { hosts: down });
        }
        let locks = self.lock_hosts(&mut hosts, opts).await.map_err(|why| {
            let detail: Vec<String> = hosts.iter().filter_map(|h| h.report.failed.as_ref().map(|f| f.error.clone())).collect();
            RestoreError::Locked(format!("{why}: {}", detail.join("; ")))
        })?;
        let step = |host: &str, step: &str| {
            let (host, step) = (host.to_string(), step.to_string());
            move |source| RestoreError::Step { host, step, source }
        };
        let result = async {
            // Upload and check, still changing nothing that etcd uses.
            let put = PutOptions::new(0o600).owner("root:root");
            let source = FileSource::Bytes(bytes.clone());
            let uploads = futures::future::join_all(hosts.iter().map(|h| h.transport.put_file(&file, &source, &put))).await;
            every(&hosts, uploads, &format!("upload the snapshot to {file}"))?;
            let first = &hosts[0];
            let status = first
                .transport
                .run(&env(Command::new([tool.as_str(), "snapshot", "status", file.as_str(), "-w", "json"])))
                .await
                .map_err(step(&first.name, "snapshot status"))?;
            let parsed = status.success().then(|| super::snapshot::parse_status(&status.stdout_str())).flatten();
            let Some((revision, total_keys)) = parsed else {
                return Err(RestoreError::NotASnapshot {
                    host: first.name.clone(),
                    path: snapshot.to_string(),
                    version: v.to_string(),
                    reason: format!("{}{}", status.stdout_str().trim(), status.stderr_str().trim()),
                });
            };
            // From here on the members change: all stop, then each is restored.
            let stop = Command::new(["systemctl", "stop", "etcd"]).timeout(Duration::from_secs(120));
            let stops = futures::future::join_all(hosts.iter().map(|h| h.transport.run_ok(&stop))).await;
            every(&hosts, stops, "systemctl stop etcd")?;
            let aside = format!("{data_dir}.before-restore-{now}");
            let mut kept = Vec::new();
            for h in &hosts {
                let m = spec.hosts.iter().find(|s| s.name == h.name).expect("a member of the spec");
                let peer = format!("https://{}:{}", m.address, spec.etcd.peer_port);
                let restore = [
                    tool.as_str(),
                    "snapshot",
                    "restore",
                    file.as_str(),
                    "--name",
                    m.name.as_str(),
                    "--initial-cluster",
                    initial_cluster.as_str(),
                    "--initial-cluster-token",
                    token.as_str(),
                    "--initial-advertise-peer-urls",
                    peer.as_str(),
                    "--data-dir",
                    data_dir.as_str(),
                ];
                let argv: Vec<String> = restore.iter().map(|a| shell_quote(a).into_owned()).collect();
                let script = format!(
                    "set -e\nif [ -e {d} ]; then mv -- {d} {a}; echo moved; fi\n{}\n",
                    argv.join(" "),
                    d = shell_quote(&data_dir),
                    a = shell_quote(&aside)
                );
                let out = h.transport.run_ok(&env(Command::shell(script)).timeout(Duration::from_secs(600))).await.map_err(step(&h.name, "snapshot restore"))?;
                if out.stdout_str().lines().any(|l| l == "moved") {
                    kept.push((h.name.clone(), aside.clone()));
                }
            }
            // Together: a Type=notify member is ready only once a quorum is.
            let start_etcd = super::unit_command("etcd", "start", true).timeout(Duration::from_secs(180));
            let starts = futures::future::join_all(hosts.iter().map(|h| h.transport.run_ok(&start_etcd))).await;
            every(&hosts, starts, "systemctl start etcd")?;
            let ctx = self.ctx(opts);
            ctx.wait_healthy(&mut hosts, opts.etcd_timeout, &BTreeSet::new()).await.map_err(RestoreError::Unhealthy)?;
            Ok((revision, total_keys, kept))
        }
        .await;
        let rm = Command::new(["rm", "-f", "--", file.as_str()]);
        futures::future::join_all(hosts.iter().map(|h| h.transport.run(&rm))).await;
        locks.release().await;
        let (revision, total_keys, kept) = result?;
        Ok(RestoreReport {
            snapshot: snapshot.to_string(),
            sha256,
            revision,
            total_keys,
            token,
            members: hosts.iter().map(|h| h.name.clone()).collect(),
            kept,
            elapsed_ms: start.elapsed().as_millis() as u64,
        })
    }
}

/// The first failure of a step run on every member, as [`RestoreError::Step`].
#[allow(clippy::result_large_err)] // the error `Engine::restore` returns, built once per restore
fn every<T>(hosts: &[super::HostView<'_>], results: Vec<Result<T, TransportError>>, step: &str) -> Result<(), RestoreError> {
    for (h, r) in hosts.iter().zip(results) {
        r.map_err(|source| RestoreError::Step { host: h.name.clone(), step: step.to_string(), source })?;
    }
    Ok(())
}
