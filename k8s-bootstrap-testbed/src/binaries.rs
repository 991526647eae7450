//! The real programs the tests run: flanneld and etcd 3.4 to 3.7, built or
//! fetched by `scripts/setup-binaries` (called by `scripts/setup`) into a
//! cache folder outside the repository, and listed in its manifest
//! (`$K8S_BOOTSTRAP_CACHE/manifest.json`, default
//! `/var/cache/k8s-bootstrap/manifest.json`).
//!
//! Tests ask for a program by name and version (an etcd by its minor,
//! `"3.6"`) and get its path, or an error that names the file it looked
//! for and says `run scripts/setup (as root)`: a missing binary fails the
//! test, it never skips it.
//!
//! ```no_run
//! use k8s_bootstrap_testbed::binaries;
//!
//! let flanneld = binaries::flanneld().unwrap();
//! let etcd = binaries::etcd("3.7").unwrap();
//! let release = binaries::etcd_release("3.5").unwrap();
//! println!("{} {} {} sha256 {}", flanneld.display(), etcd.display(),
//!          release.path.display(), release.sha256);
//!
//! // Or load the manifest once and ask it several things:
//! let m = binaries::Manifest::load().unwrap();
//! for p in &m.programs {
//!     println!("{} {} {}", p.program, p.version, p.path.display());
//! }
//! ```
//!
//! The manifest, as `scripts/setup-binaries` writes it:
//!
//! ```json
//! {
//!   "format": 1,
//!   "generated_by": "scripts/setup-binaries",
//!   "cache": "/var/cache/k8s-bootstrap",
//!   "programs": [
//!     {"program": "etcd", "version": "3.7.3", "path": "/var/cache/k8s-bootstrap/bin/etcd-3.7.3/etcd",
//!      "version_args": ["--version"], "source": "go build in scripts/go-fixtures/etcd-3.7"}
//!   ],
//!   "releases": [
//!     {"program": "etcd", "version": "3.7.3", "path": "/var/cache/k8s-bootstrap/releases/etcd-v3.7.3-linux-amd64.tar.gz",
//!      "sha256": "…", "top_dir": "etcd-v3.7.3-linux-amd64", "files": ["etcd", "etcdctl", "etcdutl"]}
//!   ]
//! }
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What every error of this module tells the reader to do.
pub const SETUP_HINT: &str = "run scripts/setup (as root)";

/// The etcd minors the manifest holds, oldest first.
pub const ETCD_MINORS: [&str; 4] = ["3.4", "3.5", "3.6", "3.7"];

/// The cache folder default, when `K8S_BOOTSTRAP_CACHE` is not set.
pub const DEFAULT_CACHE: &str = "/var/cache/k8s-bootstrap";

/// The only manifest format this module reads.
pub const MANIFEST_FORMAT: u64 = 1;

/// A binary or the manifest is missing or unusable. Every message names the
/// file and ends with [`SETUP_HINT`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file that should exist does not.
    #[error("{what}: {} does not exist; {SETUP_HINT}", path.display())]
    Missing {
        /// What was asked for (`"the manifest of scripts/setup-binaries"`, `"etcd 3.6"`, ...).
        what: String,
        /// The file looked for.
        path: PathBuf,
    },
    /// The manifest exists but does not list what was asked for.
    #[error("{what} is not in {} (it lists: {have}); {SETUP_HINT}", manifest.display())]
    NotListed {
        /// What was asked for.
        what: String,
        /// The manifest read.
        manifest: PathBuf,
        /// What it lists instead (`program version, ...`).
        have: String,
    },
    /// The manifest cannot be read or parsed.
    #[error("{}: {detail}; {SETUP_HINT}", path.display())]
    Unreadable {
        /// The manifest.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
}

/// `Result` with this module's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One program of the manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    /// `flanneld`, `etcd`, `etcdctl` or `etcdutl`.
    pub program: String,
    /// Its full version, without a leading `v` (`0.28.10`, `3.6.16`).
    pub version: String,
    /// The executable.
    pub path: PathBuf,
    /// The arguments that make it print its version (`--version`; `version`
    /// for etcdctl and etcdutl, which have no `--version` flag).
    pub version_args: Vec<String>,
    /// Where it came from (a Debian package, PyPI, a Go build).
    pub source: String,
}

