//! Binaries from release tarballs in the upstream layout
//! (`etcd-v3.3.13-linux-amd64.tar.gz`, `flannel-v0.11.0-linux-amd64.tar.gz`),
//! from a file or a URL with a required SHA-256, fetched once on the
//! control machine (through its transport) and then uploaded by apply.

use std::collections::BTreeMap;
use std::io::Read;

use crate::transport::sha256_hex;

use crate::spec::{ClusterSpec, ReleaseSource};
use crate::transport::{Command, FileSource, PutOptions, Transport, TransportError};

/// Errors of [`fetch_releases`].
///
/// ```
/// use k8s_bootstrap_core::apply::{fetch_releases, ReleaseError};
/// use k8s_bootstrap_core::spec::ReleaseSource;
/// use k8s_bootstrap_core::transport::LocalTransport;
/// # use k8s_bootstrap_core::spec::{ClusterSpec, HostSpec, Role, Version};
/// # let mut spec = ClusterSpec::new(vec![HostSpec::new("etcd01", [192, 168, 1, 30].into(), &[Role::Etcd])], Version::new(3, 5, 17), Version::new(0, 26, 1));
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let tgz = "/nonexistent/etcd-v3.5.17-linux-amd64.tar.gz";
/// spec.binaries.etcd_release = Some(ReleaseSource { path: Some(tgz.into()), ..Default::default() });
/// let err = fetch_releases(&spec, &LocalTransport::new(), "/tmp/cache").await.unwrap_err();
/// assert!(matches!(&err, ReleaseError::NotFound { field, .. } if field == "binaries.etcd_release"));
/// assert_eq!(err.to_string(), format!("binaries.etcd_release: {tgz} does not exist"));
/// # });
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReleaseError {
    /// Reading, writing or running on the control machine failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The tarball file does not exist.
    #[error("{field}: {path} does not exist")]
    NotFound {
        /// The spec field.
        field: String,
        /// The path.
        path: String,
    },
    /// The tarball's SHA-256 is not the one the spec gives.
    #[error("{field}: sha256 of {source_name} is {got}, the spec says {expected}")]
    Checksum {
        /// The spec field.
        field: String,
        /// The file or URL.
        source_name: String,
        /// The spec's value.
        expected: String,
        /// What it is.
        got: String,
    },
    /// The tarball could not be read, or lacks a binary.
    #[error("{field}: {source_name}: {reason}")]
    Archive {
        /// The spec field.
        field: String,
        /// The file or URL.
        source_name: String,
        /// What is wrong.
        reason: String,
    },
}

/// Binaries taken from release tarballs, by file name (`etcd`, `etcdctl`,
/// `flanneld`).
///
/// ```
/// use k8s_bootstrap_core::apply::ReleaseBinaries;
/// let none = ReleaseBinaries::default(); // the spec names no release tarball
/// assert_eq!(none.names().count(), 0);
/// assert_eq!(format!("{none:?}"), "{}"); // Debug shows names and sizes, never the bytes
/// ```
#[derive(Default, Clone)]
pub struct ReleaseBinaries {
    pub(super) files: BTreeMap<String, Vec<u8>>,
}

impl std::fmt::Debug for ReleaseBinaries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.files.iter().map(|(k, v)| (k, v.len()))).finish()
    }
}

impl ReleaseBinaries {
    /// The names of the binaries it holds.
    ///
    /// ```
    /// use k8s_bootstrap_core::apply::fetch_releases;
    /// use k8s_bootstrap_core::spec::ReleaseSource;
    /// use k8s_bootstrap_core::transport::LocalTransport;
    /// # use k8s_bootstrap_core::spec::{ClusterSpec, HostSpec, Role, Version};
    /// # let mut spec = ClusterSpec::new(vec![HostSpec::new("node01", [192, 168, 1, 40].into(), &[Role::Node])], Version::new(3, 5, 17), Version::new(0, 26, 1));
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let tgz = dir.path().join("flannel-v0.26.1-linux-amd64.tar.gz");
    /// # let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(std::fs::File::create(&tgz).unwrap(), flate2::Compression::fast()));
    /// # for n in ["flanneld", "mk-docker-opts.sh", "README.md"] {
    /// #     let mut h = tar::Header::new_gnu(); h.set_size(4); h.set_mode(0o755); h.set_cksum();
    /// #     tar.append_data(&mut h, n, &b"\x7fELF"[..]).unwrap();
    /// # }
    /// # tar.into_inner().unwrap().finish().unwrap();
    /// // flannel's release tarball, as downloaded from GitHub.
    /// spec.binaries.flannel_release = Some(ReleaseSource { path: Some(tgz.to_string_lossy().into()), ..Default::default() });
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let bins = fetch_releases(&spec, &LocalTransport::new(), "/tmp/cache").await.unwrap();
    /// assert_eq!(bins.names().collect::<Vec<_>>(), ["flanneld"]); // no mk-docker-opts.sh: docker reads subnet.env
    /// # });
    /// ```
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.files.keys().map(String::as_str)
    }
}

