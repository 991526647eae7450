//! The cluster's PKI folder on the control machine: what is in it, when it
//! expires (`certs check-expiration`) and renewing leaves (`certs renew`).
//! Reads and writes go through a [`Transport`] (usually
//! [`crate::transport::LocalTransport`]).

use std::collections::BTreeMap;

use serde::Serialize;
use time::OffsetDateTime;

use super::hosts::PkiDirError;
use crate::pki::{CertBundle, CertId, Issued, inspect_cert};
use crate::spec::ClusterSpec;
use crate::shell::shell_quote;
use crate::transport::{Command, FileSource, FileStat, PutOptions, Transport};

/// Mode of the PKI folder: only its owner may enter it.
pub(crate) const DIR_MODE: u32 = 0o700;

/// Refuses a PKI folder or private key that group or others can reach
/// (`mode & 0o077`), naming the path and the `chmod` that fixes it.
fn check_private(path: &str, stat: Option<FileStat>, private_mode: u32) -> Result<(), PkiDirError> {
    match stat {
        Some(st) if st.mode & 0o077 != 0 => {
            Err(PkiDirError::Insecure { path: path.to_string(), mode: st.mode, fix: format!("chmod {private_mode:o} {}", shell_quote(path)) })
        }
        _ => Ok(()),
    }
}

/// Reads the files of `bundle` (certificates, keys, the CA key) that exist
/// in `dir`, by bundle-relative path, after checking that every key in it
/// is private, and the folder too when it holds a key
/// ([`PkiDirError::Insecure`] otherwise). A folder without keys yet may be
/// open: [`write_issued`] makes it private before the first key goes in.
pub(crate) async fn read_existing(bundle: &CertBundle, local: &dyn Transport, dir: &str) -> Result<BTreeMap<String, Vec<u8>>, PkiDirError> {
    let dir_stat = local.stat(dir).await?;
    let mut existing = BTreeMap::new();
    let mut names: Vec<(String, bool)> = vec![("ca-key.pem".into(), true)];
    for id in bundle.wanted() {
        names.push((id.cert_file(), false));
        names.push((id.key_file(), true));
    }
    for (name, key) in names {
        let path = format!("{dir}/{name}");
        if key && let Some(st) = local.stat(&path).await? {
            check_private(dir, dir_stat.clone(), DIR_MODE)?;
            check_private(&path, Some(st), 0o600)?;
        }
        if let Some(b) = local.read_file(&path).await? {
            existing.insert(name, b);
        }
    }
    Ok(existing)
}

/// Writes every file of `issued` into `dir` atomically (keys 0600), after
/// making the folder private: created 0700 when absent, set to 0700 when it
/// exists without keys (as a fresh `mkdir pki` or temporary folder does).
pub(crate) async fn write_issued(issued: &Issued, local: &dyn Transport, dir: &str) -> Result<(), PkiDirError> {
    if issued.files.is_empty() {
        return Ok(());
    }
    match local.stat(dir).await? {
        // `mkdir -p` makes the parents with the umask, and `-m` sets the
        // folder's own mode whatever the umask is.
        None => drop(local.run_ok(&Command::new(["mkdir", "-p", "-m", "700", "--", dir])).await?),
        Some(st) if st.mode & 0o077 != 0 => drop(local.run_ok(&Command::new(["chmod", "700", "--", dir])).await?),
        Some(_) => {}
    }
    check_private(dir, local.stat(dir).await?, DIR_MODE)?;
    for f in &issued.files {
        local.put_file(&format!("{dir}/{}", f.path), &FileSource::Bytes(f.contents.clone()), &PutOptions::new(f.mode)).await?;
    }
    Ok(())
}

/// The state of one certificate of the bundle.
///
/// ```
/// use k8s_bootstrap_core::apply::{check_expiration, CertState};
/// use k8s_bootstrap_core::transport::LocalTransport;
/// # use k8s_bootstrap_core::spec::{ClusterSpec, HostSpec, Role, Version};
/// # let spec = ClusterSpec::new(vec![HostSpec::new("etcd01", [192, 168, 1, 30].into(), &[Role::Etcd])], Version::new(3, 5, 17), Version::new(0, 26, 1));
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let empty = tempfile::tempdir().unwrap(); // before `certs generate`
/// let rows = check_expiration(&spec, &LocalTransport::new(), empty.path().to_str().unwrap(), time::OffsetDateTime::now_utc()).await.unwrap();
/// assert!(rows.iter().all(|r| r.state == CertState::Missing));
/// assert_eq!(serde_json::to_string(&CertState::RenewalDue).unwrap(), r#""renewal-due""#);
/// # });
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CertState {
    /// Valid and outside the renewal window.
    Ok,
    /// Valid, but within `renew_before_days` of expiry: the next apply (or
    /// `certs renew`) issues a new one.
    RenewalDue,
    /// Past its notAfter.
    Expired,
    /// Not in the folder (the next `certs generate` or apply issues it).
    Missing,
}