/// One release tarball of the manifest, in the upstream layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Release {
    /// `etcd`.
    pub program: String,
    /// Its full version (`3.5.1`).
    pub version: String,
    /// `…/releases/etcd-vX.Y.Z-linux-amd64.tar.gz`.
    pub path: PathBuf,
    /// SHA-256 of the tarball, lowercase hex.
    pub sha256: String,
    /// The one top folder inside (`etcd-vX.Y.Z-linux-amd64`).
    pub top_dir: String,
    /// The programs in that folder (`etcd`, `etcdctl`, and `etcdutl` where the version has it).
    pub files: Vec<String>,
}

/// The manifest of `scripts/setup-binaries`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    /// The file it was read from.
    pub path: PathBuf,
    /// The cache folder it describes.
    pub cache: PathBuf,
    /// Every program, in the manifest's order.
    pub programs: Vec<Program>,
    /// Every release tarball, in the manifest's order.
    pub releases: Vec<Release>,
}

/// The cache folder: `$K8S_BOOTSTRAP_CACHE`, else [`DEFAULT_CACHE`].
pub fn cache_dir() -> PathBuf {
    std::env::var_os("K8S_BOOTSTRAP_CACHE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CACHE))
}

/// `manifest.json` in [`cache_dir`].
pub fn manifest_path() -> PathBuf {
    cache_dir().join("manifest.json")
}

/// Does `version` (`3.6.16`) match `want` (`3.6`, `3.6.16`), on whole components?
fn version_matches(version: &str, want: &str) -> bool {
    let want = want.trim_start_matches('v');
    version == want
        || version
            .strip_prefix(want)
            .is_some_and(|rest| rest.starts_with('.'))
}

/// Orders versions by their numeric components (`3.6.9` < `3.6.16`).
fn version_key(v: &str) -> Vec<u64> {
    v.split('.').map(|c| c.parse().unwrap_or(0)).collect()
}

impl Manifest {
    /// Reads [`manifest_path`].
    pub fn load() -> Result<Self> {
        Self::load_from(&manifest_path())
    }

    /// Reads a manifest file.
    pub fn load_from(path: &Path) -> Result<Self> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::Missing {
                    what: "the manifest of scripts/setup-binaries".into(),
                    path: path.to_path_buf(),
                });
            }
            Err(e) => {
                return Err(Error::Unreadable {
                    path: path.to_path_buf(),
                    detail: format!("cannot read it: {e}"),
                });
            }
        };
        Self::parse(&text, path)
    }

    /// Parses a manifest's text; `path` is only used in messages and as [`Manifest::path`].
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let bad = |detail: String| Error::Unreadable {
            path: path.to_path_buf(),
            detail,
        };
        let root = json::parse(text).map_err(|e| bad(format!("not JSON: {e}")))?;
        let root = root.object("the manifest").map_err(&bad)?;
        let format = get(root, "format", "the manifest")
            .and_then(|v| v.number("format"))
            .map_err(&bad)?;
        if format != MANIFEST_FORMAT as f64 {
            return Err(bad(format!(
                "format {format}, this crate reads format {MANIFEST_FORMAT}"
            )));
        }
        let cache = get_str(root, "cache", "the manifest").map_err(&bad)?;
        let mut programs = Vec::new();
        for (i, p) in get(root, "programs", "the manifest")
            .and_then(|v| v.array("programs"))
            .map_err(&bad)?
            .iter()
            .enumerate()
        {
            let at = format!("programs[{i}]");
            let o = p.object(&at).map_err(&bad)?;
            programs.push(Program {
                program: get_str(o, "program", &at).map_err(&bad)?,
                version: get_str(o, "version", &at).map_err(&bad)?,
                path: PathBuf::from(get_str(o, "path", &at).map_err(&bad)?),
                version_args: get_strs(o, "version_args", &at).map_err(&bad)?,
                source: get_str(o, "source", &at).map_err(&bad)?,
            });
        }
        let mut releases = Vec::new();
        for (i, r) in get(root, "releases", "the manifest")
            .and_then(|v| v.array("releases"))
            .map_err(&bad)?
            .iter()
            .enumerate()
        {
            let at = format!("releases[{i}]");
            let o = r.object(&at).map_err(&bad)?;
            releases.push(Release {
                program: get_str(o, "program", &at).map_err(&bad)?,
                version: get_str(o, "version", &at).map_err(&bad)?,
                path: PathBuf::from(get_str(o, "path", &at).map_err(&bad)?),
                sha256: get_str(o, "sha256", &at).map_err(&bad)?,
                top_dir: get_str(o, "top_dir", &at).map_err(&bad)?,
                files: get_strs(o, "files", &at).map_err(&bad)?,
            });
        }
        Ok(Manifest {
            path: path.to_path_buf(),
            cache: PathBuf::from(cache),
            programs,
            releases,
        })
    }

    /// The program `program` at `version` (`"3.6"` or `"3.6.16"`; the
    /// newest when several match), whose file exists.
    pub fn program(&self, program: &str, version: &str) -> Result<&Program> {
        let found = self
            .programs
            .iter()
            .filter(|p| p.program == program && version_matches(&p.version, version))
            .max_by_key(|p| version_key(&p.version));
        let what = format!("{program} {version}");
        match found {
            None => Err(Error::NotListed {
                what,
                manifest: self.path.clone(),
                have: listing(self.programs.iter().map(|p| (&p.program, &p.version))),
            }),
            Some(p) if !p.path.is_file() => Err(Error::Missing {
                what: format!("{what} (listed in {})", self.path.display()),
                path: p.path.clone(),
            }),
            Some(p) => Ok(p),
        }
    }

    /// The release tarball of `program` at `version` (`"3.5"` or `"3.5.1"`),
    /// whose file exists.
    pub fn release(&self, program: &str, version: &str) -> Result<&Release> {
        let found = self
            .releases
            .iter()
            .filter(|r| r.program == program && version_matches(&r.version, version))
            .max_by_key(|r| version_key(&r.version));
        let what = format!("the {program} {version} release tarball");
        match found {
            None => Err(Error::NotListed {
                what,
                manifest: self.path.clone(),
                have: listing(self.releases.iter().map(|r| (&r.program, &r.version))),
            }),
            Some(r) if !r.path.is_file() => Err(Error::Missing {
                what: format!("{what} (listed in {})", self.path.display()),
                path: r.path.clone(),
            }),
            Some(r) => Ok(r),
        }
    }

    /// flanneld (the one version the manifest holds; the newest if several).
    pub fn flanneld(&self) -> Result<&Program> {
        self.newest("flanneld")
    }

    fn newest(&self, program: &str) -> Result<&Program> {
        let v = self
            .programs
            .iter()
            .filter(|p| p.program == program)
            .max_by_key(|p| version_key(&p.version))
            .map(|p| p.version.clone())
            .unwrap_or_default();
        self.program(program, if v.is_empty() { "any version" } else { &v })
    }

    /// etcd of a minor (`"3.4"` ... `"3.7"`) or an exact version.
    pub fn etcd(&self, minor: &str) -> Result<&Program> {
        self.program("etcd", minor)
    }

    /// etcdctl of a minor or an exact version.
    pub fn etcdctl(&self, minor: &str) -> Result<&Program> {
        self.program("etcdctl", minor)
    }

    /// etcdutl of a minor or an exact version (3.5 and later; 3.4 has none).
    pub fn etcdutl(&self, minor: &str) -> Result<&Program> {
        self.program("etcdutl", minor)
    }

    /// The upstream-layout release tarball of etcd of a minor or an exact version.
    pub fn etcd_release(&self, minor: &str) -> Result<&Release> {
        self.release("etcd", minor)
    }
}

