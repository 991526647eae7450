//! OpenSSH client configuration files (ssh_config(5)) read the way `ssh`
//! reads them, for the settings a connection here needs: `Host` and `Match`
//! sections, `Include`, `HostName`, `User`, `Port`, `IdentityFile`,
//! `IdentitiesOnly`, `ProxyJump`, `UserKnownHostsFile`,
//! `GlobalKnownHostsFile` and `StrictHostKeyChecking`.
//!
//! As in OpenSSH: the first obtained value of a setting wins (so specific
//! sections go first, `Host *` last), except `IdentityFile`, whose values add
//! up; values given before the file is read ([`SshOverrides`]: the spec's own
//! `ssh` settings, command-line options) win over the file; `Host` patterns
//! take `*`, `?`, `!` and several patterns per line; `Include` reads files
//! (with wildcards, relative to `~/.ssh`) in the section it appears in;
//! `~`, `${VAR}` and the `%` tokens are expanded in paths as `ssh` expands
//! them; a user's config file that others may write is refused.
//!
//! Not like OpenSSH, on purpose:
//! - `StrictHostKeyChecking no` (or `off`) is refused with an error: host
//!   keys are always checked. `yes`, `ask` and `accept-new` all mean strict
//!   checking; trust on first use is an explicit option of the program
//!   ([`SshOverrides::accept_new_host_keys`]), not something a config file
//!   shared with interactive `ssh` turns on.
//! - `Match` with `exec` (which would run a command), `canonical`, `final`,
//!   `localnetwork`, `tagged`, `version`, `sessiontype` or `command`: the
//!   block is ignored, with a warning. `Match all`, `host`, `originalhost`,
//!   `user` and `localuser` are understood.
//! - Settings that change how the connection is made but are not supported
//!   (`ProxyCommand`, `HostKeyAlias`, `IdentityAgent`, `CertificateFile`,
//!   `KnownHostsCommand`, `CanonicalizeHostname`) are ignored with a
//!   warning when they apply to the host. Every other keyword is ignored.
//! - The default user is `root`, not the local user.
//!
//! ```
//! use k8s_bootstrap_core::transport::{SshConfigFile, SshOverrides};
//! let file = SshConfigFile::parse(
//!     "Host etcd-a\n  HostName 10.77.0.11\n  User deploy\n\nHost * !bastion\n  User root\n  ProxyJump bastion\n",
//!     "/home/me/.ssh/config",
//! )?;
//! let r = file.resolve("etcd-a", &SshOverrides::default())?;
//! assert_eq!((r.ssh.host.as_str(), r.ssh.user.as_str()), ("10.77.0.11", "deploy")); // first obtained value wins
//! assert_eq!(r.ssh.proxy_jump.as_ref().unwrap().host, "bastion");
//! # Ok::<(), k8s_bootstrap_core::transport::SshConfigError>(())
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::known_hosts::{pattern_list_match, wildcard_match};
use super::{HostKeyCheck, SshConfig};

/// An ssh_config file that cannot be used, with the file, line and value.
///
/// ```
/// use k8s_bootstrap_core::transport::{SshConfigError, SshConfigFile};
/// let err = SshConfigFile::parse("Host etcd-a\n  Port 22x\n", "/home/me/.ssh/config").unwrap_err();
/// assert!(matches!(&err, SshConfigError::Line { line: 2, keyword, value, .. } if keyword == "Port" && value == "22x"));
/// assert_eq!(err.to_string(), "/home/me/.ssh/config line 2: Port 22x: a port is a number from 1 to 65535");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SshConfigError {
    /// A file cannot be read, or is refused (owned by someone else, or
    /// writable by group or others, as OpenSSH refuses it).
    #[error("{}: {reason}", file.display())]
    Read {
        /// The file.
        file: PathBuf,
        /// Why.
        reason: String,
    },
    /// A line is malformed or asks for something refused.
    #[error("{} line {line}: {keyword} {value}: {problem}", file.display())]
    Line {
        /// The file.
        file: PathBuf,
        /// Its line (1-based).
        line: usize,
        /// The keyword as written (`Port`).
        keyword: String,
        /// The value as written.
        value: String,
        /// What is wrong, and the fix.
        problem: String,
    },
    /// A value given in [`SshOverrides`] (the spec's `ssh` settings) is malformed.
    #[error("{name} {value:?}: {problem}")]
    Override {
        /// The setting (`ssh.proxy_jump`).
        name: String,
        /// The value.
        value: String,
        /// What is wrong.
        problem: String,
    },
}

/// Settings given before the file is read; they win over it, as OpenSSH's
/// command line wins over its config files. The first five are the spec's
/// `hosts[].ssh` settings and apply to the host itself; the last two are
/// options of the program and apply to jump hosts too.
///
/// ```
/// use k8s_bootstrap_core::transport::{HostKeyCheck, SshConfigFile, SshOverrides};
/// let file = SshConfigFile::parse("Host *\n  User deploy\n  Port 2222\n", "/home/me/.ssh/config")?;
/// let given = SshOverrides { user: Some("root".into()), accept_new_host_keys: true, ..SshOverrides::default() };
/// let r = file.resolve("etcd01", &given)?;
/// assert_eq!((r.ssh.user.as_str(), r.ssh.port), ("root", 2222)); // the given user wins; the port comes from the file
/// assert_eq!(r.ssh.host_key_check, HostKeyCheck::AcceptNew);
/// # Ok::<(), k8s_bootstrap_core::transport::SshConfigError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SshOverrides {
    /// Remote user.
    pub user: Option<String>,
    /// Port.
    pub port: Option<u16>,
    /// Private key files, tried before the file's `IdentityFile`s (like `ssh -i`).
    pub identity_files: Vec<PathBuf>,
    /// Jump hosts, in `ProxyJump` syntax (`[user@]host[:port]`, comma-separated, or `none`).
    pub proxy_jump: Option<String>,
    /// A pinned host key fingerprint (`SHA256:...`): known_hosts and
    /// `StrictHostKeyChecking` are then not consulted.
    pub host_key: Option<String>,
    /// known_hosts file (replaces `UserKnownHostsFile`), for every hop.
    pub known_hosts: Option<PathBuf>,
    /// Trust unknown host keys on first use and record them, for every hop
    /// (a changed key is still an error).
    pub accept_new_host_keys: bool,
}

