//! known_hosts files read the way OpenSSH reads them (sshd(8), "SSH_KNOWN_HOSTS
//! FILE FORMAT"; `hostfile.c`, `match.c`): comma-separated host patterns with
//! `*` / `?` wildcards and `!` negation, `[host]:port` names for ports other
//! than 22, hashed names (`|1|salt|hash`, as `ssh-keygen -H` writes them), and
//! the `@revoked` and `@cert-authority` markers.
//!
//! A host certificate is only accepted through an `@cert-authority` line that
//! matches the host: its signature, validity window, type (host, not user),
//! principals and critical options are checked, and a certificate is never
//! taken for the plain key inside it.

use std::path::{Path, PathBuf};

use hmac::{Hmac, KeyInit, Mac};
use russh::keys::ssh_key::certificate::CertType;
use russh::keys::ssh_key::public::KeyData;
use russh::keys::ssh_key::{Algorithm, Certificate, HashAlg, PublicKey};
use sha1::Sha1;

/// What a line says about its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Marker {
    /// A host key.
    Key,
    /// `@cert-authority`: a CA whose host certificates are trusted.
    CertAuthority,
    /// `@revoked`: the key must never be accepted.
    Revoked,
}

/// One usable line of a known_hosts file.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub file: PathBuf,
    pub line: usize,
    pub marker: Marker,
    hosts: String,
    pub key: KeyData,
}

impl Entry {
    pub fn at(&self) -> String {
        format!("{} line {}", self.file.display(), self.line)
    }
}

/// What the files say about a key a host presented.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Recorded for this host (or signed by a CA trusted for it) at `at`.
    Known { at: String },
    /// Not recorded. `other_types`: algorithms recorded for the host;
    /// `cert_authority`: whether a CA is trusted for it.
    Unknown { other_types: Vec<String>, cert_authority: bool },
    /// The host has a different key of the same type, recorded at `at`.
    Changed { at: String },
    /// The key (or the certificate's CA) is marked `@revoked` at `at`.
    Revoked { at: String },
    /// A host certificate that is not accepted, and why.
    BadCertificate(String),
}

/// The entries of one or more known_hosts files.
#[derive(Debug, Default)]
pub(crate) struct KnownHosts {
    entries: Vec<Entry>,
}

/// The name known_hosts records a host under: `host` on port 22, else `[host]:port`.
pub(crate) fn lookup_name(host: &str, port: u16) -> String {
    let host = host.to_ascii_lowercase();
    if port == 22 { host } else { format!("[{host}]:{port}") }
}

/// OpenSSH's `match_pattern`: `*` matches any run of characters, `?` one.
pub(crate) fn wildcard_match(s: &str, pattern: &str) -> bool {
    let (s, p) = (s.as_bytes(), pattern.as_bytes());
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        if j < p.len() && (p[j] == b'?' || p[j] == s[i]) {
            i += 1;
            j += 1;
        } else if j < p.len() && p[j] == b'*' {
            star = Some((j, i));
            j += 1;
        } else if let Some((sj, si)) = star {
            j = sj + 1;
            i = si + 1;
            star = Some((sj, si + 1));
        } else {
            return false;
        }
    }
    p[j..].iter().all(|&c| c == b'*')
}

/// OpenSSH's `match_hostname` over a comma-separated pattern list: a match
/// of a negated pattern (`!pat`) wins over every positive one.
pub(crate) fn pattern_list_match(name: &str, list: &str) -> bool {
    let name = name.to_ascii_lowercase();
    let mut positive = false;
    for pat in list.split(',') {
        let (negated, pat) = match pat.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, pat),
        };
        if wildcard_match(&name, &pat.to_ascii_lowercase()) {
            if negated {
                return false;
            }
            positive = true;
        }
    }
    positive
}