fn listing<'a>(items: impl Iterator<Item = (&'a String, &'a String)>) -> String {
    let v: Vec<String> = items.map(|(p, v)| format!("{p} {v}")).collect();
    if v.is_empty() {
        "nothing".into()
    } else {
        v.join(", ")
    }
}

/// Path of flanneld, from [`Manifest::load`].
pub fn flanneld() -> Result<PathBuf> {
    Ok(Manifest::load()?.flanneld()?.path.clone())
}

/// Path of etcd of a minor (`"3.4"` ... `"3.7"`), from [`Manifest::load`].
pub fn etcd(minor: &str) -> Result<PathBuf> {
    Ok(Manifest::load()?.etcd(minor)?.path.clone())
}

/// Path of etcdctl of a minor, from [`Manifest::load`].
pub fn etcdctl(minor: &str) -> Result<PathBuf> {
    Ok(Manifest::load()?.etcdctl(minor)?.path.clone())
}

/// Path of etcdutl of a minor (3.5 and later), from [`Manifest::load`].
pub fn etcdutl(minor: &str) -> Result<PathBuf> {
    Ok(Manifest::load()?.etcdutl(minor)?.path.clone())
}

/// The etcd release tarball of a minor (path, sha256, layout), from [`Manifest::load`].
pub fn etcd_release(minor: &str) -> Result<Release> {
    Ok(Manifest::load()?.etcd_release(minor)?.clone())
}