/// One row of [`check_expiration`].
///
/// ```
/// use k8s_bootstrap_core::apply::{check_expiration, sync_pki_dir, CertState};
/// use k8s_bootstrap_core::transport::LocalTransport;
/// # use k8s_bootstrap_core::spec::{ClusterSpec, HostSpec, Role, Version};
/// # let mut spec = ClusterSpec::new(vec![HostSpec::new("etcd01", [192, 168, 1, 30].into(), &[Role::Etcd])], Version::new(3, 5, 17), Version::new(0, 26, 1));
/// # spec.pki.key_algorithm = k8s_bootstrap_core::pki::KeyAlgorithm::EcdsaP256;
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let dir = tempfile::tempdir().unwrap();
/// let pki = dir.path().to_str().unwrap();
/// sync_pki_dir(&spec, &LocalTransport::new(), pki, false).await.unwrap();
/// // 350 days on, the leaves (365 days) are inside the 30-day renewal window.
/// let later = time::OffsetDateTime::now_utc() + time::Duration::days(350);
/// let rows = check_expiration(&spec, &LocalTransport::new(), pki, later).await.unwrap();
/// assert_eq!((rows[0].name.as_str(), rows[0].authority.as_deref(), &rows[0].state), ("ca", None, &CertState::Ok));
/// let server = rows.iter().find(|r| r.name == "etcd01-server").unwrap();
/// assert_eq!((server.file.as_str(), server.authority.as_deref()), ("etcd01-server.pem", Some("ca")));
/// assert_eq!(server.state, CertState::RenewalDue);
/// assert!(matches!(server.days_left, Some(13..=15)));
/// # });
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertExpiry {
    /// The certificate's name (`ca`, `etcd01-server`, `admin`, ...), as
    /// `certs renew NAME` takes it.
    pub name: String,
    /// Its file in the folder.
    pub file: String,
    /// notAfter (`None` when missing).
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires: Option<OffsetDateTime>,
    /// Whole days left (negative when expired; `None` when missing).
    pub days_left: Option<i64>,
    /// The name of the CA that signed it (`None` for the CA itself).
    pub authority: Option<String>,
    /// Its state.
    pub state: CertState,
}

/// Every certificate the spec's bundle holds, as found in `dir` at `now`:
/// expiry, residual time and state, CA first, like `kubeadm certs
/// check-expiration`.
///
/// ```no_run
/// # async fn run(spec: k8s_bootstrap_core::spec::ClusterSpec) -> Result<(), Box<dyn std::error::Error>> {
/// use k8s_bootstrap_core::apply::{check_expiration, CertState};
/// use k8s_bootstrap_core::transport::LocalTransport;
/// let rows = check_expiration(&spec, &LocalTransport::new(), "pki", time::OffsetDateTime::now_utc()).await?;
/// for r in rows.iter().filter(|r| r.state != CertState::Ok) {
///     println!("{}: {:?}", r.name, r.state);
/// }
/// # Ok(()) }
/// ```
///
/// # Errors
/// [`PkiDirError::Pki`] when the spec's bundle cannot be built or a file is
/// not a certificate; [`PkiDirError::Transport`] for read errors.
pub async fn check_expiration(spec: &ClusterSpec, local: &dyn Transport, dir: &str, now: OffsetDateTime) -> Result<Vec<CertExpiry>, PkiDirError> {
    let bundle = CertBundle::for_cluster(spec)?;
    let existing = read_existing(&bundle, local, dir).await?;
    let renew_before = i64::from(spec.pki.renew_before_days);
    let mut rows = Vec::new();
    for id in bundle.wanted() {
        let file = id.cert_file();
        let authority = (id != CertId::Ca).then(|| "ca".to_string());
        let row = match existing.get(&file) {
            None => CertExpiry { name: id.to_string(), file, expires: None, days_left: None, authority, state: CertState::Missing },
            Some(pem) => {
                let info = inspect_cert(&file, pem, now)?;
                let state = if info.not_after <= now {
                    CertState::Expired
                } else if id != CertId::Ca && info.days_left < renew_before {
                    CertState::RenewalDue
                } else {
                    CertState::Ok
                };
                CertExpiry {
                    name: id.to_string(),
                    file,
                    expires: Some(info.not_after),
                    days_left: Some(info.days_left),
                    authority,
                    state,
                }
            }
        };
        rows.push(row);
    }
    Ok(rows)
}

