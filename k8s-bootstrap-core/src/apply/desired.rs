//! The desired state of a host's files, made explicit: every file the
//! engine installs (binaries, certificates and keys, rendered files) with
//! its mode, owner, whether it is a secret, and the units it restarts, as
//! the builders said. The engine never guesses these from a mode, a path or
//! the text of a unit.

use crate::pki::Issued;
use crate::render::HostRender;
use crate::spec::{ClusterSpec, HostSpec, Role};
use crate::transport::FileSource;

use super::Error;

/// One file to install on a host.
#[derive(Debug, Clone)]
pub(super) struct DesiredFile {
    pub(super) path: String,
    pub(super) source: FileSource,
    pub(super) mode: u32,
    pub(super) owner: String,
    /// Never shown in a diff or a log.
    pub(super) secret: bool,
    /// A binary: its diff is its digest.
    pub(super) binary: bool,
    /// Units that restart when it changes.
    pub(super) restarts: Vec<String>,
    /// The unit this file defines (systemd reloads when it changes).
    pub(super) unit: Option<String>,
    /// A certificate or key: its file name in the PKI folder.
    pub(super) pki_file: Option<String>,
}

impl DesiredFile {
    fn binary(path: String, source: FileSource, restarts: Option<&str>) -> Self {
        DesiredFile { path, source, mode: 0o755, owner: "root:root".into(), secret: false, binary: true, restarts: restarts.map(str::to_string).into_iter().collect(), unit: None, pki_file: None }
    }
}

/// The unit a binary of this name runs as (`None`: a client tool).
fn unit_of_binary(name: &str) -> Option<&'static str> {
    match name {
        "etcd" => Some("etcd"),
        "flanneld" => Some("flanneld"),
        _ => None,
    }
}

/// Where a binary of this name goes on `roles`' host (`None`: not there).
fn binary_dir(spec: &ClusterSpec, name: &str, etcd: bool, node: bool) -> Option<String> {
    match name {
        "etcd" | "etcdctl" | "etcdutl" if etcd => Some(format!("{}/bin", spec.layout.etcd_dir)),
        "flanneld" if node => Some(format!("{}/bin", spec.layout.kubernetes_dir)),
        _ => None,
    }
}

/// A host's files, in the order they are written: binaries, then
/// certificates and keys, then the rendered files. Without `pki` (a plan
/// for reading, made before any certificate exists), certificates and keys
/// are empty.
pub(super) fn host_files(spec: &ClusterSpec, h: &HostSpec, render: &HostRender, pki: Option<&Issued>) -> Result<Vec<DesiredFile>, Error> {
    let (etcd, node) = (h.has(Role::Etcd), h.has(Role::Node));
    let mut files = Vec::new();
    let bins = &spec.binaries;
    for (name, local) in [("etcd", &bins.etcd), ("etcdctl", &bins.etcdctl), ("flanneld", &bins.flanneld)] {
        if let (Some(local), Some(dir)) = (local, binary_dir(spec, name, etcd, node)) {
            files.push(DesiredFile::binary(format!("{dir}/{name}"), FileSource::Path(local.into()), unit_of_binary(name)));
        }
    }
    for c in &render.certs {
        let missing = |file: String| Error::MissingCert { host: h.name.clone(), file };
        let contents = |file: String| match pki {
            Some(pki) => pki.file(&file).map(|f| f.contents.clone()).ok_or_else(|| missing(file)),
            None => Ok(Vec::new()),
        };
        files.push(DesiredFile {
            path: c.cert_path.clone(),
            source: FileSource::Bytes(contents(c.id.cert_file())?),
            mode: 0o644,
            owner: "root:root".into(),
            secret: false,
            binary: false,
            restarts: c.restarts.clone(),
            unit: None,
            pki_file: Some(c.id.cert_file()),
        });
        if let Some(kp) = &c.key_path {
            files.push(DesiredFile {
                path: kp.clone(),
                source: FileSource::Bytes(contents(c.id.key_file())?),
                mode: 0o600,
                owner: "root:root".into(),
                secret: true,
                binary: false,
                restarts: c.restarts.clone(),
                unit: None,
                pki_file: Some(c.id.key_file()),
            });
        }
    }
    for f in &render.files {
        files.push(DesiredFile {
            path: f.path.clone(),
            source: FileSource::Bytes(f.contents.clone()),
            mode: f.mode,
            owner: f.owner.clone(),
            secret: f.secret,
            binary: false,
            restarts: f.restarts.clone(),
            unit: f.unit.clone(),
            pki_file: None,
        });
    }
    Ok(files)
}

/// Puts the binaries taken from release tarballs into a host's files, in
/// place of the ones of `binaries.*` with the same path.
pub(super) fn add_release_binaries<'b>(spec: &ClusterSpec, roles: &std::collections::BTreeSet<Role>, files: &mut Vec<DesiredFile>, releases: impl IntoIterator<Item = (&'b String, &'b Vec<u8>)>) {
    let (etcd, node) = (roles.contains(&Role::Etcd), roles.contains(&Role::Node));
    for (name, bytes) in releases {
        let Some(dir) = binary_dir(spec, name, etcd, node) else { continue };
        let path = format!("{dir}/{name}");
        files.retain(|f| f.path != path);
        let at = files.iter().position(|f| !f.binary).unwrap_or(files.len());
        files.insert(at, DesiredFile::binary(path, FileSource::Bytes(bytes.clone()), unit_of_binary(name)));
    }
}