fn get<'a>(
    o: &'a BTreeMap<String, json::Value>,
    key: &str,
    at: &str,
) -> Result<&'a json::Value, String> {
    o.get(key).ok_or_else(|| format!("{at} has no \"{key}\""))
}

fn get_str(o: &BTreeMap<String, json::Value>, key: &str, at: &str) -> Result<String, String> {
    get(o, key, at)?
        .string(&format!("{at}.{key}"))
        .map(str::to_string)
}

fn get_strs(o: &BTreeMap<String, json::Value>, key: &str, at: &str) -> Result<Vec<String>, String> {
    let at = format!("{at}.{key}");
    get(o, key, &at)?
        .array(&at)?
        .iter()
        .enumerate()
        .map(|(i, v)| v.string(&format!("{at}[{i}]")).map(str::to_string))
        .collect()
}

/// A small JSON reader (the manifest is all this crate reads; it keeps the
/// testbed free of a JSON dependency).
mod json {
    use std::collections::BTreeMap;

    #[derive(Debug, Clone, PartialEq)]
    pub enum Value {
        Null,
        Bool(bool),
        Number(f64),
        String(String),
        Array(Vec<Value>),
        Object(BTreeMap<String, Value>),
    }

    impl Value {
        fn kind(&self) -> &'static str {
            match self {
                Value::Null => "null",
                Value::Bool(_) => "a boolean",
                Value::Number(_) => "a number",
                Value::String(_) => "a string",
                Value::Array(_) => "an array",
                Value::Object(_) => "an object",
            }
        }
        pub fn object(&self, at: &str) -> Result<&BTreeMap<String, Value>, String> {
            match self {
                Value::Object(o) => Ok(o),
                v => Err(format!("{at} is {}, not an object", v.kind())),
            }
        }
        pub fn array(&self, at: &str) -> Result<&[Value], String> {
            match self {
                Value::Array(a) => Ok(a),
                v => Err(format!("{at} is {}, not an array", v.kind())),
            }
        }
        pub fn string(&self, at: &str) -> Result<&str, String> {
            match self {
                Value::String(s) => Ok(s),
                v => Err(format!("{at} is {}, not a string", v.kind())),
            }
        }
        pub fn number(&self, at: &str) -> Result<f64, String> {
            match self {
                Value::Number(n) => Ok(*n),
                v => Err(format!("{at} is {}, not a number", v.kind())),
            }
        }
    }

    pub fn parse(text: &str) -> Result<Value, String> {
        let mut p = Parser {
            s: text.as_bytes(),
            i: 0,
        };
        let v = p.value(0)?;
        p.ws();
        if p.i != p.s.len() {
            return Err(p.err("trailing characters"));
        }
        Ok(v)
    }

    struct Parser<'a> {
        s: &'a [u8],
        i: usize,
    }

    impl Parser<'_> {
        fn err(&self, what: &str) -> String {
            let line = 1 + self.s[..self.i.min(self.s.len())]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            format!("{what} at byte {} (line {line})", self.i)
        }
        fn ws(&mut self) {
            while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\n' | b'\r') {
                self.i += 1;
            }
        }
        fn eat(&mut self, b: u8) -> bool {
            self.ws();
            if self.s.get(self.i) == Some(&b) {
                self.i += 1;
                true
            } else {
                false
            }
        }
        fn expect(&mut self, b: u8) -> Result<(), String> {
            if self.eat(b) {
                Ok(())
            } else {
                Err(self.err(&format!("expected '{}'", b as char)))
            }
        }
        fn value(&mut self, depth: usize) -> Result<Value, String> {
            if depth > 64 {
                return Err(self.err("nested too deep"));
            }
            self.ws();
            match self.s.get(self.i) {
                None => Err(self.err("unexpected end")),
                Some(b'{') => {
                    self.i += 1;
                    let mut o = BTreeMap::new();
                    if self.eat(b'}') {
                        return Ok(Value::Object(o));
                    }
                    loop {
                        self.ws();
                        if self.s.get(self.i) != Some(&b'"') {
                            return Err(self.err("expected a key"));
                        }
                        let k = self.string()?;
                        self.expect(b':')?;
                        let v = self.value(depth + 1)?;
                        o.insert(k, v);
                        if self.eat(b'}') {
                            return Ok(Value::Object(o));
                        }
                        self.expect(b',')?;
                    }
                }
                Some(b'[') => {
                    self.i += 1;
                    let mut a = Vec::new();
                    if self.eat(b']') {
                        return Ok(Value::Array(a));
                    }
                    loop {
                        a.push(self.value(depth + 1)?);
                        if self.eat(b']') {
                            return Ok(Value::Array(a));
                        }
                        self.expect(b',')?;
                    }
                }
                Some(b'"') => Ok(Value::String(self.string()?)),
                Some(b't') => self.word("true", Value::Bool(true)),
                Some(b'f') => self.word("false", Value::Bool(false)),
                Some(b'n') => self.word("null", Value::Null),
                Some(b'-' | b'0'..=b'9') => {
                    let start = self.i;
                    while self.i < self.s.len()
                        && matches!(
                            self.s[self.i],
                            b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'
                        )
                    {
                        self.i += 1;
                    }
                    std::str::from_utf8(&self.s[start..self.i])
                        .ok()
                        .and_then(|t| t.parse().ok())
                        .map(Value::Number)
                        .ok_or_else(|| self.err("bad number"))
                }
                Some(_) => Err(self.err("unexpected character")),
            }
        }
        fn word(&mut self, w: &str, v: Value) -> Result<Value, String> {
            if self.s[self.i..].starts_with(w.as_bytes()) {
                self.i += w.len();
                Ok(v)
            } else {
                Err(self.err("unexpected word"))
            }
        }
        /// A string; `self.i` is at its opening quote.
        fn string(&mut self) -> Result<String, String> {
            self.i += 1;
            let mut out = Vec::new();
            loop {
                match self.s.get(self.i) {
                    None => return Err(self.err("unterminated string")),
                    Some(b'"') => {
                        self.i += 1;
                        return String::from_utf8(out).map_err(|_| self.err("invalid UTF-8"));
                    }
                    Some(b'\\') => {
                        let c = *self
                            .s
                            .get(self.i + 1)
                            .ok_or_else(|| self.err("unterminated string"))?;
                        self.i += 2;
                        let ch = match c {
                            b'"' => '"',
                            b'\\' => '\\',
                            b'/' => '/',
                            b'b' => '\u{8}',
                            b'f' => '\u{c}',
                            b'n' => '\n',
                            b'r' => '\r',
                            b't' => '\t',
                            b'u' => {
                                let hi = self.hex4()?;
                                let code = if (0xD800..0xDC00).contains(&hi) {
                                    if self.s.get(self.i) != Some(&b'\\')
                                        || self.s.get(self.i + 1) != Some(&b'u')
                                    {
                                        return Err(self.err("lone surrogate"));
                                    }
                                    self.i += 2;
                                    let lo = self.hex4()?;
                                    if !(0xDC00..0xE000).contains(&lo) {
                                        return Err(self.err("bad surrogate pair"));
                                    }
                                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                                } else {
                                    hi
                                };
                                char::from_u32(code).ok_or_else(|| self.err("bad \\u escape"))?
                            }
                            _ => return Err(self.err("bad escape")),
                        };
                        let mut buf = [0u8; 4];
                        out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                    }
                    Some(&b) if b < 0x20 => return Err(self.err("control character in string")),
                    Some(&b) => {
                        out.push(b);
                        self.i += 1;
                    }
                }
            }
        }
        fn hex4(&mut self) -> Result<u32, String> {
            let h = self
                .s
                .get(self.i..self.i + 4)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .ok_or_else(|| self.err("bad \\u escape"))?;
            self.i += 4;
            Ok(h)
        }
    }
}