/// A hashed name (`|1|base64 salt|base64 HMAC-SHA1(salt, name)`), the whole host field.
fn hashed_match(name: &str, field: &str) -> bool {
    let Some(rest) = field.strip_prefix("|1|") else {
        return false;
    };
    let Some((salt, hash)) = rest.split_once('|') else {
        return false;
    };
    let b64 = &data_encoding::BASE64;
    let (Ok(salt), Ok(hash)) = (b64.decode(salt.as_bytes()), b64.decode(hash.as_bytes())) else {
        return false;
    };
    match Hmac::<Sha1>::new_from_slice(&salt) {
        Ok(mac) => mac.chain_update(name.as_bytes()).verify_slice(&hash).is_ok(),
        Err(_) => false,
    }
}

fn host_field_matches(name: &str, field: &str) -> bool {
    if field.starts_with('|') {
        hashed_match(&name.to_ascii_lowercase(), field)
    } else {
        pattern_list_match(name, field)
    }
}

fn same_type(a: &Algorithm, b: &Algorithm) -> bool {
    match (a, b) {
        (Algorithm::Rsa { .. }, Algorithm::Rsa { .. }) => true,
        (a, b) => a == b,
    }
}

fn time(t: u64) -> String {
    i64::try_from(t)
        .ok()
        .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| if t == u64::MAX { "forever".into() } else { t.to_string() })
}

pub(crate) fn fingerprint(key: &KeyData) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

impl KnownHosts {
    /// Reads every file that exists (a missing file is empty, as for OpenSSH).
    pub fn load(files: &[PathBuf]) -> std::io::Result<Self> {
        let mut kh = KnownHosts::default();
        for f in files {
            match std::fs::read(f) {
                Ok(bytes) => kh.add(&String::from_utf8_lossy(&bytes), f),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(std::io::Error::new(e.kind(), format!("cannot read {}: {e}", f.display()))),
            }
        }
        Ok(kh)
    }

