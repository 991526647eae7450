//! `etcd snapshot`: a real etcd v3 snapshot taken over TLS on a member and
//! fetched to the control machine.

use std::time::Duration;

use serde::Serialize;

use super::Engine;
use crate::etcd::{EtcdApi, EtcdCluster, etcdctl_reads_api_env};
use crate::spec::Role;
use crate::transport::{Command, FileSource, PutOptions, Transport, TransportError};

/// What [`Engine::snapshot`] saved.
///
/// ```
/// use k8s_bootstrap_core::apply::SnapshotInfo;
/// let info = SnapshotInfo {
///     member: "etcd01".into(), path: "/backup/etcd.db".into(), bytes: 20_512_800,
///     sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
///     revision: 1042, total_keys: 57,
/// };
/// let json = serde_json::to_value(&info).unwrap(); // as `etcd snapshot --output json`
/// assert_eq!((json["member"].as_str(), json["revision"].as_u64()), (Some("etcd01"), Some(1042)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SnapshotInfo {
    /// The member the snapshot was taken from.
    pub member: String,
    /// Where it was written on the control machine.
    pub path: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// SHA-256 of the file, hex.
    pub sha256: String,
    /// The store revision it holds, from `etcdctl snapshot status`.
    pub revision: u64,
    /// The number of keys it holds.
    pub total_keys: u64,
}

/// Errors of [`Engine::snapshot`].
///
/// ```
/// use k8s_bootstrap_core::apply::SnapshotError;
/// use k8s_bootstrap_core::transport::TransportError;
/// let e = SnapshotError::AllFailed(vec![
///     TransportError::Connect { host: "etcd01".into(), reason: "connection refused".into() },
///     TransportError::Connect { host: "etcd02".into(), reason: "no route to host".into() },
/// ]);
/// assert_eq!(e.to_string(), "no member could take a snapshot:\n  \
///     - etcd01: connect failed: connection refused\n  - etcd02: connect failed: no route to host");
/// assert_eq!(SnapshotError::NoMember.to_string(), "the spec has no etcd member to take a snapshot from");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// The spec has no etcd member.
    #[error("the spec has no etcd member to take a snapshot from")]
    NoMember,
    /// No member could take and hand over a snapshot; one cause per member.
    #[error("no member could take a snapshot:{}", .0.iter().map(|e| format!("\n  - {e}")).collect::<String>())]
    AllFailed(Vec<TransportError>),
    /// `etcdctl snapshot status` printed something unreadable.
    #[error("{host}: unreadable `etcdctl snapshot status` output: {output}")]
    Status {
        /// The member.
        host: String,
        /// What it printed.
        output: String,
    },
    /// Writing the snapshot on the control machine failed.
    #[error("writing the snapshot: {0}")]
    Write(#[source] TransportError),
}