/// The settings for one host, and warnings for people (unsupported
/// settings or `Match` blocks that were ignored).
///
/// ```
/// use k8s_bootstrap_core::transport::{SshConfigFile, SshOverrides};
/// let file = SshConfigFile::parse("Host etcd-*\n  ProxyCommand nc %h %p\n", "/home/me/.ssh/config")?;
/// let r = file.resolve("etcd-a", &SshOverrides::default())?;
/// assert_eq!(r.ssh.host, "etcd-a");
/// assert_eq!(r.warnings, ["/home/me/.ssh/config line 2: ProxyCommand is not supported and is ignored (use ProxyJump)"]);
/// # Ok::<(), k8s_bootstrap_core::transport::SshConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The connection settings (jump hosts in [`SshConfig::proxy_jump`]).
    pub ssh: SshConfig,
    /// Warnings, with file and line.
    pub warnings: Vec<String>,
}

/// One or more ssh_config files (with their `Include`s), parsed.
///
/// ```no_run
/// use k8s_bootstrap_core::transport::{SshConfigFile, SshOverrides, SshTransport};
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let file = SshConfigFile::load_default()?; // ~/.ssh/config, then /etc/ssh/ssh_config
/// let host = SshTransport::connect(file.resolve("etcd-a", &SshOverrides::default())?.ssh).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
pub struct SshConfigFile {
    files: Vec<PathBuf>,
    lines: Vec<Directive>,
    conds: Vec<Cond>,
    warnings: Vec<String>,
}

#[derive(Debug, Clone)]
struct Loc {
    file: Arc<PathBuf>,
    line: usize,
    keyword: String,
    value: String,
}

impl Loc {
    fn error(&self, problem: impl Into<String>) -> SshConfigError {
        SshConfigError::Line {
            file: (*self.file).clone(),
            line: self.line,
            keyword: self.keyword.clone(),
            value: self.value.clone(),
            problem: problem.into(),
        }
    }
    fn at(&self) -> String {
        format!("{} line {}", self.file.display(), self.line)
    }
}

#[derive(Debug, Clone)]
enum Value {
    HostName(String),
    User(String),
    Port(u16),
    IdentityFile(String),
    IdentitiesOnly(bool),
    ProxyJump(Option<Vec<Jump>>, String),
    UserKnownHostsFile(Option<Vec<String>>),
    GlobalKnownHostsFile(Option<Vec<String>>),
    /// `true`: checked (yes, ask, accept-new); `false`: no / off, refused when it takes effect.
    StrictHostKeyChecking(bool),
    Unsupported(&'static str),
}

#[derive(Debug, Clone)]
struct Directive {
    loc: Loc,
    value: Value,
    /// Conditions (indexes into `conds`) that must all hold: the section of
    /// the line, and the sections around each `Include` that led to it.
    guard: Arc<[usize]>,
}

#[derive(Debug, Clone)]
enum Cond {
    Host(Vec<String>),
    Match(Vec<Criterion>),
    /// A `Match` block that is ignored.
    Never,
}

#[derive(Debug, Clone)]
enum Criterion {
    All,
    Host(bool, String),
    OriginalHost(bool, String),
    User(bool, String),
    LocalUser(bool, String),
}

/// One hop of a `ProxyJump` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Jump {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

impl std::fmt::Display for Jump {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(u) = &self.user {
            write!(f, "{u}@")?;
        }
        if self.host.contains(':') {
            write!(f, "[{}]", self.host)?;
        } else {
            f.write_str(&self.host)?;
        }
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        Ok(())
    }
}

/// Parses a `ProxyJump` value: `none`, or `[user@]host[:port]` and
/// `ssh://[user@]host[:port]` hops separated by commas.
pub(crate) fn parse_proxy_jump(v: &str) -> Result<Option<Vec<Jump>>, String> {
    if v.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    let mut hops = Vec::new();
    for hop in v.split(',') {
        let s = hop.strip_prefix("ssh://").unwrap_or(hop);
        let s = s.strip_suffix('/').unwrap_or(s);
        let (user, rest) = match s.rsplit_once('@') {
            Some((u, r)) => (Some(u.to_string()), r),
            None => (None, s),
        };
        let (host, port) = if let Some(r) = rest.strip_prefix('[') {
            let (h, after) = r.split_once(']').ok_or_else(|| format!("{hop:?}: a '[' without ']'"))?;
            match after {
                "" => (h, None),
                _ => (h, Some(after.strip_prefix(':').ok_or_else(|| format!("{hop:?}: expected :port after ]"))?)),
            }
        } else {
            match rest.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (rest, None),
            }
        };
        let bad = |c: char| c.is_whitespace() || c == '\'' || c == '"' || c == '`' || c == '\\' || c == ';';
        if host.is_empty() || host.starts_with('-') || host.contains(bad) {
            return Err(format!("{hop:?}: a jump host is [user@]host[:port]"));
        }
        if user.as_deref().is_some_and(|u| u.is_empty() || u.starts_with('-') || u.contains(bad)) {
            return Err(format!("{hop:?}: a jump host is [user@]host[:port]"));
        }
        let port = match port {
            Some(p) => Some(parse_port(p).ok_or_else(|| format!("{hop:?}: a port is a number from 1 to 65535"))?),
            None => None,
        };
        hops.push(Jump { user, host: host.to_string(), port });
    }
    Ok(Some(hops))
}

/// Whether `v` is a usable `ProxyJump` value (for the spec's validation).
pub(crate) fn check_proxy_jump(v: &str) -> Result<(), String> {
    parse_proxy_jump(v).map(|_| ())
}

fn parse_port(p: &str) -> Option<u16> {
    p.parse::<u16>().ok().filter(|&p| p != 0)
}

fn parse_flag(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "yes" | "true" => Some(true),
        "no" | "false" => Some(false),
        _ => None,
    }
}

/// OpenSSH's `argv_split`: whitespace-separated words, `"..."` and `'...'`
/// quoting, backslash escapes; a `#` starting a word starts a comment.
fn split_words(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        match chars.peek() {
            None | Some('#') => break,
            _ => {}
        }
        let mut word = String::new();
        let mut quote: Option<char> = None;
        while let Some(&c) = chars.peek() {
            match (c, quote) {
                (c, None) if c.is_whitespace() => break,
                ('\\', q) => {
                    chars.next();
                    match chars.next() {
                        Some(n) if q.is_none() || n == '\\' || Some(n) == q => word.push(n),
                        Some(n) => {
                            word.push('\\');
                            word.push(n);
                        }
                        None => return Err("a line ends with a backslash".into()),
                    }
                    continue;
                }
                ('"' | '\'', None) => quote = Some(c),
                (c, Some(q)) if c == q => quote = None,
                (c, _) => word.push(c),
            }
            chars.next();
        }
        if quote.is_some() {
            return Err("an unterminated quote".into());
        }
        out.push(word);
    }
    Ok(out)
}

