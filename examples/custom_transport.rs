//! The [`Transport`] trait is the extension point: everything the core does
//! to a host goes through its four required methods (`run`, `put_file`,
//! `read_file`, `stat`). This example implements one that needs no host at
//! all: every file written goes into a tar archive per host (with its mode
//! and owner) and every command into a `commands.log` in that archive.
//!
//! It then drives the tutorial cluster's render through it (certificates,
//! files, commands with their checks), twice: the second pass finds every
//! file already there and writes nothing, as on a real host.
//!
//! ```text
//! cargo run -p k8s-bootstrap-examples --example custom_transport -- [SPEC.yaml] [OUT_DIR]
//! tar -tvf OUT_DIR/etcd01.tar
//! ```
//!
//! A transport that executes commands for real (over `docker exec`, `kubectl
//! exec`, a serial console...) can drive [`Engine::plan`] and
//! [`Engine::apply`] too: the engine only needs `run` to execute a POSIX `sh`
//! on the host.
//!
//! [`Engine::plan`]: k8s_bootstrap_core::apply::Engine::plan
//! [`Engine::apply`]: k8s_bootstrap_core::apply::Engine::apply

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, ensure};
use async_trait::async_trait;
use k8s_bootstrap_core::pki::CertBundle;
use k8s_bootstrap_core::render::HostRender;
use k8s_bootstrap_core::spec::ClusterSpec;
use k8s_bootstrap_core::transport::{
    Command, FileKind, FileSource, FileStat, Output, PutOptions, PutOutcome, Transport, TransportError,
};

/// One file as the archive will hold it.
#[derive(Clone)]
struct Entry {
    bytes: Vec<u8>,
    mode: u32,
    owner: Option<String>,
}

/// A host that is a tar archive: files are kept in memory (so reads, stats
/// and "unchanged" answers are right) and written out by [`TarTransport::finish`].
struct TarTransport {
    host: String,
    files: Mutex<BTreeMap<String, Entry>>,
    commands: Mutex<Vec<String>>,
}

impl TarTransport {
    fn new(host: &str) -> Self {
        TarTransport { host: host.into(), files: Mutex::default(), commands: Mutex::default() }
    }

    /// Writes the archive: every file under its absolute path (without the
    /// leading `/`), then `commands.log`.
    fn finish(&self, out: &Path) -> anyhow::Result<PathBuf> {
        let path = out.join(format!("{}.tar", self.host));
        let mut tar = tar::Builder::new(std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?);
        let files = self.files.lock().expect("files lock");
        let log = self.commands.lock().expect("commands lock").join("\n") + "\n";
        let entries = files
            .iter()
            .map(|(p, e)| (p.trim_start_matches('/').to_string(), e.clone()))
            .chain([("commands.log".to_string(), Entry { bytes: log.into_bytes(), mode: 0o644, owner: None })]);
        for (name, e) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_size(e.bytes.len() as u64);
            header.set_mode(e.mode);
            if let Some((user, group)) = e.owner.as_deref().map(|o| o.split_once(':').unwrap_or((o, o))) {
                header.set_username(user)?;
                header.set_groupname(group)?;
            }
            header.set_cksum();
            tar.append_data(&mut header, name, e.bytes.as_slice())?;
        }
        tar.finish()?;
        Ok(path)
    }
}

#[async_trait]
impl Transport for TarTransport {
    fn host(&self) -> String {
        self.host.clone()
    }

    /// Records the command; every command "succeeds" with no output.
    async fn run(&self, cmd: &Command) -> Result<Output, TransportError> {
        // `to_shell_line` validates the command (no NUL bytes, valid env
        // names) and escapes every value, as an exec-based transport would.
        let line = cmd.to_shell_line()?;
        self.commands.lock().expect("commands lock").push(line);
        Ok(Output { exit_code: Some(0), ..Output::default() })
    }

    async fn put_file(&self, path: &str, source: &FileSource, opts: &PutOptions) -> Result<PutOutcome, TransportError> {
        let bytes = match source {
            FileSource::Bytes(b) => b.clone(),
            FileSource::Path(p) => tokio::fs::read(p).await.map_err(|e| TransportError::Io {
                host: self.host.clone(),
                context: format!("read {}", p.display()),
                source: e,
            })?,
        };
        let new = Entry { bytes, mode: opts.mode, owner: opts.owner.clone() };
        let mut files = self.files.lock().expect("files lock");
        // The contract: identical content and metadata writes nothing.
        let outcome = match files.get(path) {
            None => PutOutcome::Created,
            Some(old) if old.bytes != new.bytes => PutOutcome::Updated,
            Some(old) if old.mode != new.mode || old.owner != new.owner => PutOutcome::MetadataUpdated,
            Some(_) => return Ok(PutOutcome::Unchanged),
        };
        files.insert(path.to_string(), new);
        Ok(outcome)
    }