    /// Adds the lines of `text` as file `file`. Lines OpenSSH would skip
    /// (comments, unknown markers, keys it cannot parse) are skipped.
    pub fn add(&mut self, text: &str, file: &Path) {
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim_start();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut fields = line.split_ascii_whitespace();
            let mut first = fields.next().unwrap_or_default();
            let marker = match first {
                "@cert-authority" => Marker::CertAuthority,
                "@revoked" => Marker::Revoked,
                m if m.starts_with('@') => {
                    tracing::debug!(file = %file.display(), line = i + 1, "known_hosts: unknown marker {m}");
                    continue;
                }
                _ => Marker::Key,
            };
            if marker != Marker::Key {
                first = fields.next().unwrap_or_default();
            }
            let (Some(kind), Some(blob)) = (fields.next(), fields.next()) else {
                continue;
            };
            match PublicKey::from_openssh(&format!("{kind} {blob}")) {
                Ok(k) => self.entries.push(Entry {
                    file: file.to_path_buf(),
                    line: i + 1,
                    marker,
                    hosts: first.to_string(),
                    key: k.key_data().clone(),
                }),
                Err(e) => tracing::debug!(file = %file.display(), line = i + 1, "known_hosts: unusable key: {e}"),
            }
        }
    }

    fn matching(&self, name: &str, marker: Marker) -> impl Iterator<Item = &Entry> {
        self.entries.iter().filter(move |e| e.marker == marker && host_field_matches(name, &e.hosts))
    }

    /// Whether an `@cert-authority` line matches `name`.
    pub fn has_cert_authority(&self, name: &str) -> bool {
        self.matching(name, Marker::CertAuthority).next().is_some()
    }

    /// The key algorithms recorded for `name`, in file order, without repeats.
    pub fn known_algorithms(&self, name: &str) -> Vec<Algorithm> {
        let mut out: Vec<Algorithm> = Vec::new();
        for e in self.matching(name, Marker::Key) {
            let a = e.key.algorithm();
            if !out.contains(&a) {
                out.push(a);
            }
        }
        out
    }

    fn revoked(&self, name: &str, key: &KeyData) -> Option<&Entry> {
        self.matching(name, Marker::Revoked).find(|e| e.key == *key)
    }

    /// Checks a plain host key presented for `name` (see [`lookup_name`]).
    pub fn check_key(&self, name: &str, key: &KeyData) -> Verdict {
        if let Some(e) = self.revoked(name, key) {
            return Verdict::Revoked { at: e.at() };
        }
        let mut other_types = Vec::new();
        let mut changed = None;
        for e in self.matching(name, Marker::Key) {
            if e.key == *key {
                return Verdict::Known { at: e.at() };
            }
            if same_type(&e.key.algorithm(), &key.algorithm()) {
                changed.get_or_insert(e);
            } else {
                let t = e.key.algorithm().as_str().to_string();
                if !other_types.contains(&t) {
                    other_types.push(t);
                }
            }
        }
        match changed {
            Some(e) => Verdict::Changed { at: e.at() },
            None => Verdict::Unknown { other_types, cert_authority: self.has_cert_authority(name) },
        }
    }

    /// Checks a host certificate presented for `name` (see [`lookup_name`]);
    /// `principal` is the host name it must be valid for; `now` in Unix seconds.
    pub fn check_certificate(&self, name: &str, principal: &str, cert: &Certificate, now: u64) -> Verdict {
        let ca = cert.signature_key();
        for k in [cert.public_key(), ca] {
            if let Some(e) = self.revoked(name, k) {
                return Verdict::Revoked { at: e.at() };
            }
        }
        if cert.cert_type() != CertType::Host {
            return Verdict::BadCertificate("it is a user certificate, not a host certificate".into());
        }
        let cas: Vec<&Entry> = self.matching(name, Marker::CertAuthority).collect();
        let Some(trusted) = cas.iter().find(|e| e.key == *ca) else {
            let listed = if cas.is_empty() {
                "none matches this host".to_string()
            } else {
                cas.iter().map(|e| format!("{} ({})", fingerprint(&e.key), e.at())).collect::<Vec<_>>().join(", ")
            };
            return Verdict::BadCertificate(format!(
                "it is signed by CA {}, which no @cert-authority line for {name} trusts (trusted: {listed})",
                fingerprint(ca)
            ));
        };
        let (after, before) = (cert.valid_after(), cert.valid_before());
        if !(after <= now && now < before) {
            return Verdict::BadCertificate(format!(
                "it is valid from {} to {}, not now ({})",
                time(after),
                time(before),
                time(now)
            ));
        }
        if cert.validate_at(now, [&trusted.key.fingerprint(HashAlg::Sha256)]).is_err() {
            return Verdict::BadCertificate(format!(
                "its signature does not verify with the CA key of {}",
                trusted.at()
            ));
        }
        let principals = cert.valid_principals();
        if !principals.is_empty() && !principals.iter().any(|p| p == principal) {
            return Verdict::BadCertificate(format!(
                "it is valid for {principals:?}, not for {principal:?}"
            ));
        }
        if !cert.critical_options().is_empty() {
            let names: Vec<&String> = cert.critical_options().keys().collect();
            return Verdict::BadCertificate(format!(
                "it has critical options {names:?}, which a host certificate may not have"
            ));
        }
        Verdict::Known { at: trusted.at() }
    }
}

/// Appends `key` for `host`:`port` to `file` (creating it and its folder), as
/// OpenSSH's accept-new does.
pub(crate) fn append(file: &Path, host: &str, port: u16, key: &KeyData) -> std::io::Result<()> {
    use std::io::Write as _;
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let text = PublicKey::new(key.clone(), "")
        .to_openssh()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let mut line = format!("{} {}\n", lookup_name(host, port), text.trim());
    if std::fs::read(file).is_ok_and(|b| b.last().is_some_and(|&c| c != b'\n')) {
        line.insert(0, '\n');
    }
    std::fs::OpenOptions::new().create(true).append(true).open(file)?.write_all(line.as_bytes())
}

#[cfg(test)]
mod tests {
    //! Expected answers come from OpenSSH itself: keys from `ssh-keygen`,
    //! hashed names from `ssh-keygen -H`, matches from `ssh-keygen -F`,
    //! certificates from `ssh-keygen -s`.
    use super::*;
    use std::process::Command;