/// The keyword and the rest of a line (`Keyword value`, `Keyword=value`, `Keyword = value`).
fn split_keyword(line: &str) -> (&str, &str) {
    let end = line.find(|c: char| c.is_whitespace() || c == '=').unwrap_or(line.len());
    let (kw, rest) = line.split_at(end);
    let rest = rest.trim_start();
    let rest = rest.strip_prefix('=').unwrap_or(rest).trim_start();
    (kw, rest)
}

/// Files that may be written by others are refused, as OpenSSH refuses a
/// user's config file that is not owned by the user (or root) or is
/// writable by group or others.
fn check_permissions(file: &Path, meta: &std::fs::Metadata) -> Result<(), SshConfigError> {
    use std::os::unix::fs::MetadataExt as _;
    let me = local::uid();
    let (uid, mode) = (meta.uid(), meta.mode());
    if (uid != 0 && Some(uid) != me) || mode & 0o022 != 0 {
        return Err(SshConfigError::Read {
            file: file.to_path_buf(),
            reason: format!(
                "bad owner or permissions (owner uid {uid}, mode {:04o}): another user could change where \
                 connections go; fix with `chown $USER {f} && chmod go-w {f}`",
                mode & 0o7777,
                f = file.display()
            ),
        });
    }
    Ok(())
}

/// Information about the local user and machine, for `~` and the tokens.
mod local {
    use std::path::PathBuf;

    pub fn uid() -> Option<u32> {
        use std::os::unix::fs::MetadataExt as _;
        let status = std::fs::read_to_string("/proc/self/status").ok();
        status
            .as_deref()
            .and_then(|s| s.lines().find_map(|l| l.strip_prefix("Uid:")))
            .and_then(|l| l.split_whitespace().next()?.parse().ok())
            .or_else(|| std::fs::metadata("/proc/self").ok().map(|m| m.uid()))
    }

    /// `(name, home)` of the passwd entry matching `f`.
    fn passwd(f: impl Fn(&str, u32) -> bool) -> Option<(String, PathBuf)> {
        let text = std::fs::read_to_string("/etc/passwd").ok()?;
        text.lines().find_map(|l| {
            let p: Vec<&str> = l.split(':').collect();
            let uid = p.get(2)?.parse().ok()?;
            (p.len() >= 6 && f(p[0], uid)).then(|| (p[0].to_string(), PathBuf::from(p[5])))
        })
    }

    pub fn home() -> Option<PathBuf> {
        std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from)
            .or_else(|| passwd(|_, u| Some(u) == uid()).map(|p| p.1))
    }

    pub fn home_of(user: &str) -> Option<PathBuf> {
        passwd(|n, _| n == user).map(|p| p.1)
    }

    pub fn user_name() -> Option<String> {
        passwd(|_, u| Some(u) == uid()).map(|p| p.0).or_else(|| std::env::var("USER").ok())
    }

    pub fn host_name() -> String {
        std::fs::read_to_string("/proc/sys/kernel/hostname").map(|s| s.trim().to_string()).unwrap_or_default()
    }
}

/// `~`, `~/...` and `~user/...` as OpenSSH's `tilde_expand_filename`.
fn expand_tilde(p: &str) -> Result<String, String> {
    let Some(rest) = p.strip_prefix('~') else {
        return Ok(p.to_string());
    };
    let (user, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let home = if user.is_empty() {
        local::home().ok_or("no home directory for ~")?
    } else {
        local::home_of(user).ok_or_else(|| format!("no such user for ~{user}"))?
    };
    Ok(format!("{}{tail}", home.display().to_string().trim_end_matches('/')))
}

/// The values `%` tokens stand for (ssh_config(5), TOKENS).
struct Tokens<'a> {
    host: &'a str,
    original: &'a str,
    port: u16,
    user: &'a str,
    jump: &'a str,
}

impl Tokens<'_> {
    /// `${VAR}` and the `%` tokens of `s`.
    fn expand(&self, s: &str) -> Result<String, String> {
        let mut out = String::new();
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            match c {
                '%' => {
                    let t = chars.next().ok_or("a lone % at the end (write %% for a percent sign)")?;
                    let host_name = local::host_name();
                    let v = match t {
                        '%' => "%".to_string(),
                        'h' => self.host.to_string(),
                        'n' | 'k' => self.original.to_string(),
                        'p' => self.port.to_string(),
                        'r' => self.user.to_string(),
                        'j' => self.jump.to_string(),
                        'u' => local::user_name().ok_or("the local user name is unknown")?,
                        'd' => local::home().ok_or("no home directory for %d")?.display().to_string(),
                        'i' => local::uid().ok_or("the local uid is unknown")?.to_string(),
                        'l' => host_name,
                        'L' => host_name.split('.').next().unwrap_or_default().to_string(),
                        'C' => {
                            // SHA-1 of %l%h%p%r, as OpenSSH 9.2 (Debian 12) computes it
                            // (later releases append %j).
                            use sha1::Digest as _;
                            let mut h = sha1::Sha1::new();
                            h.update(format!("{host_name}{}{}{}", self.host, self.port, self.user));
                            data_encoding::HEXLOWER.encode(&h.finalize())
                        }
                        other => return Err(format!("unknown token %{other}")),
                    };
                    out.push_str(&v);
                }
                '$' if chars.clone().next() == Some('{') => {
                    chars.next();
                    let name: String = chars.by_ref().take_while(|&c| c != '}').collect();
                    let v = std::env::var(&name).map_err(|_| format!("environment variable {name} is not set"))?;
                    out.push_str(&v);
                }
                c => out.push(c),
            }
        }
        Ok(out)
    }
}

fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?'])
}

/// The files matching a path with `*` / `?` in any component, sorted as glob(3) sorts them.
fn glob(pattern: &str) -> Vec<PathBuf> {
    let mut found = vec![PathBuf::from(if pattern.starts_with('/') { "/" } else { "" })];
    for comp in pattern.split('/').filter(|c| !c.is_empty()) {
        let mut next = Vec::new();
        for base in &found {
            if has_wildcard(comp) {
                let dir = if base.as_os_str().is_empty() { Path::new(".") } else { base.as_path() };
                let mut names: Vec<String> = std::fs::read_dir(dir)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .filter_map(|e| e.file_name().into_string().ok())
                    .filter(|n| (!n.starts_with('.') || comp.starts_with('.')) && wildcard_match(n, comp))
                    .collect();
                names.sort();
                next.extend(names.into_iter().map(|n| base.join(n)));
            } else {
                next.push(base.join(comp));
            }
        }
        found = next;
    }
    found.into_iter().filter(|p| p.is_file()).collect()
}