impl Engine {
    /// Takes an etcd snapshot (`etcdctl snapshot save`, v3 API, TLS with
    /// the admin certificate) on the first etcd member that can, checks it
    /// with `etcdctl snapshot status` there, fetches it, writes it to `out`
    /// through `local` atomically with mode 0600 (it holds every key of the
    /// cluster) and removes the member's temporary copy, also on failure.
    /// On etcd 3.6 and later, which dropped `etcdctl snapshot status`, the
    /// check is `etcdutl snapshot status` from the etcd folder's `bin/`:
    /// apply installs etcdutl from `binaries.etcd_release` (its tarball
    /// carries it since 3.5).
    ///
    /// ```no_run
    /// # async fn run(engine: k8s_bootstrap_core::apply::Engine) -> Result<(), Box<dyn std::error::Error>> {
    /// use k8s_bootstrap_core::transport::LocalTransport;
    /// let info = engine.snapshot(&LocalTransport::new(), "/backup/etcd.db").await?;
    /// println!("{} keys at revision {} from {}", info.total_keys, info.revision, info.member);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`SnapshotError`]: every member failed (each cause listed), or the
    /// local write failed (the old file at `out`, if any, is intact).
    pub async fn snapshot(&self, local: &dyn Transport, out: &str) -> Result<SnapshotInfo, SnapshotError> {
        let members: Vec<_> = self.hosts.iter().filter(|h| h.roles.contains(&Role::Etcd)).collect();
        if members.is_empty() {
            return Err(SnapshotError::NoMember);
        }
        // etcdctl itself with the admin wrapper's TLS flags, but one
        // endpoint: etcd refuses a snapshot asked of several, and a second
        // --endpoints would add to the wrapper's list, not replace it.
        let etcdctl = format!("{}/bin/etcdctl", self.spec.layout.etcd_dir);
        let tls: Vec<String> = EtcdCluster::from_spec(&self.spec).etcdctl_flags(EtcdApi::V3).into_iter().filter(|f| !f.starts_with("--endpoints=")).collect();
        // etcd 3.6 removed `etcdctl snapshot status`; etcdutl has it.
        let v = self.spec.versions.etcd;
        let utl = (v.major_minor() >= (3, 6)).then(|| format!("{}/bin/etcdutl", self.spec.layout.etcd_dir));
        let api_env = etcdctl_reads_api_env(v);
        let mut errors = Vec::new();
        for h in members {
            let mut base = vec![etcdctl.clone(), format!("--endpoints={}", super::plan::client_url(&self.spec, &h.name))];
            base.extend(tls.iter().cloned());
            match take(h.transport.as_ref(), &base, utl.as_deref(), api_env).await {
                Ok((bytes, status)) => {
                    let (revision, total_keys) = parse_status(&status).ok_or_else(|| SnapshotError::Status { host: h.name.clone(), output: status.clone() })?;
                    local.put_file(out, &FileSource::Bytes(bytes.clone()), &PutOptions::new(0o600)).await.map_err(SnapshotError::Write)?;
                    return Ok(SnapshotInfo {
                        member: h.name.clone(),
                        path: out.to_string(),
                        bytes: bytes.len() as u64,
                        sha256: crate::transport::sha256_hex(&bytes),
                        revision,
                        total_keys,
                    });
                }
                Err(e) => errors.push(e),
            }
        }
        Err(SnapshotError::AllFailed(errors))
    }
}

/// Saves a snapshot into a fresh temporary directory on the member, reads
/// its status and bytes, and removes the directory whatever happened.
/// etcdctl checks the file up to etcd 3.5; 3.6 moved `snapshot status`
/// to etcdutl (there since 3.5), which `utl` names.
async fn take(t: &dyn Transport, etcdctl: &[String], utl: Option<&str>, api_env: bool) -> Result<(Vec<u8>, String), TransportError> {
    let tmp = t.run_ok(&Command::new(["mktemp", "-d", "/var/tmp/k8s-bootstrap-snapshot.XXXXXX"])).await?.stdout_str().trim().to_string();
    let file = format!("{tmp}/snapshot.db");
    let result = async {
        let env = |c: Command| if api_env { c.env("ETCDCTL_API", "3") } else { c };
        let mut save = etcdctl.to_vec();
        save.extend(["snapshot".into(), "save".into(), file.clone()]);
        t.run_ok(&env(Command::new(save)).timeout(Duration::from_secs(600))).await?;
        let mut status_argv = match utl {
            Some(u) => vec![u.to_string()],
            None => etcdctl.to_vec(),
        };
        status_argv.extend(["snapshot".into(), "status".into(), file.clone(), "-w".into(), "json".into()]);
        let status = t.run_ok(&env(Command::new(status_argv))).await?.stdout_str().to_string();
        let bytes = t.read_file(&file).await?.ok_or_else(|| TransportError::Transfer {
            host: t.host(),
            path: file.clone(),
            reason: "the snapshot vanished before it was fetched".into(),
        })?;
        Ok((bytes, status))
    }
    .await;
    let _ = t.run(&Command::new(["rm", "-rf", "--", tmp.as_str()])).await;
    result
}

/// `{"hash":..,"revision":12,"totalKey":34,"totalSize":..}` → (revision, keys).
pub(super) fn parse_status(s: &str) -> Option<(u64, u64)> {
    let v: serde_json::Value = serde_json::from_str(s.trim()).ok()?;
    Some((v.get("revision")?.as_u64()?, v.get("totalKey")?.as_u64()?))
}

#[cfg(test)]
mod tests {
    use super::parse_status;

    #[test]
    fn status_json_of_etcdctl() {
        assert_eq!(parse_status("{\"hash\":3327418296,\"revision\":17,\"totalKey\":9,\"totalSize\":20480}\n"), Some((17, 9)));
        assert_eq!(parse_status("Error: no such file"), None);
    }
}
