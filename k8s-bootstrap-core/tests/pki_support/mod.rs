//! Helpers for the PKI integration tests: external tools (openssl, cfssl,
//! etcd) are required, and a missing one fails the test with a message that
//! says how to install it; it never skips.
#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};

use k8s_bootstrap_core::pki::BundleFile;

/// The path of a required tool, or a panic naming the Debian package.
pub fn tool(name: &str, package: &str) -> PathBuf {
    for dir in std::env::var("PATH").unwrap_or_default().split(':').chain(["/usr/sbin", "/usr/bin"]) {
        let p = Path::new(dir).join(name);
        if p.is_file() {
            return p;
        }
    }
    panic!(
        "required tool `{name}` not found in PATH: install the Debian package `{package}` \
         (scripts/setup installs every test dependency)"
    );
}

/// Runs a command and returns its output (never panics on a non-zero exit).
pub fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Runs a command that must succeed; returns stdout.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Writes bundle files under `dir` with their modes.
pub fn write_files(dir: &Path, files: &[BundleFile]) {
    for f in files {
        let p = dir.join(&f.path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, &f.contents).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(f.mode)).unwrap();
    }
}

/// `openssl x509 -noout -text` of a certificate file.
pub fn openssl_text(cert: &Path) -> String {
    run_ok(Command::new(tool("openssl", "openssl")).args(["x509", "-noout", "-text", "-in"]).arg(cert))
}

/// The SAN set as openssl prints it, normalised to plain values
/// (`IP Address:10.0.0.1` -> `10.0.0.1`, `DNS:x` -> `x`).
pub fn openssl_sans(cert: &Path) -> Vec<String> {
    let text = openssl_text(cert);
    let mut lines = text.lines();
    let mut out = Vec::new();
    while let Some(l) = lines.next() {
        if l.contains("X509v3 Subject Alternative Name") {
            let v = lines.next().unwrap_or_default();
            for part in v.split(',') {
                let part = part.trim();
                let value = part
                    .strip_prefix("IP Address:")
                    .or_else(|| part.strip_prefix("DNS:"))
                    .unwrap_or(part);
                // openssl prints IPv6 in full uppercase form: normalise.
                let value = value.parse::<std::net::IpAddr>().map(|ip| ip.to_string()).unwrap_or(value.to_lowercase());
                out.push(value);
            }
        }
    }
    out.sort();
    out
}

/// The line after an extension header in `openssl x509 -text`, e.g.
/// "TLS Web Server Authentication, TLS Web Client Authentication".
pub fn openssl_ext_line(cert: &Path, header: &str) -> String {
    let text = openssl_text(cert);
    let mut lines = text.lines();
    while let Some(l) = lines.next() {
        if l.contains(header) {
            return lines.next().unwrap_or_default().trim().to_string();
        }
    }
    String::new()
}

/// `openssl verify -CAfile ca cert` succeeded.
pub fn openssl_verify(ca: &Path, cert: &Path) -> Result<(), String> {
    let out = run(Command::new(tool("openssl", "openssl")).args(["verify", "-CAfile"]).arg(ca).arg(cert));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() && stdout.trim_end().ends_with(": OK") {
        Ok(())
    } else {
        Err(format!("{stdout}{}", String::from_utf8_lossy(&out.stderr)))
    }
}

/// Processes killed (and reaped) by PID when dropped, also when a test panics.
pub struct Procs(pub Vec<Child>);

impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