const MAX_INCLUDE_DEPTH: usize = 16;
const MAX_JUMPS: usize = 10;

impl SshConfigFile {
    /// Reads `file` (like `ssh -F FILE`; `none` reads nothing) and the files
    /// it includes. A file owned by another user (not root) or writable by
    /// group or others is refused, as OpenSSH refuses it.
    ///
    /// ```
    /// use k8s_bootstrap_core::transport::{SshConfigError, SshConfigFile};
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("config");
    /// std::fs::write(&path, "Host etcd-*\n  User deploy\n").unwrap();
    /// assert!(SshConfigFile::load(&path).is_ok());
    /// let err = SshConfigFile::load(dir.path().join("absent")).unwrap_err();
    /// assert!(matches!(err, SshConfigError::Read { .. }));
    /// ```
    ///
    /// # Errors
    /// [`SshConfigError`] with the file (and line) at fault.
    pub fn load(file: impl AsRef<Path>) -> Result<Self, SshConfigError> {
        let file = file.as_ref();
        let mut cfg = SshConfigFile::default();
        if file != Path::new("none") {
            cfg.read_file(file, &[], 0, true, true)?;
        }
        Ok(cfg)
    }

    /// What `ssh` reads without `-F`: `~/.ssh/config`, then `/etc/ssh/ssh_config`
    /// (each only if it exists).
    ///
    /// ```no_run
    /// use k8s_bootstrap_core::transport::{SshConfigFile, SshOverrides};
    /// let file = SshConfigFile::load_default()?;
    /// let r = file.resolve("etcd01", &SshOverrides::default())?;
    /// println!("ssh {}@{} -p {}", r.ssh.user, r.ssh.host, r.ssh.port);
    /// # Ok::<(), k8s_bootstrap_core::transport::SshConfigError>(())
    /// ```
    ///
    /// # Errors
    /// [`SshConfigError`] with the file (and line) at fault.
    pub fn load_default() -> Result<Self, SshConfigError> {
        let mut cfg = SshConfigFile::default();
        if let Some(home) = local::home() {
            let user = home.join(".ssh/config");
            if user.exists() {
                cfg.read_file(&user, &[], 0, true, true)?;
            }
        }
        let system = Path::new("/etc/ssh/ssh_config");
        if system.exists() {
            cfg.read_file(system, &[], 0, false, false)?;
        }
        Ok(cfg)
    }

    /// Parses `text` as the user config file `path` (its `Include`s are read
    /// from disk, relative to `~/.ssh`).
    ///
    /// ```
    /// use k8s_bootstrap_core::transport::{SshConfigFile, SshOverrides};
    /// let file = SshConfigFile::parse("Host 10.77.0.* !10.77.0.13\n  Port 2222\n", "cfg")?;
    /// assert_eq!(file.resolve("10.77.0.11", &SshOverrides::default())?.ssh.port, 2222);
    /// assert_eq!(file.resolve("10.77.0.13", &SshOverrides::default())?.ssh.port, 22); // negated
    /// # Ok::<(), k8s_bootstrap_core::transport::SshConfigError>(())
    /// ```
    ///
    /// # Errors
    /// [`SshConfigError::Line`] for a malformed line; [`SshConfigError::Read`] for an included file.
    pub fn parse(text: &str, path: impl Into<PathBuf>) -> Result<Self, SshConfigError> {
        let mut cfg = SshConfigFile::default();
        let path = path.into();
        cfg.files.push(path.clone());
        cfg.parse_text(text, Arc::new(path), &[], 0, true)?;
        Ok(cfg)
    }

    /// The files read, includes too, in order.
    ///
    /// ```
    /// use k8s_bootstrap_core::transport::SshConfigFile;
    /// let file = SshConfigFile::parse("Host *\n  User deploy\n", "/home/me/.ssh/config").unwrap();
    /// assert_eq!(file.files()[0].to_str(), Some("/home/me/.ssh/config"));
    /// ```
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    fn read_file(&mut self, file: &Path, guard: &[usize], depth: usize, user: bool, check: bool) -> Result<(), SshConfigError> {
        let read_err = |reason: String| SshConfigError::Read { file: file.to_path_buf(), reason };
        let meta = std::fs::metadata(file).map_err(|e| read_err(e.to_string()))?;
        if check {
            check_permissions(file, &meta)?;
        }
        let bytes = std::fs::read(file).map_err(|e| read_err(e.to_string()))?;
        let text = String::from_utf8(bytes).map_err(|_| read_err("not UTF-8 text".into()))?;
        self.files.push(file.to_path_buf());
        self.parse_text(&text, Arc::new(file.to_path_buf()), guard, depth, user)
    }