    async fn read_file(&self, path: &str) -> Result<Option<Vec<u8>>, TransportError> {
        Ok(self.files.lock().expect("files lock").get(path).map(|e| e.bytes.clone()))
    }

    async fn stat(&self, path: &str) -> Result<Option<FileStat>, TransportError> {
        Ok(self.files.lock().expect("files lock").get(path).map(|e| FileStat {
            kind: FileKind::File,
            size: e.bytes.len() as u64,
            mode: e.mode,
            uid: 0,
            gid: 0,
            mtime: 0,
        }))
    }
}

/// Brings one host to its render through any [`Transport`]: certificates
/// and files in one `put_files` call, then every command whose check does
/// not pass. Returns how many files and commands changed something.
async fn push(t: &dyn Transport, render: &HostRender, pki: &k8s_bootstrap_core::pki::Issued) -> anyhow::Result<(usize, usize)> {
    let mut files: Vec<(String, FileSource, PutOptions)> = Vec::new();
    for c in &render.certs {
        let cert = pki.file(&c.id.cert_file()).context("certificate in the bundle")?;
        files.push((c.cert_path.clone(), FileSource::Bytes(cert.contents.clone()), PutOptions::new(0o644).owner("root:root")));
        if let Some(key_path) = &c.key_path {
            let key = pki.file(&c.id.key_file()).context("key in the bundle")?;
            files.push((key_path.clone(), FileSource::Bytes(key.contents.clone()), PutOptions::new(0o600).owner("root:root")));
        }
    }
    for f in &render.files {
        files.push((f.path.clone(), FileSource::Bytes(f.contents.clone()), PutOptions::new(f.mode).owner(f.owner.clone())));
    }
    let mut changed_files = 0;
    for r in t.put_files(&files).await {
        if r?.changed() {
            changed_files += 1;
        }
    }
    let mut ran = 0;
    for c in &render.commands {
        // A check that exits 0 means "nothing to do". This transport runs
        // nothing, so every check "passes" once the host has seen its files.
        if let Some(check) = &c.check
            && changed_files == 0
            && t.run(&Command::new(check.clone())).await?.success()
        {
            continue;
        }
        t.run_ok(&Command::new(c.argv.clone())).await?;
        ran += 1;
    }
    Ok((changed_files, ran))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let spec_path = args.first().cloned().unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/tutorial-cluster.yaml").into());
    let out = args.get(1).map_or_else(|| std::env::temp_dir().join("k8s-bootstrap-custom-transport"), PathBuf::from);
    std::fs::create_dir_all(&out)?;

    let yaml = std::fs::read_to_string(&spec_path).with_context(|| format!("reading {spec_path}"))?;
    let (mut spec, _warnings) = ClusterSpec::load(&yaml).with_context(|| format!("reading {spec_path}"))?;
    // ECDSA keys: generated in a millisecond, accepted by every etcd and flannel version.
    spec.pki.key_algorithm = k8s_bootstrap_core::pki::KeyAlgorithm::EcdsaP256;
    let pki = CertBundle::for_cluster(&spec)?.generate()?;
    let cluster = spec.render()?;

    for (host, render) in &cluster.hosts {
        let t = TarTransport::new(host);
        let (files, commands) = push(&t, render, &pki).await?;
        // A second pass: nothing is written, no check fails.
        let (again, _) = push(&t, render, &pki).await?;
        ensure!(again == 0, "{host}: the second pass rewrote {again} file(s)");
        let archive = t.finish(&out)?;

        // Read the archive back: every file is there, keys are 0600.
        let mut n = 0;
        for entry in tar::Archive::new(std::fs::File::open(&archive)?).entries()? {
            let entry = entry?;
            let name = entry.path()?.to_string_lossy().into_owned();
            if name.ends_with("-key.pem") {
                ensure!(entry.header().mode()? == 0o600, "{name} is not 0600");
            }
            n += 1;
        }
        ensure!(n == files + 1, "{}: {n} entries for {files} files + commands.log", archive.display());
        println!("{host}: {files} files and {commands} commands -> {} (second pass: 0 written)", archive.display());
    }
    Ok(())
}