/// `spec` with etcd taken from `release` (an etcd tarball of the
/// manifest): `versions.etcd` its version, `binaries.etcd_release` its
/// path and SHA-256, and the single-binary paths cleared (a spec gives
/// one or the other).
///
/// ```no_run
/// use k8s_bootstrap_testbed::binaries::{Manifest, testbed_spec, use_etcd_release};
/// let mut spec = testbed_spec().unwrap();
/// use_etcd_release(&mut spec, Manifest::load().unwrap().etcd_release("3.6").unwrap()).unwrap();
/// assert!(spec.binaries.etcd.is_none() && spec.binaries.etcd_release.is_some());
/// ```
pub fn use_etcd_release(spec: &mut k8s_bootstrap_core::spec::ClusterSpec, release: &Release) -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync>> {
    spec.versions.etcd = release.version.parse().map_err(|e| format!("etcd's version {:?}: {e}", release.version))?;
    spec.binaries.etcd = None;
    spec.binaries.etcdctl = None;
    spec.binaries.etcd_release = Some(k8s_bootstrap_core::spec::ReleaseSource {
        path: Some(release.path.to_string_lossy().into_owned()),
        sha256: Some(release.sha256.clone()),
        ..Default::default()
    });
    Ok(())
}

/// The testbed's cluster, `examples/testbed-cluster.yaml`, with the
/// flanneld of scripts/setup (its path and version from the manifest):
/// what the end-to-end tests apply, before their own changes.
///
/// ```no_run
/// let spec = k8s_bootstrap_testbed::binaries::testbed_spec().expect("scripts/setup has run");
/// assert_eq!(spec.hosts.len(), 3);
/// ```
pub fn testbed_spec() -> std::result::Result<k8s_bootstrap_core::spec::ClusterSpec, Box<dyn std::error::Error + Send + Sync>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/testbed-cluster.yaml");
    let yaml = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let (mut spec, _warnings) = k8s_bootstrap_core::spec::ClusterSpec::load(&yaml).map_err(|e| format!("{path}: {e}"))?;
    let m = Manifest::load()?;
    let flanneld = m.flanneld()?;
    spec.binaries.flanneld = Some(flanneld.path.to_string_lossy().into_owned());
    spec.versions.flannel = flanneld.version.parse().map_err(|e| format!("flanneld's version {:?}: {e}", flanneld.version))?;
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"{
      "format": 1, "generated_by": "scripts/setup-binaries", "cache": "/c",
      "programs": [
        {"program": "flanneld", "version": "0.28.10", "path": "/c/bin/flanneld-0.28.10/flanneld", "version_args": ["--version"], "source": "go"},
        {"program": "etcd", "version": "3.6.9", "path": "/c/bin/etcd-3.6.9/etcd", "version_args": ["--version"], "source": "go"},
        {"program": "etcd", "version": "3.6.16", "path": "/c/bin/etcd-3.6.16/etcd", "version_args": ["--version"], "source": "go \"x\" \u00e9"},
        {"program": "etcdctl", "version": "3.4.23", "path": "/c/bin/etcd-3.4.23/etcdctl", "version_args": ["version"], "source": "Debian"}
      ],
      "releases": [
        {"program": "etcd", "version": "3.5.1", "path": "/c/releases/etcd-v3.5.1-linux-amd64.tar.gz", "sha256": "ab", "top_dir": "etcd-v3.5.1-linux-amd64", "files": ["etcd", "etcdctl", "etcdutl"]}
      ]
    }"#;

    fn sample() -> Manifest {
        Manifest::parse(SAMPLE, Path::new("/c/manifest.json")).unwrap()
    }

    #[test]
    fn parses_the_format_setup_binaries_writes() {
        let m = sample();
        assert_eq!(m.cache, PathBuf::from("/c"));
        assert_eq!(m.programs.len(), 4);
        assert_eq!(m.programs[2].source, "go \"x\" é");
        assert_eq!(m.programs[3].version_args, vec!["version".to_string()]);
        assert_eq!(m.releases[0].files, ["etcd", "etcdctl", "etcdutl"]);
        assert_eq!(m.releases[0].top_dir, "etcd-v3.5.1-linux-amd64");
    }

    #[test]
    fn versions_match_on_whole_components() {
        assert!(version_matches("3.6.16", "3.6"));
        assert!(version_matches("3.6.16", "3.6.16"));
        assert!(version_matches("3.6.16", "v3.6"));
        assert!(!version_matches("3.6.16", "3.6.1"));
        assert!(!version_matches("3.16.0", "3.1"));
        assert!(version_key("3.6.16") > version_key("3.6.9"));
    }

    #[test]
    fn a_file_missing_on_disk_names_it_and_says_run_setup() {
        // the paths of the sample do not exist: the newest 3.6 is looked for
        let e = sample().etcd("3.6").unwrap_err().to_string();
        assert!(e.contains("/c/bin/etcd-3.6.16/etcd"), "{e}");
        assert!(e.ends_with("run scripts/setup (as root)"), "{e}");
    }

    #[test]
    fn a_version_not_listed_says_what_is_and_run_setup() {
        let e = sample().etcd("3.7").unwrap_err().to_string();
        assert!(e.contains("etcd 3.7 is not in /c/manifest.json"), "{e}");
        assert!(e.contains("etcd 3.6.16"), "{e}");
        assert!(e.ends_with("run scripts/setup (as root)"), "{e}");
        let e = sample().etcd_release("3.4").unwrap_err().to_string();
        assert!(
            e.contains("the etcd 3.4 release tarball is not in /c/manifest.json"),
            "{e}"
        );
    }

    #[test]
    fn a_missing_manifest_names_the_file_and_says_run_setup() {
        let dir = std::env::temp_dir().join(format!("kbtb-binaries-{}", std::process::id()));
        let e = Manifest::load_from(&dir.join("manifest.json"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&format!("{}", dir.join("manifest.json").display())),
            "{e}"
        );
        assert!(e.ends_with("run scripts/setup (as root)"), "{e}");
    }

    #[test]
    fn a_broken_manifest_says_where_and_run_setup() {
        for (text, want) in [
            ("{", "not JSON"),
            ("[]", "not an object"),
            (r#"{"format": 2}"#, "format 2"),
            (
                r#"{"format": 1, "cache": "/c", "programs": [{}], "releases": []}"#,
                "programs[0] has no \"program\"",
            ),
        ] {
            let e = Manifest::parse(text, Path::new("/m.json"))
                .unwrap_err()
                .to_string();
            assert!(
                e.starts_with("/m.json: ") && e.contains(want),
                "{text}: {e}"
            );
            assert!(e.ends_with("run scripts/setup (as root)"), "{e}");
        }
    }
}