    fn parse_text(&mut self, text: &str, file: Arc<PathBuf>, outer: &[usize], depth: usize, user: bool) -> Result<(), SshConfigError> {
        // Lines before the first Host or Match apply to every host.
        let mut guard: Arc<[usize]> = outer.into();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (kw, rest) = split_keyword(line);
            let loc = Loc { file: file.clone(), line: i + 1, keyword: kw.to_string(), value: rest.to_string() };
            let args = split_words(rest).map_err(|e| loc.error(e))?;
            let one = || -> Result<&String, SshConfigError> {
                match args.as_slice() {
                    [a] => Ok(a),
                    [] => Err(loc.error("a value is missing")),
                    _ => Err(loc.error("takes one value")),
                }
            };
            let flag = || -> Result<bool, SshConfigError> { parse_flag(one()?).ok_or_else(|| loc.error("expected yes or no")) };
            let kwl = kw.to_ascii_lowercase();
            let value = match kwl.as_str() {
                "host" => {
                    if args.is_empty() {
                        return Err(loc.error("a Host line needs at least one pattern"));
                    }
                    self.conds.push(Cond::Host(args.clone()));
                    guard = outer.iter().copied().chain([self.conds.len() - 1]).collect();
                    continue;
                }
                "match" => {
                    let cond = self.parse_match(&args, &loc)?;
                    self.conds.push(cond);
                    guard = outer.iter().copied().chain([self.conds.len() - 1]).collect();
                    continue;
                }
                "include" => {
                    if args.is_empty() {
                        return Err(loc.error("a value is missing"));
                    }
                    if depth + 1 > MAX_INCLUDE_DEPTH {
                        return Err(loc.error(format!("includes nest deeper than {MAX_INCLUDE_DEPTH} (an Include loop?)")));
                    }
                    for a in &args {
                        let p = expand_tilde(a).map_err(|e| loc.error(e))?;
                        let p = if p.starts_with('/') {
                            p
                        } else if user {
                            format!("{}/.ssh/{p}", local::home().ok_or_else(|| loc.error("no home directory"))?.display())
                        } else {
                            format!("/etc/ssh/{p}")
                        };
                        let files = if has_wildcard(&p) { glob(&p) } else { vec![PathBuf::from(&p)].into_iter().filter(|f| f.exists()).collect() };
                        for f in files {
                            self.read_file(&f, &guard, depth + 1, user, user)?;
                        }
                    }
                    continue;
                }
                "hostname" => Value::HostName(one()?.clone()),
                "user" => Value::User(one()?.clone()),
                "port" => Value::Port(parse_port(one()?).ok_or_else(|| loc.error("a port is a number from 1 to 65535"))?),
                "identityfile" => Value::IdentityFile(one()?.clone()),
                "identitiesonly" => Value::IdentitiesOnly(flag()?),
                "proxyjump" => {
                    let v = one()?;
                    Value::ProxyJump(parse_proxy_jump(v).map_err(|e| loc.error(e))?, v.clone())
                }
                "userknownhostsfile" | "globalknownhostsfile" => {
                    if args.is_empty() {
                        return Err(loc.error("a value is missing"));
                    }
                    let files = (!(args.len() == 1 && args[0].eq_ignore_ascii_case("none"))).then(|| args.clone());
                    if kwl == "userknownhostsfile" { Value::UserKnownHostsFile(files) } else { Value::GlobalKnownHostsFile(files) }
                }
                "stricthostkeychecking" => match one()?.to_ascii_lowercase().as_str() {
                    "yes" | "true" | "ask" | "accept-new" => Value::StrictHostKeyChecking(true),
                    "no" | "false" | "off" => Value::StrictHostKeyChecking(false),
                    _ => return Err(loc.error("expected yes, accept-new, ask, no or off")),
                },
                "proxycommand" => Value::Unsupported("ProxyCommand is not supported and is ignored (use ProxyJump)"),
                "hostkeyalias" => Value::Unsupported("HostKeyAlias is not supported and is ignored: known_hosts is looked up by HostName"),
                "identityagent" => Value::Unsupported("IdentityAgent is not supported and is ignored: the agent at $SSH_AUTH_SOCK is used"),
                "certificatefile" => Value::Unsupported("CertificateFile is not supported and is ignored: user certificates are not offered"),
                "knownhostscommand" => Value::Unsupported("KnownHostsCommand is not supported and is ignored"),
                "canonicalizehostname" if args.first().is_some_and(|a| !a.eq_ignore_ascii_case("no")) => {
                    Value::Unsupported("CanonicalizeHostname is not supported and is ignored")
                }
                _ => continue,
            };
            self.lines.push(Directive { loc, value, guard: guard.clone() });
        }
        Ok(())
    }

    fn parse_match(&mut self, args: &[String], loc: &Loc) -> Result<Cond, SshConfigError> {
        if args.is_empty() {
            return Err(loc.error("a Match line needs criteria (all, host, originalhost, user, localuser)"));
        }
        let mut criteria = Vec::new();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let (neg, name) = match a.strip_prefix('!') {
                Some(n) => (true, n),
                None => (false, a.as_str()),
            };
            let name = name.to_ascii_lowercase();
            let mut arg = || it.next().cloned().ok_or_else(|| loc.error(format!("Match {name} needs a value")));
            match name.as_str() {
                "all" => criteria.push(Criterion::All),
                "host" => criteria.push(Criterion::Host(neg, arg()?)),
                "originalhost" => criteria.push(Criterion::OriginalHost(neg, arg()?)),
                "user" => criteria.push(Criterion::User(neg, arg()?)),
                "localuser" => criteria.push(Criterion::LocalUser(neg, arg()?)),
                "canonical" | "final" | "exec" | "localnetwork" | "tagged" | "version" | "sessiontype" | "command" => {
                    self.warnings.push(format!(
                        "{}: Match {name} is not supported: this Match block is ignored",
                        loc.at()
                    ));
                    return Ok(Cond::Never);
                }
                other => return Err(loc.error(format!("unknown Match criterion {other:?}"))),
            }
        }
        Ok(Cond::Match(criteria))
    }

    /// The settings `ssh NAME` would use (with `given` winning over the
    /// file), jump hosts resolved from the same file.
    ///
    /// ```
    /// use k8s_bootstrap_core::transport::{SshConfigFile, SshOverrides};
    /// let file = SshConfigFile::parse(
    ///     "Host etcd-c\n  HostName 10.77.0.13\n  ProxyJump root@10.77.0.11:22\nHost *\n  IdentityFile ~/.ssh/lab_%h\n",
    ///     "/home/me/.ssh/config",
    /// )?;
    /// let r = file.resolve("etcd-c", &SshOverrides::default())?;
    /// let jump = r.ssh.proxy_jump.as_deref().unwrap();
    /// assert_eq!((jump.host.as_str(), jump.user.as_str()), ("10.77.0.11", "root"));
    /// assert!(r.ssh.identity_files[0].ends_with(".ssh/lab_10.77.0.13")); // %h is the HostName
    /// assert!(jump.identity_files[0].ends_with(".ssh/lab_10.77.0.11")); // the jump host's own settings
    /// # Ok::<(), k8s_bootstrap_core::transport::SshConfigError>(())
    /// ```
    ///
    /// # Errors
    /// [`SshConfigError`]: a value that cannot be used (an unknown `%`
    /// token, `StrictHostKeyChecking no`, a `ProxyJump` loop), with its file and line.
    pub fn resolve(&self, name: &str, given: &SshOverrides) -> Result<Resolved, SshConfigError> {
        self.resolve_names(&[name], name, given)
    }

    /// Like [`SshConfigFile::resolve`] for a host known by several names (a
    /// spec's host name and address): a `Host` line applies when one of its
    /// patterns matches one of the names and no negated pattern matches any;
    /// `names[0]` is the original name (`%n`), `default_host` the address
    /// used without a `HostName`.
    pub(crate) fn resolve_names(&self, names: &[&str], default_host: &str, given: &SshOverrides) -> Result<Resolved, SshConfigError> {
        let mut warnings = self.warnings.clone();
        let ssh = self.resolve_hop(names, default_host, given, &mut Vec::new(), &mut warnings)?;
        let mut seen = std::collections::HashSet::new();
        warnings.retain(|w| seen.insert(w.clone()));
        Ok(Resolved { ssh, warnings })
    }

    fn resolve_hop(
        &self,
        names: &[&str],
        default_host: &str,
        given: &SshOverrides,
        chain: &mut Vec<String>,
        warnings: &mut Vec<String>,
    ) -> Result<SshConfig, SshConfigError> {
        // `Host` patterns match the names as given (case-sensitively, as in
        // OpenSSH); the host name connected to is lowercased.
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let original = names[0].clone();
        let mut s = State::default();
        if let Some(u) = &given.user {
            s.user = Some((u.clone(), None));
        }
        if let Some(p) = given.port {
            s.port = Some((p, None));
        }
        if let Some(j) = &given.proxy_jump {
            let hops = parse_proxy_jump(j).map_err(|problem| SshConfigError::Override {
                name: "ssh.proxy_jump".into(),
                value: j.clone(),
                problem,
            })?;
            s.proxy_jump = Some((hops, j.clone(), None));
        }
        let mut cache: Vec<Option<bool>> = vec![None; self.conds.len()];
        for d in &self.lines {
            let mut active = true;
            for &c in d.guard.iter() {
                let v = match cache[c] {
                    Some(v) => v,
                    None => {
                        let v = self.cond_holds(c, &names, &s);
                        cache[c] = Some(v);
                        v
                    }
                };
                if !v {
                    active = false;
                    break;
                }
            }
            if active {
                s.apply(d, warnings);
            }
        }

        let port = s.port.as_ref().map_or(22, |p| p.0);
        let user = s.user.as_ref().map_or_else(|| "root".to_string(), |u| u.0.clone());
        let host = match &s.host_name {
            Some((h, loc)) => Tokens { host: &original, original: &original, port, user: &user, jump: "" }
                .expand(h)
                .map_err(|e| loc.error(e))?
                .to_ascii_lowercase(),
            None => default_host.to_ascii_lowercase(),
        };
        let jump_text = s.proxy_jump.as_ref().and_then(|j| j.0.as_ref().map(|_| j.1.clone())).unwrap_or_default();
        let tokens = Tokens { host: &host, original: &original, port, user: &user, jump: &jump_text };
        let path = |v: &str, loc: Option<&Loc>| -> Result<PathBuf, SshConfigError> {
            let err = |e: String| match loc {
                Some(l) => l.error(e),
                None => SshConfigError::Override { name: "path".into(), value: v.into(), problem: e },
            };
            let t = expand_tilde(v).map_err(err)?;
            Ok(PathBuf::from(tokens.expand(&t).map_err(err)?))
        };

        let mut ssh = SshConfig::new(host.clone()).user(user.clone()).port(port);
        for f in &given.identity_files {
            ssh = ssh.identity_file(f.clone());
        }
        for (f, loc) in &s.identity_files {
            ssh = ssh.identity_file(path(f, Some(loc))?);
        }
        ssh = ssh.identities_only(s.identities_only.as_ref().is_some_and(|v| v.0));

        let mut extra = Vec::new();
        match (&given.known_hosts, &s.user_known_hosts) {
            (Some(k), _) => ssh = ssh.known_hosts(k.clone()),
            (None, Some((Some(files), loc))) => {
                ssh = ssh.known_hosts(path(&files[0], Some(loc))?);
                for f in &files[1..] {
                    extra.push(path(f, Some(loc))?);
                }
            }
            (None, Some((None, _))) => ssh = ssh.known_hosts("/dev/null"),
            (None, None) => {}
        }
        match &s.global_known_hosts {
            Some((Some(files), loc)) => {
                for f in files {
                    extra.push(path(f, Some(loc))?);
                }
            }
            Some((None, _)) => {}
            None => extra.extend(ssh.extra_known_hosts.iter().cloned()),
        }
        ssh = ssh.extra_known_hosts(extra);

        ssh = ssh.host_key_check(if let Some(fp) = &given.host_key {
            HostKeyCheck::Pinned(fp.clone())
        } else if given.accept_new_host_keys {
            HostKeyCheck::AcceptNew
        } else {
            match &s.strict {
                Some((false, loc)) => {
                    return Err(loc.error(
                        "host key checking cannot be turned off here: k8s-bootstrap always checks host keys. \
                         Put `StrictHostKeyChecking yes` in a Host block for these hosts above this line, record \
                         the keys with ssh-keyscan, or accept new keys explicitly (--accept-new-host-keys)",
                    ));
                }
                _ => HostKeyCheck::Strict,
            }
        });

        if let Some((Some(hops), text, loc)) = &s.proxy_jump {
            let here = || match loc {
                Some(l) => l.clone(),
                None => Loc { file: Arc::new(PathBuf::from("ssh.proxy_jump")), line: 0, keyword: "ProxyJump".into(), value: text.clone() },
            };
            let id = format!("{user}@{host}:{port}");
            if chain.contains(&id) {
                return Err(here().error(format!("a ProxyJump loop: {} -> {id}", chain.join(" -> "))));
            }
            chain.push(id);
            if chain.len() > MAX_JUMPS {
                return Err(here().error(format!("more than {MAX_JUMPS} jump hosts: {}", chain.join(" -> "))));
            }
            let (last, rest) = hops.split_last().expect("a ProxyJump list has a hop");
            let hop = SshOverrides {
                user: last.user.clone(),
                port: last.port,
                proxy_jump: (!rest.is_empty()).then(|| rest.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")),
                known_hosts: given.known_hosts.clone(),
                accept_new_host_keys: given.accept_new_host_keys,
                ..SshOverrides::default()
            };
            let jump = self.resolve_hop(&[&last.host], &last.host, &hop, chain, warnings)?;
            chain.pop();
            ssh = ssh.proxy_jump(jump);
        }
        Ok(ssh)
    }

    fn cond_holds(&self, c: usize, names: &[String], s: &State) -> bool {
        match &self.conds[c] {
            Cond::Never => false,
            Cond::Host(patterns) => {
                let mut positive = false;
                for p in patterns {
                    let (neg, p) = match p.strip_prefix('!') {
                        Some(p) => (true, p),
                        None => (false, p.as_str()),
                    };
                    if names.iter().any(|n| wildcard_match(n, p)) {
                        if neg {
                            return false;
                        }
                        positive = true;
                    }
                }
                positive
            }
            Cond::Match(criteria) => criteria.iter().all(|cr| {
                let (neg, hit) = match cr {
                    Criterion::All => (false, true),
                    Criterion::Host(neg, list) => {
                        let hit = match &s.host_name {
                            Some((h, _)) => pattern_list_match(&h.replace("%h", &names[0]), list),
                            None => names.iter().any(|n| pattern_list_match(n, list)),
                        };
                        (*neg, hit)
                    }
                    Criterion::OriginalHost(neg, list) => (*neg, names.iter().any(|n| pattern_list_match(n, list))),
                    Criterion::User(neg, list) => {
                        let u = s.user.as_ref().map_or("root", |u| u.0.as_str());
                        (*neg, pattern_list_match(u, list))
                    }
                    Criterion::LocalUser(neg, list) => (*neg, local::user_name().is_some_and(|u| pattern_list_match(&u, list))),
                };
                hit != neg
            }),
        }
    }
}