/// Takes the files named `names` (by their last path component) out of a
/// gzipped tarball, and those of `optional` that it has.
pub(super) fn extract(tgz: &[u8], names: &[&str], optional: &[&str]) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let mut out = BTreeMap::new();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(tgz));
    for entry in archive.entries().map_err(|e| format!("not a gzipped tarball: {e}"))? {
        let mut entry = entry.map_err(|e| format!("broken tarball: {e}"))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry.path().map_err(|e| e.to_string())?.into_owned();
        let Some(name) = path.file_name().and_then(|n| n.to_str()).map(str::to_string) else { continue };
        if (names.contains(&name.as_str()) || optional.contains(&name.as_str())) && !out.contains_key(&name) {
            let mut buf = Vec::new();
            entry.read_to_end(&mut buf).map_err(|e| format!("reading {}: {e}", path.display()))?;
            out.insert(name, buf);
        }
    }
    let missing: Vec<&&str> = names.iter().filter(|n| !out.contains_key(**n)).collect();
    if !missing.is_empty() {
        return Err(format!("the tarball has no {missing:?}"));
    }
    Ok(out)
}

async fn tarball(field: &str, r: &ReleaseSource, local: &dyn Transport, cache_dir: &str) -> Result<Vec<u8>, ReleaseError> {
    let (source_name, bytes) = match (&r.path, &r.url, &r.sha256) {
        (Some(p), _, _) => {
            let b = local.read_file(p).await?.ok_or_else(|| ReleaseError::NotFound { field: field.into(), path: p.clone() })?;
            (p.clone(), b)
        }
        (None, Some(url), Some(sha)) => {
            let cached = format!("{cache_dir}/{sha}.tar.gz");
            match local.read_file(&cached).await? {
                Some(b) if sha256_hex(&b) == *sha => (url.clone(), b),
                _ => {
                    let part = format!("{cached}.part");
                    local.run_ok(&Command::new(["mkdir", "-p", cache_dir])).await?;
                    local
                        .run_ok(&Command::new(["curl", "-fsSL", "--retry", "2", "--proto", "=https,http", "-o", part.as_str(), url.as_str()]))
                        .await?;
                    let b = local.read_file(&part).await?.unwrap_or_default();
                    local.run_ok(&Command::new(["rm", "-f", part.as_str()])).await?;
                    if sha256_hex(&b) == *sha {
                        local.put_file(&cached, &FileSource::Bytes(b.clone()), &PutOptions::new(0o644)).await?;
                    }
                    (url.clone(), b)
                }
            }
        }
        _ => {
            return Err(ReleaseError::Archive {
                field: field.into(),
                source_name: "-".into(),
                reason: "give a path, or a url with its sha256".into(),
            });
        }
    };
    if let Some(expected) = &r.sha256 {
        let got = sha256_hex(&bytes);
        if got != expected.to_ascii_lowercase() {
            return Err(ReleaseError::Checksum { field: field.into(), source_name, expected: expected.clone(), got });
        }
    }
    Ok(bytes)
}