/// Which leaves [`renew_certs`] renews.
///
/// ```
/// use k8s_bootstrap_core::apply::{renew_certs, sync_pki_dir, Renew};
/// use k8s_bootstrap_core::transport::LocalTransport;
/// # use k8s_bootstrap_core::spec::{ClusterSpec, HostSpec, Role, Version};
/// # let mut spec = ClusterSpec::new(vec![HostSpec::new("etcd01", [192, 168, 1, 30].into(), &[Role::Etcd])], Version::new(3, 5, 17), Version::new(0, 26, 1));
/// # spec.pki.key_algorithm = k8s_bootstrap_core::pki::KeyAlgorithm::EcdsaP256;
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let dir = tempfile::tempdir().unwrap();
/// let (local, pki) = (LocalTransport::new(), dir.path().to_str().unwrap());
/// sync_pki_dir(&spec, &local, pki, false).await.unwrap();
/// let all = renew_certs(&spec, &local, pki, &Renew::All, true).await.unwrap(); // dry run
/// let names: Vec<String> = all.issued().map(|a| a.id.to_string()).collect();
/// assert_eq!(names, ["etcd01-server", "etcd01-peer", "admin", "flanneld"]); // never the CA
/// # });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Renew {
    /// Every leaf certificate of the bundle (not the CA).
    All,
    /// These, by name (`etcd01-server`, `admin`, ...).
    Named(Vec<String>),
}