    fn ssh_keygen(args: &[&str]) -> String {
        let out = Command::new("ssh-keygen").args(args).output().unwrap_or_else(|e| {
            panic!("these tests need ssh-keygen (Debian: apt-get install openssh-client): {e}")
        });
        assert!(out.status.success(), "ssh-keygen {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn keypair(dir: &Path, name: &str, kind: &str) -> (PathBuf, KeyData, String) {
        let p = dir.join(name);
        ssh_keygen(&["-q", "-t", kind, "-N", "", "-C", name, "-f", p.to_str().unwrap()]);
        let text = std::fs::read_to_string(p.with_extension("pub")).unwrap();
        let key = PublicKey::from_openssh(&text).unwrap().key_data().clone();
        let mut f = text.split_whitespace();
        let line = format!("{} {}", f.next().unwrap(), f.next().unwrap());
        (p, key, line)
    }

    /// Lines `ssh-keygen -F name -f file` reports as matching `name`.
    fn openssh_matches(file: &Path, name: &str) -> Vec<usize> {
        let out = Command::new("ssh-keygen").args(["-F", name, "-f", file.to_str().unwrap()]).output().unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.strip_prefix(&format!("# Host {name} found: line ")))
            .filter_map(|n| n.split_whitespace().next()?.parse().ok())
            .collect()
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match("10.77.0.11", "10.77.0.*"));
        assert!(wildcard_match("10.77.0.11", "10.77.0.1?"));
        assert!(!wildcard_match("10.77.0.1", "10.77.0.1?"));
        assert!(wildcard_match("abc", "*"));
        assert!(wildcard_match("", "*"));
        assert!(wildcard_match("aXbXc", "a*b*c"));
        assert!(!wildcard_match("aXbXd", "a*b*c"));
        assert!(wildcard_match("[h]:2222", "[h]:*"));
        assert!(pattern_list_match("etcd01", "node*,etcd*"));
        assert!(!pattern_list_match("etcd01", "*,!etcd01"));
        assert!(!pattern_list_match("etcd01", "!etcd01,*"));
        assert!(pattern_list_match("ETCD01", "etcd01"));
    }

    /// Plain, wildcard, negated, `[host]:port` and hashed names: our matches
    /// are the lines `ssh-keygen -F` finds, for every name asked.
    #[test]
    fn names_match_as_openssh_matches_them() {
        let dir = tempfile::tempdir().unwrap();
        let (_, _, k) = keypair(dir.path(), "k", "ed25519");
        let plain = [
            "10.77.0.11".to_string(),
            "[10.77.0.12]:2222".into(),
            "etcd01,10.77.0.13".into(),
            "10.77.0.*,!10.77.0.13".into(),
            "node??".into(),
            "[10.77.0.1?]:22*".into(),
            "*".into(),
        ];
        let text: String = plain.iter().map(|h| format!("{h} {k}\n")).collect();
        let names = [
            "10.77.0.11", "10.77.0.12", "[10.77.0.12]:2222", "[10.77.0.11]:2222", "etcd01", "10.77.0.13",
            "10.77.0.14", "node01", "node001", "[10.77.0.13]:2200", "[10.77.0.13]:22", "other",
        ];
        let file = dir.path().join("known_hosts");
        std::fs::write(&file, &text).unwrap();
        let mut kh = KnownHosts::default();
        kh.add(&text, &file);
        for name in names {
            let ours: Vec<usize> = kh.matching(name, Marker::Key).map(|e| e.line).collect();
            assert_eq!(ours, openssh_matches(&file, name), "plain entries, name {name}");
        }

        // Hashed by ssh-keygen -H: one line per name, the host field becomes |1|salt|hash.
        let literal: String = ["10.77.0.11", "[10.77.0.12]:2222", "etcd01"].iter().map(|h| format!("{h} {k}\n")).collect();
        let hashed_file = dir.path().join("hashed");
        std::fs::write(&hashed_file, &literal).unwrap();
        ssh_keygen(&["-q", "-H", "-f", hashed_file.to_str().unwrap()]);
        let hashed = std::fs::read_to_string(&hashed_file).unwrap();
        assert!(hashed.lines().all(|l| l.starts_with("|1|")), "{hashed}");
        let mut kh = KnownHosts::default();
        kh.add(&hashed, &hashed_file);
        for name in names {
            let ours: Vec<usize> = kh.matching(name, Marker::Key).map(|e| e.line).collect();
            assert_eq!(ours, openssh_matches(&hashed_file, name), "hashed entries, name {name}");
        }
        assert_eq!(kh.matching("[10.77.0.12]:2222", Marker::Key).count(), 1);
        assert_eq!(kh.matching("10.77.0.12", Marker::Key).count(), 0);
    }

    #[test]
    fn known_changed_unknown_and_revoked() {
        let dir = tempfile::tempdir().unwrap();
        let (_, a, a_line) = keypair(dir.path(), "a", "ed25519");
        let (_, b, b_line) = keypair(dir.path(), "b", "ed25519");
        let (_, r, r_line) = keypair(dir.path(), "r", "rsa");
        let file = dir.path().join("known_hosts");
        let text = format!(
            "# comment\n\n10.77.0.11 {a_line}\n  10.77.0.12 {r_line}\n@revoked * {b_line}\n@bogus 10.77.0.11 {b_line}\n10.77.0.13 not-a-key AAAA\n"
        );
        let mut kh = KnownHosts::default();
        kh.add(&text, &file);
        let at = |n| format!("{} line {n}", file.display());
        assert_eq!(kh.check_key("10.77.0.11", &a), Verdict::Known { at: at(3) });
        assert_eq!(kh.check_key("10.77.0.12", &a), Verdict::Unknown { other_types: vec!["ssh-rsa".into()], cert_authority: false });
        assert_eq!(kh.check_key("10.77.0.12", &r), Verdict::Known { at: at(4) });
        assert_eq!(kh.check_key("[10.77.0.12]:2222", &r), Verdict::Unknown { other_types: vec![], cert_authority: false });
        // another ed25519 key for 10.77.0.11: changed, whatever the file says elsewhere
        let (_, c, _) = keypair(dir.path(), "c", "ed25519");
        assert_eq!(kh.check_key("10.77.0.11", &c), Verdict::Changed { at: at(3) });
        // @revoked refuses the key for every host it matches, known or not
        assert_eq!(kh.check_key("10.77.0.11", &b), Verdict::Revoked { at: at(5) });
        assert_eq!(kh.check_key("anything", &b), Verdict::Revoked { at: at(5) });
        assert_eq!(kh.known_algorithms("10.77.0.12"), vec![r.algorithm()]);
    }

    #[test]
    fn host_certificates_against_the_cert_authority() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let (ca, _, ca_line) = keypair(d, "ca", "ed25519");
        let (other_ca, _, other_line) = keypair(d, "other_ca", "ecdsa");
        let (host, host_key, host_line) = keypair(d, "host", "ed25519");
        let sign = |ca: &Path, name: &str, extra: &[&str]| -> Certificate {
            let copy = d.join(name);
            std::fs::copy(host.with_extension("pub"), copy.with_extension("pub")).unwrap();
            let mut args = vec!["-q", "-s", ca.to_str().unwrap(), "-I", name];
            args.extend_from_slice(extra);
            let pubfile = copy.with_extension("pub");
            args.push(pubfile.to_str().unwrap());
            ssh_keygen(&args);
            let cert_path = PathBuf::from(format!("{}-cert.pub", copy.display()));
            Certificate::read_file(&cert_path).unwrap()
        };
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        let good = sign(&ca, "good", &["-h", "-n", "10.77.0.12,etcd02", "-V", "-5m:+1h"]);
        let any = sign(&ca, "any", &["-h", "-V", "-5m:+1h"]);
        let wrong_name = sign(&ca, "wrong", &["-h", "-n", "10.77.0.13", "-V", "-5m:+1h"]);
        let expired = sign(&ca, "expired", &["-h", "-n", "10.77.0.12", "-V", "20200101:20200102"]);
        let user = sign(&ca, "user", &["-n", "10.77.0.12", "-V", "-5m:+1h"]);
        let foreign = sign(&other_ca, "foreign", &["-h", "-n", "10.77.0.12", "-V", "-5m:+1h"]);

        let file = d.join("known_hosts");
        let mut kh = KnownHosts::default();
        kh.add(&format!("@cert-authority 10.77.0.*,[10.77.0.*]:* {ca_line}\n10.77.0.12 {host_line}\n"), &file);
        assert!(kh.has_cert_authority("10.77.0.12") && kh.has_cert_authority("[10.77.0.12]:2222"));
        assert!(!kh.has_cert_authority("192.168.1.30"));
        let ok = Verdict::Known { at: format!("{} line 1", file.display()) };
        assert_eq!(kh.check_certificate("10.77.0.12", "10.77.0.12", &good, now), ok);
        assert_eq!(kh.check_certificate("[10.77.0.12]:2222", "10.77.0.12", &good, now), ok);
        assert_eq!(kh.check_certificate("10.77.0.12", "10.77.0.12", &any, now), ok, "no principals: any host (PROTOCOL.certkeys)");
        let bad = |v: Verdict, want: &str| match v {
            Verdict::BadCertificate(m) => assert!(m.contains(want), "{m:?} lacks {want:?}"),
            other => panic!("expected a refused certificate ({want}), got {other:?}"),
        };
        bad(kh.check_certificate("10.77.0.12", "10.77.0.12", &wrong_name, now), "not for \"10.77.0.12\"");
        bad(kh.check_certificate("10.77.0.12", "10.77.0.12", &expired, now), "2020-01-02");
        bad(kh.check_certificate("10.77.0.12", "10.77.0.12", &user, now), "user certificate");
        bad(kh.check_certificate("10.77.0.12", "10.77.0.12", &foreign, now), "no @cert-authority line");
        // the plain key is known, but its certificate from an untrusted CA is not taken for it
        assert_eq!(kh.check_key("10.77.0.12", &host_key), Verdict::Known { at: format!("{} line 2", file.display()) });
        bad(kh.check_certificate("10.77.0.12", "10.77.0.12", &foreign, now), &fingerprint(foreign.signature_key()));
        // a CA line for other hosts only
        let mut elsewhere = KnownHosts::default();
        elsewhere.add(&format!("@cert-authority *.example.com {ca_line}\n@cert-authority 10.77.0.12 {other_line}\n"), &file);
        bad(elsewhere.check_certificate("10.77.0.12", "10.77.0.12", &good, now), "trusted: SHA256:");
        // a revoked CA, and a revoked host key inside a good certificate
        let mut revoked = KnownHosts::default();
        revoked.add(&format!("@cert-authority * {ca_line}\n@revoked * {ca_line}\n"), &file);
        assert!(matches!(revoked.check_certificate("10.77.0.12", "10.77.0.12", &good, now), Verdict::Revoked { .. }));
        let mut revoked = KnownHosts::default();
        revoked.add(&format!("@cert-authority * {ca_line}\n@revoked 10.77.0.12 {host_line}\n"), &file);
        assert!(matches!(revoked.check_certificate("10.77.0.12", "10.77.0.12", &good, now), Verdict::Revoked { .. }));
    }

    #[test]
    fn append_writes_what_openssh_finds() {
        let dir = tempfile::tempdir().unwrap();
        let (_, key, _) = keypair(dir.path(), "k", "ecdsa");
        let file = dir.path().join("sub/known_hosts");
        append(&file, "10.77.0.11", 22, &key).unwrap();
        append(&file, "10.77.0.11", 2222, &key).unwrap();
        assert_eq!(openssh_matches(&file, "10.77.0.11"), vec![1]);
        assert_eq!(openssh_matches(&file, "[10.77.0.11]:2222"), vec![2]);
        // a file without a final newline gets one first
        let f2 = dir.path().join("kh2");
        std::fs::write(&f2, "# no newline").unwrap();
        append(&f2, "h", 22, &key).unwrap();
        assert_eq!(openssh_matches(&f2, "h"), vec![2]);
        let kh = KnownHosts::load(&[file.clone(), dir.path().join("absent")]).unwrap();
        assert!(matches!(kh.check_key("[10.77.0.11]:2222", &key), Verdict::Known { .. }));
    }
}