/// The spec's release tarballs: field, source, the binaries taken out of
/// it, and those taken when it has them.
pub(super) fn tarballs(spec: &ClusterSpec) -> Vec<(&'static str, &ReleaseSource, &'static [&'static str], &'static [&'static str])> {
    // etcdutl (etcd 3.5 and later) checks snapshots where etcdctl no longer can (3.6+)
    [
        ("binaries.etcd_release", &spec.binaries.etcd_release, &["etcd", "etcdctl"][..], &["etcdutl"][..]),
        ("binaries.flannel_release", &spec.binaries.flannel_release, &["flanneld"][..], &[][..]),
    ]
    .into_iter()
    .filter_map(|(field, r, names, optional)| r.as_ref().map(|r| (field, r, names, optional)))
    .collect()
}

/// Reads (or downloads once, into `cache_dir` on the control machine) the
/// release tarballs of the spec's `binaries` section and takes the
/// binaries out of them. Pass the result to [`super::Engine::with_releases`].
///
/// ```
/// use k8s_bootstrap_core::apply::{fetch_releases, ReleaseError};
/// use k8s_bootstrap_core::spec::ReleaseSource;
/// use k8s_bootstrap_core::transport::LocalTransport;
/// # use k8s_bootstrap_core::spec::{ClusterSpec, HostSpec, Role, Version};
/// # let mut spec = ClusterSpec::new(vec![HostSpec::new("etcd01", [192, 168, 1, 30].into(), &[Role::Etcd])], Version::new(3, 5, 17), Version::new(0, 26, 1));
/// # let dir = tempfile::tempdir().unwrap();
/// # let tgz = dir.path().join("etcd-v3.5.17-linux-amd64.tar.gz");
/// # let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(std::fs::File::create(&tgz).unwrap(), flate2::Compression::fast()));
/// # for n in ["etcd-v3.5.17-linux-amd64/etcd", "etcd-v3.5.17-linux-amd64/etcdctl"] {
/// #     let mut h = tar::Header::new_gnu(); h.set_size(4); h.set_mode(0o755); h.set_cksum();
/// #     tar.append_data(&mut h, n, &b"\x7fELF"[..]).unwrap();
/// # }
/// # tar.into_inner().unwrap().finish().unwrap();
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let mut etcd = ReleaseSource { path: Some(tgz.to_string_lossy().into()), ..Default::default() };
/// spec.binaries.etcd_release = Some(etcd.clone());
/// let bins = fetch_releases(&spec, &LocalTransport::new(), "/tmp/cache").await.unwrap();
/// assert_eq!(bins.names().collect::<Vec<_>>(), ["etcd", "etcdctl"]); // found in the top folder
/// // With a sha256 in the spec, a different tarball is refused.
/// etcd.sha256 = Some("0".repeat(64));
/// spec.binaries.etcd_release = Some(etcd);
/// let err = fetch_releases(&spec, &LocalTransport::new(), "/tmp/cache").await.unwrap_err();
/// assert!(matches!(err, ReleaseError::Checksum { field, .. } if field == "binaries.etcd_release"));
/// # });
/// ```
///
/// # Errors
/// [`ReleaseError`] naming the spec field: a missing file, a failed
/// download, a SHA-256 that differs from the spec's, a tarball without the
/// expected binaries.
pub async fn fetch_releases(spec: &ClusterSpec, local: &dyn Transport, cache_dir: &str) -> Result<ReleaseBinaries, ReleaseError> {
    let mut out = ReleaseBinaries::default();
    for (field, r, names, optional) in tarballs(spec) {
        let bytes = tarball(field, r, local, cache_dir).await?;
        let source_name = r.path.clone().or_else(|| r.url.clone()).unwrap_or_default();
        let files = extract(&bytes, names, optional).map_err(|reason| ReleaseError::Archive { field: field.into(), source_name, reason })?;
        out.files.extend(files);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tgz(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
        for (path, data) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o755);
            h.set_cksum();
            b.append_data(&mut h, path, *data).unwrap();
        }
        b.into_inner().unwrap().finish().unwrap()
    }

    #[test]
    fn takes_binaries_out_of_the_upstream_layout() {
        let t = tgz(&[
            ("etcd-v3.3.13-linux-amd64/README.md", b"readme"),
            ("etcd-v3.3.13-linux-amd64/etcd", b"ETCD"),
            ("etcd-v3.3.13-linux-amd64/etcdctl", b"CTL"),
        ]);
        let f = extract(&t, &["etcd", "etcdctl"], &["etcdutl"]).unwrap();
        assert!(!f.contains_key("etcdutl"), "optional, and not in this tarball");
        assert_eq!(f["etcd"], b"ETCD");
        assert_eq!(f["etcdctl"], b"CTL");
        let e = extract(&t, &["flanneld"], &[]).unwrap_err();
        assert!(e.contains("flanneld"), "{e}");
        assert!(extract(b"not gzip", &["etcd"], &[]).is_err());
        // 3.5 and later ship etcdutl beside them: taken when there
        let t = tgz(&[("etcd-v3.6.5-linux-amd64/etcd", b"ETCD"), ("etcd-v3.6.5-linux-amd64/etcdctl", b"CTL"), ("etcd-v3.6.5-linux-amd64/etcdutl", b"UTL")]);
        assert_eq!(extract(&t, &["etcd", "etcdctl"], &["etcdutl"]).unwrap()["etcdutl"], b"UTL");
    }
}
