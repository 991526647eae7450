//! Helpers shared by the runnable examples in this folder, and the logic of
//! the examples themselves so that tests can call it.
//!
//! The core does no file I/O: these helpers write what it returns into a
//! local folder (atomically: a temp file in the same folder, fsync, chmod,
//! rename), the way the local transport does on a host.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{Context, Result};
use k8s_bootstrap_core::pki::{
    BundleFile, CertBundle, Change, EtcdMember, Issued, Layout, Subject, inspect,
};

/// Reads every regular file directly in `dir` into a map (file name ->
/// bytes); an absent folder is an empty map.
pub fn read_dir_files(dir: &Path) -> Result<BTreeMap<String, Vec<u8>>> {
    let mut out = BTreeMap::new();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
    };
    for entry in entries {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            let name = entry.file_name().to_string_lossy().into_owned();
            out.insert(name, fs::read(entry.path()).with_context(|| format!("reading {}", entry.path().display()))?);
        }
    }
    Ok(out)
}

/// Writes one file atomically with its mode; an unchanged file (same bytes
/// and mode) is not touched. Returns whether it wrote.
pub fn write_file_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<bool> {
    if let Ok(old) = fs::read(path)
        && old == contents
        && fs::metadata(path)?.permissions().mode() & 0o7777 == mode
    {
        return Ok(false);
    }
    let dir = path.parent().context("a file path has a parent")?;
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name().context("a file name")?.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| -> Result<()> {
        let mut f = fs::OpenOptions::new().write(true).create_new(true).mode_for(mode).open(&tmp)?;
        f.write_all(contents)?;
        f.set_permissions(fs::Permissions::from_mode(mode))?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.with_context(|| format!("writing {}", path.display()))?;
    Ok(true)
}

trait ModeFor {
    fn mode_for(&mut self, mode: u32) -> &mut Self;
}
impl ModeFor for fs::OpenOptions {
    fn mode_for(&mut self, mode: u32) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        // Created with the final mode (never world-readable, even briefly, for keys).
        self.mode(mode & 0o700)
    }
}

/// Writes every file of a bundle under `dir`; returns how many were written.
pub fn write_bundle(dir: &Path, files: &[BundleFile]) -> Result<usize> {
    let mut n = 0;
    for f in files {
        if write_file_atomic(&dir.join(&f.path), &f.contents, f.mode)? {
            n += 1;
        }
    }
    Ok(n)
}

/// The tutorial's three etcd members: etcd01-03 at 192.168.1.30-32.
pub fn tutorial_members() -> Vec<EtcdMember> {
    (0..3).map(|i| EtcdMember::new(format!("etcd0{}", i + 1), [format!("192.168.1.{}", 30 + i)])).collect()
}

/// The tutorial's CA subject: C=CN, ST=Beijing, L=Beijing, CN=etcd CA.
pub fn tutorial_ca_subject() -> Subject {
    Subject::new("etcd CA").country("CN").state("Beijing").locality("Beijing")
}

/// What [`tutorial_pki`] did.
#[derive(Debug)]
pub struct TutorialPki {
    /// The per-member bundle written into the output folder.
    pub per_member: Issued,
    /// The tutorial-layout bundle written into `OUT/tutorial`.
    pub tutorial: Issued,
    /// Files written (unchanged files are not rewritten).
    pub written: usize,
}

/// Writes the tutorial cluster's PKI into `out` in the per-member layout and
/// into `out/tutorial` in the tutorial's layout (signed by the same CA).
/// Run again, it keeps every certificate that is still right.
pub fn tutorial_pki(out: &Path) -> Result<TutorialPki> {
    let now = time::OffsetDateTime::now_utc();
    let per_member = CertBundle::builder()
        .ca_subject(tutorial_ca_subject())
        .members(tutorial_members())
        .build()?
        .reconcile(&read_dir_files(out)?, now)?;
    let mut written = write_bundle(out, &per_member.files)?;

    let ca = |p: &str| per_member.file(p).map(|f| String::from_utf8_lossy(&f.contents).into_owned());
    let tut_dir = out.join("tutorial");
    let tutorial = CertBundle::builder()
        .layout(Layout::Tutorial)
        .existing_ca(ca("ca.pem").context("ca.pem")?, ca("ca-key.pem"))
        .members(tutorial_members())
        // The tutorial's server-csr.json subject.
        .tutorial_server_subject(Subject::new("etcd").country("CN").state("BeiJing").locality("BeiJing"))
        .leaf_validity_days(3650)
        .build()?
        .reconcile(&read_dir_files(&tut_dir)?, now)?;
    written += write_bundle(&tut_dir, &tutorial.files)?;
    Ok(TutorialPki { per_member, tutorial, written })
}

/// A plain-text report of a bundle: what happened to each certificate, then
/// a kubeadm-like expiration table.
pub fn report(title: &str, issued: &Issued) -> Result<String> {
    use std::fmt::Write as _;
    let mut s = String::new();
    writeln!(s, "{title}")?;
    for a in &issued.actions {
        let what = match &a.change {
            Change::Kept => "kept".to_string(),
            Change::Issued { reason } => format!("issued ({reason})"),
            Change::Imported => "imported".to_string(),
        };
        writeln!(s, "  {:<22} {what}", a.id.cert_file())?;
    }
    for w in &issued.warnings {
        writeln!(s, "  warning: {w}")?;
    }
    writeln!(s, "  {:<22} {:<26} {:>9}  {:<12} SANS", "CERTIFICATE", "EXPIRES", "RESIDUAL", "KEY")?;
    for i in inspect(&issued.as_existing(), time::OffsetDateTime::now_utc())? {
        writeln!(
            s,
            "  {:<22} {:<26} {:>8}d  {:<12} {}",
            i.path,
            i.not_after.format(&time::format_description::well_known::Rfc3339)?,
            i.days_left,
            i.key_algorithm,
            i.sans.join(",")
        )?;
    }
    Ok(s)
}