/// Values obtained so far for one host (`None` location: given, not from a file).
#[derive(Default)]
struct State {
    host_name: Option<(String, Loc)>,
    user: Option<(String, Option<Loc>)>,
    port: Option<(u16, Option<Loc>)>,
    identity_files: Vec<(String, Loc)>,
    identities_only: Option<(bool, Loc)>,
    proxy_jump: Option<(Option<Vec<Jump>>, String, Option<Loc>)>,
    user_known_hosts: Option<(Option<Vec<String>>, Loc)>,
    global_known_hosts: Option<(Option<Vec<String>>, Loc)>,
    strict: Option<(bool, Loc)>,
}

impl State {
    fn apply(&mut self, d: &Directive, warnings: &mut Vec<String>) {
        /// The first obtained value wins.
        fn first<T>(slot: &mut Option<T>, v: impl FnOnce() -> T) {
            if slot.is_none() {
                *slot = Some(v());
            }
        }
        let loc = || d.loc.clone();
        match &d.value {
            Value::HostName(v) => first(&mut self.host_name, || (v.clone(), loc())),
            Value::User(v) => first(&mut self.user, || (v.clone(), Some(loc()))),
            Value::Port(v) => first(&mut self.port, || (*v, Some(loc()))),
            Value::IdentityFile(v) => self.identity_files.push((v.clone(), loc())),
            Value::IdentitiesOnly(v) => first(&mut self.identities_only, || (*v, loc())),
            Value::ProxyJump(v, text) => first(&mut self.proxy_jump, || (v.clone(), text.clone(), Some(loc()))),
            Value::UserKnownHostsFile(v) => first(&mut self.user_known_hosts, || (v.clone(), loc())),
            Value::GlobalKnownHostsFile(v) => first(&mut self.global_known_hosts, || (v.clone(), loc())),
            Value::StrictHostKeyChecking(v) => first(&mut self.strict, || (*v, loc())),
            Value::Unsupported(why) => {
                warnings.push(format!("{}: {why}", d.loc.at()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(text: &str, name: &str) -> SshConfig {
        SshConfigFile::parse(text, "/cfg").unwrap().resolve(name, &SshOverrides::default()).unwrap().ssh
    }

    #[test]
    fn words_and_keywords() {
        assert_eq!(split_keyword("Port=2222"), ("Port", "2222"));
        assert_eq!(split_keyword("Port = 2222"), ("Port", "2222"));
        assert_eq!(split_keyword("Port  2222"), ("Port", "2222"));
        assert_eq!(split_words(r#"a "b c" 'd e' f\ g # comment"#).unwrap(), ["a", "b c", "d e", "f g"]);
        assert_eq!(split_words(r#"a#b"#).unwrap(), ["a#b"]);
        assert!(split_words(r#""open"#).is_err());
    }

    #[test]
    fn proxy_jump_syntax() {
        let j = parse_proxy_jump("deploy@bastion:2200,ssh://10.0.0.1,[fe80::1]:22").unwrap().unwrap();
        assert_eq!(j[0], Jump { user: Some("deploy".into()), host: "bastion".into(), port: Some(2200) });
        assert_eq!(j[1], Jump { user: None, host: "10.0.0.1".into(), port: None });
        assert_eq!(j[2], Jump { user: None, host: "fe80::1".into(), port: Some(22) });
        assert_eq!(j.iter().map(ToString::to_string).collect::<Vec<_>>(), ["deploy@bastion:2200", "10.0.0.1", "[fe80::1]:22"]);
        assert_eq!(parse_proxy_jump("none").unwrap(), None);
        for bad in ["", "a,,b", "host:0", "host:x", "-oProxyCommand=x", "a b", "@host"] {
            assert!(parse_proxy_jump(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn first_obtained_value_wins_and_identity_files_add_up() {
        let cfg = "User early\nHost etcd-a\n  User a\n  Port 2201\n  IdentityFile /k/a\nHost etcd-*\n  Port 2299\n  IdentityFile /k/all\n";
        let a = resolve(cfg, "etcd-a");
        assert_eq!((a.user.as_str(), a.port), ("early", 2201));
        assert_eq!(a.identity_files, [PathBuf::from("/k/a"), PathBuf::from("/k/all")]);
        let b = resolve(cfg, "etcd-b");
        assert_eq!(b.port, 2299);
    }

    #[test]
    fn match_blocks() {
        let cfg = "Match host 10.77.0.11\n  User m\nMatch exec \"true\"\n  Port 1\nHost x\n  HostName 10.77.0.11\n";
        let f = SshConfigFile::parse(cfg, "/cfg").unwrap();
        let r = f.resolve("x", &SshOverrides::default()).unwrap();
        assert_eq!(r.ssh.port, 22, "the exec block is ignored");
        assert_eq!(r.warnings, ["/cfg line 3: Match exec is not supported: this Match block is ignored"]);
        // Match host sees the HostName obtained so far: not yet at line 1.
        assert_eq!(r.ssh.user, "root");
        let r = f.resolve("10.77.0.11", &SshOverrides::default()).unwrap();
        assert_eq!(r.ssh.user, "m");
        assert!(matches!(SshConfigFile::parse("Match bogus x\n", "/cfg"), Err(SshConfigError::Line { line: 1, .. })));
    }

    #[test]
    fn strict_host_key_checking_off_is_refused_where_it_takes_effect() {
        let cfg = "Host safe\n  StrictHostKeyChecking yes\nHost *\n  StrictHostKeyChecking no\n";
        let f = SshConfigFile::parse(cfg, "/cfg").unwrap();
        assert_eq!(f.resolve("safe", &SshOverrides::default()).unwrap().ssh.host_key_check, HostKeyCheck::Strict);
        let e = f.resolve("other", &SshOverrides::default()).unwrap_err();
        assert!(matches!(&e, SshConfigError::Line { line: 4, keyword, value, .. } if keyword == "StrictHostKeyChecking" && value == "no"), "{e}");
        assert!(e.to_string().contains("always checks host keys"), "{e}");
        // a pinned key or an explicit accept-new given by the program wins over the file
        let pinned = SshOverrides { host_key: Some("SHA256:x".into()), ..SshOverrides::default() };
        assert_eq!(f.resolve("other", &pinned).unwrap().ssh.host_key_check, HostKeyCheck::Pinned("SHA256:x".into()));
        let tofu = SshOverrides { accept_new_host_keys: true, ..SshOverrides::default() };
        assert_eq!(f.resolve("other", &tofu).unwrap().ssh.host_key_check, HostKeyCheck::AcceptNew);
        let f = SshConfigFile::parse("StrictHostKeyChecking accept-new\n", "/cfg").unwrap();
        assert_eq!(f.resolve("h", &SshOverrides::default()).unwrap().ssh.host_key_check, HostKeyCheck::Strict);
    }

    #[test]
    fn proxy_jump_chains_and_loops() {
        let cfg = "Host target\n  ProxyJump a,deploy@b:2200\nHost a\n  User ua\nHost b\n  User ub\n  ProxyJump ignored-by-the-chain\n";
        let t = resolve(cfg, "target");
        let b = t.proxy_jump.as_deref().unwrap();
        assert_eq!((b.host.as_str(), b.user.as_str(), b.port), ("b", "deploy", 2200));
        let a = b.proxy_jump.as_deref().unwrap();
        assert_eq!((a.host.as_str(), a.user.as_str(), a.port), ("a", "ua", 22));
        assert!(a.proxy_jump.is_none());
        let f = SshConfigFile::parse("Host *\n  ProxyJump bastion\n", "/cfg").unwrap();
        let e = f.resolve("etcd-a", &SshOverrides::default()).unwrap_err();
        assert!(e.to_string().contains("loop"), "{e}");
        let ok = SshConfigFile::parse("Host * !bastion\n  ProxyJump bastion\n", "/cfg").unwrap();
        assert_eq!(ok.resolve("etcd-a", &SshOverrides::default()).unwrap().ssh.proxy_jump.unwrap().host, "bastion");
        let given = SshOverrides { proxy_jump: Some("none".into()), ..SshOverrides::default() };
        assert!(ok.resolve("etcd-a", &given).unwrap().ssh.proxy_jump.is_none());
    }

    #[test]
    fn names_and_addresses() {
        let cfg = "Host 10.77.0.* !10.77.0.13\n  User net\nHost etcd-c\n  Port 2222\n";
        let f = SshConfigFile::parse(cfg, "/cfg").unwrap();
        let r = f.resolve_names(&["etcd-a", "10.77.0.11"], "10.77.0.11", &SshOverrides::default()).unwrap();
        assert_eq!((r.ssh.host.as_str(), r.ssh.user.as_str()), ("10.77.0.11", "net"));
        let r = f.resolve_names(&["etcd-c", "10.77.0.13"], "10.77.0.13", &SshOverrides::default()).unwrap();
        assert_eq!((r.ssh.user.as_str(), r.ssh.port), ("root", 2222));
    }

    #[test]
    fn include_in_its_section_with_wildcards() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("conf.d")).unwrap();
        std::fs::write(d.join("conf.d/10-a.conf"), "Port 2201\nHost other\n  User o\n").unwrap();
        std::fs::write(d.join("conf.d/20-b.conf"), "IdentityFile /k/b\n").unwrap();
        std::fs::write(d.join("conf.d/.hidden.conf"), "Port 1\n").unwrap();
        let main = d.join("config");
        std::fs::write(&main, format!("Host etcd-*\n  Include {}/conf.d/*.conf\n  User after\n", d.display())).unwrap();
        let f = SshConfigFile::load(&main).unwrap();
        assert_eq!(f.files().len(), 3);
        let a = f.resolve("etcd-a", &SshOverrides::default()).unwrap().ssh;
        assert_eq!((a.port, a.user.as_str()), (2201, "after"), "included lines before later lines; `Host other` ends the include's scope only");
        assert_eq!(a.identity_files, [PathBuf::from("/k/b")]);
        let other = f.resolve("other", &SshOverrides::default()).unwrap().ssh;
        assert_eq!((other.port, other.user.as_str()), (22, "root"), "an Include inside `Host etcd-*` applies to etcd-* only");
        // an include loop ends with an error, not a stack overflow
        std::fs::write(&main, format!("Include {}\n", main.display())).unwrap();
        let e = SshConfigFile::load(&main).unwrap_err();
        assert!(e.to_string().contains("nest deeper"), "{e}");
    }

    #[test]
    fn files_others_may_write_are_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config");
        std::fs::write(&p, "User x\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o664)).unwrap();
        let e = SshConfigFile::load(&p).unwrap_err();
        assert!(matches!(&e, SshConfigError::Read { reason, .. } if reason.contains("chmod go-w")), "{e}");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(SshConfigFile::load(&p).is_ok());
    }

    #[test]
    fn bad_values_name_file_line_and_value() {
        for (text, line, kw) in [
            ("Host a\n  Port 0\n", 2, "Port"),
            ("IdentitiesOnly maybe\n", 1, "IdentitiesOnly"),
            ("Host a\n\n  StrictHostKeyChecking sometimes\n", 3, "StrictHostKeyChecking"),
            ("ProxyJump a b\n", 1, "ProxyJump"),
            ("ProxyJump host:99999\n", 1, "ProxyJump"),
            ("Host\n", 1, "Host"),
            ("HostName \"unterminated\n", 1, "HostName"),
        ] {
            match SshConfigFile::parse(text, "/cfg") {
                Err(SshConfigError::Line { line: l, keyword, file, .. }) => {
                    assert_eq!((l, keyword.as_str(), file.to_str()), (line, kw, Some("/cfg")), "{text:?}")
                }
                other => panic!("{text:?}: {other:?}"),
            }
        }
        let f = SshConfigFile::parse("IdentityFile /k/%q\n", "/cfg").unwrap();
        let e = f.resolve("h", &SshOverrides::default()).unwrap_err();
        assert_eq!(e.to_string(), "/cfg line 1: IdentityFile /k/%q: unknown token %q");
    }
}