/// Issues new keys and certificates for the chosen leaves of the bundle in
/// `dir` (signed by the existing CA), keeps every other file as it is, and
/// writes the result atomically unless `dry_run`. Hosts get the new
/// certificates, and their units restart, on the next apply.
///
/// ```
/// use k8s_bootstrap_core::apply::{renew_certs, sync_pki_dir, PkiDirError, Renew};
/// use k8s_bootstrap_core::pki::Error;
/// use k8s_bootstrap_core::transport::LocalTransport;
/// # use k8s_bootstrap_core::spec::{ClusterSpec, HostSpec, Role, Version};
/// # let mut spec = ClusterSpec::new(vec![HostSpec::new("etcd01", [192, 168, 1, 30].into(), &[Role::Etcd])], Version::new(3, 5, 17), Version::new(0, 26, 1));
/// # spec.pki.key_algorithm = k8s_bootstrap_core::pki::KeyAlgorithm::EcdsaP256;
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let dir = tempfile::tempdir().unwrap();
/// let (local, pki) = (LocalTransport::new(), dir.path().to_str().unwrap());
/// let before = sync_pki_dir(&spec, &local, pki, false).await.unwrap();
/// // `certs renew admin`: a new key and certificate for etcdctl, the rest as it was.
/// let after = renew_certs(&spec, &local, pki, &Renew::Named(vec!["admin".into()]), false).await.unwrap();
/// assert_ne!(std::fs::read(dir.path().join("admin-key.pem")).unwrap(), before.file("admin-key.pem").unwrap().contents);
/// assert_eq!(after.file("ca.pem").unwrap().contents, before.file("ca.pem").unwrap().contents);
/// let err = renew_certs(&spec, &local, pki, &Renew::Named(vec!["etcd1-server".into()]), false).await.unwrap_err();
/// assert!(matches!(err, PkiDirError::Pki(Error::InvalidField { field, value, .. }) if field == "renew" && value == "etcd1-server"));
/// # });
/// ```
///
/// # Errors
/// [`PkiDirError::Pki`] with [`crate::pki::Error::InvalidField`] naming
/// `renew` and the value for an unknown name or the CA; other
/// [`crate::pki::Error`]s for a broken or absent CA;
/// [`PkiDirError::Transport`] for I/O errors.
pub async fn renew_certs(spec: &ClusterSpec, local: &dyn Transport, dir: &str, which: &Renew, dry_run: bool) -> Result<Issued, PkiDirError> {
    let _lock = super::PkiLock::unless_dry_run(std::path::Path::new(dir), dry_run)?;
    let bundle = CertBundle::for_cluster(spec)?;
    let existing = read_existing(&bundle, local, dir).await?;
    let wanted = bundle.wanted();
    let leaves: Vec<CertId> = wanted.iter().filter(|id| **id != CertId::Ca).cloned().collect();
    let ids: Vec<CertId> = match which {
        Renew::All => leaves,
        Renew::Named(names) => {
            let mut ids = Vec::new();
            for n in names {
                match wanted.iter().find(|id| id.stem() == *n) {
                    Some(id) => ids.push(id.clone()),
                    None => {
                        let known: Vec<String> = leaves.iter().map(|l| l.to_string()).collect();
                        return Err(crate::pki::Error::invalid("renew", n.clone(), format!("no such certificate (one of: {})", known.join(", "))).into());
                    }
                }
            }
            ids
        }
    };
    let issued = bundle.reconcile_renewing(&existing, OffsetDateTime::now_utc(), &ids)?;
    if !dry_run {
        write_issued(&issued, local, dir).await?;
    }
    Ok(issued)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{HostSpec, Role, Version};
    use crate::transport::LocalTransport;

    fn spec() -> ClusterSpec {
        let hosts = vec![
            HostSpec::new("etcd01", "10.0.0.1".parse().unwrap(), &[Role::Etcd, Role::Node]),
            HostSpec::new("etcd02", "10.0.0.2".parse().unwrap(), &[Role::Etcd, Role::Node]),
        ];
        let mut s = ClusterSpec::new(hosts, "3.4.23".parse::<Version>().unwrap(), "0.26.1".parse::<Version>().unwrap());
        s.pki.key_algorithm = crate::pki::KeyAlgorithm::EcdsaP256;
        s
    }

    #[tokio::test]
    async fn expiration_then_renew_only_what_was_named() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_str().unwrap();
        let local = LocalTransport::new();
        let s = spec();
        let rows = check_expiration(&s, &local, dir, OffsetDateTime::now_utc()).await.unwrap();
        assert!(rows.iter().all(|r| r.state == CertState::Missing), "{rows:?}");
        super::super::sync_pki_dir(&s, &local, dir, false).await.unwrap();
        let rows = check_expiration(&s, &local, dir, OffsetDateTime::now_utc()).await.unwrap();
        assert_eq!(rows[0].name, "ca");
        assert!(rows[0].authority.is_none());
        assert!(rows.iter().all(|r| r.state == CertState::Ok), "{rows:?}");
        let admin_before = std::fs::read(tmp.path().join("admin.pem")).unwrap();
        let server_before = std::fs::read(tmp.path().join("etcd01-server.pem")).unwrap();
        // 340 days from now, every leaf is in its 30-day renewal window.
        let later = OffsetDateTime::now_utc() + time::Duration::days(340);
        let rows = check_expiration(&s, &local, dir, later).await.unwrap();
        assert!(rows.iter().skip(1).all(|r| r.state == CertState::RenewalDue), "{rows:?}");
        let issued = renew_certs(&s, &local, dir, &Renew::Named(vec!["admin".into()]), false).await.unwrap();
        assert_eq!(issued.issued().map(|a| a.id.to_string()).collect::<Vec<_>>(), ["admin"]);
        assert_ne!(std::fs::read(tmp.path().join("admin.pem")).unwrap(), admin_before);
        assert_eq!(std::fs::read(tmp.path().join("etcd01-server.pem")).unwrap(), server_before);
        let e = renew_certs(&s, &local, dir, &Renew::Named(vec!["etcd09-server".into()]), false).await.unwrap_err();
        assert!(e.to_string().contains("etcd09-server") && e.to_string().contains("etcd01-server"), "{e}");
        let e = renew_certs(&s, &local, dir, &Renew::Named(vec!["ca".into()]), false).await.unwrap_err();
        assert!(e.to_string().contains("CA is not renewed"), "{e}");
        let all = renew_certs(&s, &local, dir, &Renew::All, true).await.unwrap();
        assert_eq!(all.issued().count(), rows.len() - 1);
        assert_eq!(std::fs::read(tmp.path().join("etcd01-server.pem")).unwrap(), server_before, "dry run wrote nothing");
    }
}
