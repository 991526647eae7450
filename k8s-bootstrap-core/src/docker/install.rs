//! Installing the container engine on a node that has none: the spec's
//! `docker.install` ([`DockerInstall`]) turned into the exact commands for a
//! host's OS family ([`EngineInstall::steps`]). Nothing here touches a host;
//! the engine runs [`EngineInstall::check`] first and the steps only when
//! the check says the host has no dockerd.
//!
//! What the steps do, and why:
//! - Debian/Ubuntu: `apt-get install docker.io` (from the host's apt sources,
//!   after `apt-get update`; or the uploaded `.deb` files), non-interactive,
//!   without recommends, keeping existing config files, waiting up to 2
//!   minutes for a dpkg lock another apt holds (unattended-upgrades). While it runs,
//!   `/usr/sbin/policy-rc.d` says no (exit 101) so that the package does not
//!   start the distro's docker.service with its default config (that
//!   dockerd would take 172.17.0.1/16 and set iptables FORWARD to DROP)
//!   before our unit and daemon.json are written; a policy-rc.d the host
//!   already has is left as it is. Ours is removed when the install ends.
//! - RHEL family: `yum install docker-ce docker-ce-cli containerd.io`, after
//!   `yum-config-manager --add-repo URL` when a repository is given (the
//!   tutorial's step), or from the uploaded `.rpm` files with every repository
//!   disabled. RPM scriptlets start nothing.
//! - Both: docker.socket, which the packages enable, is disabled and
//!   stopped: our docker.service does not use socket activation (its dockerd
//!   opens /var/run/docker.sock itself), and a socket that starts docker on
//!   the first client would start it outside the apply's order. The unit
//!   file the package installs is replaced by ours in the files stage that
//!   follows; the engine's docker stage starts docker. containerd.service,
//!   which the containerd package enables, is left as the package set it:
//!   our dockerd runs its own containerd, and other software may use the
//!   system one.
//!
//! ```
//! use k8s_bootstrap_core::docker::{DockerInstall, EngineInstall};
//! use k8s_bootstrap_core::hostprep::OsFamily;
//! let i = EngineInstall::new(DockerInstall::Packages).dockerd("/usr/sbin/dockerd");
//! let steps = i.steps(OsFamily::Debian, &[]).unwrap();
//! assert_eq!(steps.description, "install docker.io with apt-get from the host's apt sources");
//! assert!(steps.argv.iter().any(|a| a == "docker.io"));
//! assert!(steps.uploads.is_empty());
//! ```

use serde::{Deserialize, Serialize};

use crate::model::{OsFamily, Problem};

/// Where a node without dockerd gets the engine from (`docker.install`).
///
/// ```
/// use k8s_bootstrap_core::docker::DockerInstall;
/// let parse = |y: &str| serde_yaml_ng::from_str::<DockerInstall>(y).unwrap();
/// assert_eq!(parse("packages"), DockerInstall::Packages);
/// assert_eq!(parse("none"), DockerInstall::None);
/// assert_eq!(parse("{ repo: https://download.docker.com/linux/centos/docker-ce.repo }"),
///     DockerInstall::Repo("https://download.docker.com/linux/centos/docker-ce.repo".into()));
/// assert_eq!(parse("{ offline: /srv/docker-debs }"), DockerInstall::Offline("/srv/docker-debs".into()));
/// assert_eq!(DockerInstall::default(), DockerInstall::Packages);
/// // JSON (and Python dicts) the same way:
/// assert_eq!(serde_json::to_string(&DockerInstall::Offline("/srv/debs".into())).unwrap(), r#"{"offline":"/srv/debs"}"#);
/// assert_eq!(serde_json::to_string(&DockerInstall::Packages).unwrap(), r#""packages""#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "RawInstall", into = "RawInstall")]
pub enum DockerInstall {
    /// The distro's package from the host's configured repositories:
    /// `docker.io` on Debian/Ubuntu, `docker-ce` on the RHEL family (whose
    /// repository the host must already have). The default.
    #[default]
    Packages,
    /// RHEL family: `docker-ce` from this repository file URL, added with
    /// `yum-config-manager --add-repo URL` as the tutorial does.
    Repo(String),
    /// Air-gapped: the `.deb` (Debian/Ubuntu) or `.rpm` (RHEL family)
    /// files in this folder of the control machine (absolute, or relative
    /// to the current directory), uploaded and installed together. The
    /// folder holds the engine's package and every dependency the hosts lack.
    Offline(String),
    /// Never install: a node without dockerd fails when docker starts.
    None,
}

/// `docker.install` as written: a word, or a one-key map (the same in YAML
/// and JSON, so Python's dicts read like the YAML).
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum RawInstall {
    Word(String),
    Repo {
        repo: String,
    },
    Offline {
        offline: String,
    },
    Other(serde_json::Value),
}

impl TryFrom<RawInstall> for DockerInstall {
    type Error = String;
    fn try_from(r: RawInstall) -> Result<Self, String> {
        const FORMS: &str = "packages, none, { repo: URL } or { offline: FOLDER }";
        match r {
            RawInstall::Word(w) if w == "packages" => Ok(DockerInstall::Packages),
            RawInstall::Word(w) if w == "none" => Ok(DockerInstall::None),
            RawInstall::Word(w) => Err(format!("unknown docker.install {w:?}: one of {FORMS}")),
            RawInstall::Repo { repo } => Ok(DockerInstall::Repo(repo)),
            RawInstall::Offline { offline } => Ok(DockerInstall::Offline(offline)),
            RawInstall::Other(v) => Err(format!("docker.install {v} is none of {FORMS}")),
        }
    }
}

impl From<DockerInstall> for RawInstall {
    fn from(d: DockerInstall) -> Self {
        match d {
            DockerInstall::Packages => RawInstall::Word("packages".into()),
            DockerInstall::None => RawInstall::Word("none".into()),
            DockerInstall::Repo(repo) => RawInstall::Repo { repo },
            DockerInstall::Offline(offline) => RawInstall::Offline { offline },
        }
    }
}

impl DockerInstall {
    /// Checks the setting; problem paths are relative to `docker.install`.
    ///
    /// ```
    /// use k8s_bootstrap_core::docker::DockerInstall;
    /// let p = DockerInstall::Repo("download.docker.com/linux/centos/docker-ce.repo".into()).validate();
    /// assert_eq!((p[0].path.as_str(), p[0].value.as_str()), ("repo", "download.docker.com/linux/centos/docker-ce.repo"));
    /// assert_eq!(DockerInstall::Offline(" ".into()).validate()[0].path, "offline");
    /// assert!(DockerInstall::Packages.validate().is_empty());
    /// ```
    pub fn validate(&self) -> Vec<Problem> {
        let mut p = Vec::new();
        match self {
            DockerInstall::Repo(url) => {
                if !(url.starts_with("http://") || url.starts_with("https://") || url.starts_with("file:///")) || url.contains(char::is_whitespace) || url.contains('\'') {
                    p.push(Problem::new("repo", url, "a yum repository file is an http(s) URL, like https://download.docker.com/linux/centos/docker-ce.repo"));
                }
            }
            DockerInstall::Offline(dir) => {
                if dir.trim().is_empty() || dir.contains('\n') {
                    p.push(Problem::new("offline", dir, "a folder of .deb or .rpm files on the control machine").fix("give its path, like ./packages/docker"));
                }
            }
            DockerInstall::Packages | DockerInstall::None => {}
        }
        p
    }

    /// How the setting reads in messages (`packages`, `repo URL`, ...).
    ///
    /// ```
    /// use k8s_bootstrap_core::docker::DockerInstall;
    /// assert_eq!(DockerInstall::Offline("/srv/debs".into()).describe(), "offline /srv/debs");
    /// ```
    pub fn describe(&self) -> String {
        match self {
            DockerInstall::Packages => "packages".into(),
            DockerInstall::Repo(u) => format!("repo {u}"),
            DockerInstall::Offline(d) => format!("offline {d}"),
            DockerInstall::None => "none".into(),
        }
    }
}

/// Folder on the host that the offline package files are uploaded to;
/// removed again after the install.
///
/// ```
/// assert_eq!(k8s_bootstrap_core::docker::PACKAGE_UPLOAD_DIR, "/var/cache/k8s-bootstrap/docker-packages");
/// ```
pub const PACKAGE_UPLOAD_DIR: &str = "/var/cache/k8s-bootstrap/docker-packages";

/// The engine's install on one node: the spec's [`DockerInstall`] and the
/// dockerd path the unit runs (`layout.dockerd`), which tells whether the
/// host has an engine.
///
/// ```
/// use k8s_bootstrap_core::docker::{DockerInstall, EngineInstall};
/// use k8s_bootstrap_core::spec::{ClusterSpec, HostSpec, Role, Version};
/// let mut spec = ClusterSpec::new(vec![HostSpec::new("etcd01", [10, 0, 0, 1].into(), &[Role::Etcd, Role::Node])], Version::new(3, 5, 17), Version::new(0, 26, 1));
/// spec.docker.install = DockerInstall::Offline("/srv/debs".into());
/// let i = EngineInstall::from_spec(&spec);
/// assert_eq!((i.source, i.dockerd.as_str()), (DockerInstall::Offline("/srv/debs".into()), "/usr/bin/dockerd"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineInstall {
    /// Where the engine comes from.
    pub source: DockerInstall,
    /// dockerd's path (`layout.dockerd`).
    pub dockerd: String,
}

/// What installing the engine takes on one host: files to upload first,
/// then one command.
///
/// ```
/// use k8s_bootstrap_core::docker::{DockerInstall, EngineInstall};
/// use k8s_bootstrap_core::hostprep::OsFamily;
/// let s = EngineInstall::new(DockerInstall::Offline("/srv/debs".into()))
///     .steps(OsFamily::Debian, &["docker.io_20.10.24.deb".into()])
///     .unwrap();
/// assert_eq!(s.uploads, [("/srv/debs/docker.io_20.10.24.deb".into(), "/var/cache/k8s-bootstrap/docker-packages/docker.io_20.10.24.deb".to_string())]);
/// assert!(s.argv.contains(&"/var/cache/k8s-bootstrap/docker-packages/docker.io_20.10.24.deb".to_string()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallSteps {
    /// What it does, for people.
    pub description: String,
    /// Local file on the control machine, path on the host.
    pub uploads: Vec<(std::path::PathBuf, String)>,
    /// The command (one `sh -c` script; every value a separate argument).
    pub argv: Vec<String>,
    /// What to do when it fails, for people.
    pub hint: String,
}

/// Exit code of [`EngineInstall::check`] when a dockerd exists, but not at
/// `layout.dockerd` (nothing is installed; the message says where it is).
///
/// ```
/// assert_eq!(k8s_bootstrap_core::docker::CHECK_ELSEWHERE, 3);
/// ```
pub const CHECK_ELSEWHERE: u32 = 3;

const CHECK: &str = r#"[ -x "$1" ] && exit 0; if o=$(command -v dockerd 2>/dev/null); then echo "$o"; exit 3; fi; exit 1"#;

/// After the install: docker.socket off, and dockerd where the unit runs it.
const AFTER: &str = r#"systemctl disable --now docker.socket >/dev/null 2>&1 || true
if [ ! -x "$dockerd" ]; then echo "k8s-bootstrap: the package was installed but there is no dockerd at $dockerd (layout.dockerd); it is at $(command -v dockerd || echo nowhere)" >&2; exit 3; fi
"#;

const APT: &str = r#"set -eu
dockerd=$1; update=$2; cleanup=$3; shift 3
export DEBIAN_FRONTEND=noninteractive
policy=/usr/sbin/policy-rc.d
ours=
done_() { [ -z "$ours" ] || rm -f "$policy"; [ -z "$cleanup" ] || rm -rf -- "$cleanup"; }
trap done_ EXIT
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\n# k8s-bootstrap: no service starts while the container engine is installed\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  ours=1
fi
if [ "$update" = yes ]; then apt-get update -q; fi
apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=120 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@"
"#;

const YUM: &str = r#"set -eu
dockerd=$1; repo=$2; cleanup=$3; shift 3
trap '[ -z "$cleanup" ] || rm -rf -- "$cleanup"' EXIT
if [ -n "$repo" ]; then
  command -v yum-config-manager >/dev/null 2>&1 || yum install -y yum-utils
  yum-config-manager --add-repo "$repo"
fi
yum install -y "$@"
"#;

impl EngineInstall {
    /// An install from `source` for dockerd at `/usr/bin/dockerd`.
    ///
    /// ```
    /// use k8s_bootstrap_core::docker::{DockerInstall, EngineInstall};
    /// assert_eq!(EngineInstall::new(DockerInstall::None).dockerd, "/usr/bin/dockerd");
    /// ```
    pub fn new(source: DockerInstall) -> Self {
        EngineInstall { source, dockerd: "/usr/bin/dockerd".into() }
    }

    /// Sets dockerd's path.
    ///
    /// ```
    /// use k8s_bootstrap_core::docker::{DockerInstall, EngineInstall};
    /// let i = EngineInstall::new(DockerInstall::Packages).dockerd("/usr/sbin/dockerd");
    /// assert_eq!(i.check()[4], "/usr/sbin/dockerd");
    /// ```
    #[must_use]
    pub fn dockerd(mut self, path: impl Into<String>) -> Self {
        self.dockerd = path.into();
        self
    }

    /// The fact "this host has an engine", as a command: exit 0 when
    /// dockerd is at `layout.dockerd`; exit 1 when the host has no dockerd
    /// at all (install); exit [`CHECK_ELSEWHERE`] with the path on stdout
    /// when there is a dockerd elsewhere (install nothing; the layout is wrong).
    ///
    /// ```
    /// use k8s_bootstrap_core::docker::{DockerInstall, EngineInstall};
    /// let c = EngineInstall::new(DockerInstall::Packages).check();
    /// assert_eq!(&c[..2], ["sh", "-c"]);
    /// assert_eq!(c.last().unwrap(), "/usr/bin/dockerd"); // passed as an argument, never spliced into the script
    /// ```
    pub fn check(&self) -> Vec<String> {
        vec!["sh".into(), "-c".into(), CHECK.into(), "sh".into(), self.dockerd.clone()]
    }

    /// The package file extension of an OS family (`deb`, `rpm`).
    ///
    /// ```
    /// use k8s_bootstrap_core::docker::EngineInstall;
    /// use k8s_bootstrap_core::hostprep::OsFamily;
    /// assert_eq!(EngineInstall::package_ext(OsFamily::Rhel), "rpm");
    /// ```
    pub fn package_ext(os: OsFamily) -> &'static str {
        match os {
            OsFamily::Debian => "deb",
            OsFamily::Rhel => "rpm",
        }
    }

    /// The steps for a host of family `os`. `files`: for an offline
    /// install, the names of the package files in the folder (the engine
    /// lists the folder; every `.deb` for Debian, every `.rpm` for RHEL).
    ///
    /// ```
    /// use k8s_bootstrap_core::docker::{DockerInstall, EngineInstall};
    /// use k8s_bootstrap_core::hostprep::OsFamily;
    /// let repo = "https://download.docker.com/linux/centos/docker-ce.repo";
    /// let s = EngineInstall::new(DockerInstall::Repo(repo.into())).steps(OsFamily::Rhel, &[]).unwrap();
    /// assert!(s.argv[2].contains("yum-config-manager --add-repo \"$repo\""));
    /// assert_eq!(&s.argv[4..], ["/usr/bin/dockerd", repo, "", "docker-ce", "docker-ce-cli", "containerd.io"]);
    /// // A yum repository means nothing to apt:
    /// let p = EngineInstall::new(DockerInstall::Repo(repo.into())).steps(OsFamily::Debian, &[]).unwrap_err();
    /// assert_eq!(p.path, "docker.install.repo");
    /// // An offline folder without a package for the host's family:
    /// let p = EngineInstall::new(DockerInstall::Offline("/srv/rpms".into())).steps(OsFamily::Debian, &[]).unwrap_err();
    /// assert!(p.rule.contains("no .deb file"));
    /// ```
    ///
    /// # Errors
    /// A [`Problem`] (path `docker.install...`) when the setting cannot
    /// work on this family, or there is nothing to install.
    pub fn steps(&self, os: OsFamily, files: &[String]) -> Result<InstallSteps, Problem> {
        let script = |body: &str| format!("{body}{AFTER}");
        let uploads: Vec<(std::path::PathBuf, String)> = match &self.source {
            DockerInstall::Offline(dir) => files
                .iter()
                .map(|f| (std::path::Path::new(dir).join(f), format!("{PACKAGE_UPLOAD_DIR}/{f}")))
                .collect(),
            _ => Vec::new(),
        };
        let remote: Vec<String> = uploads.iter().map(|(_, r)| r.clone()).collect();
        let cleanup = if remote.is_empty() { String::new() } else { PACKAGE_UPLOAD_DIR.to_string() };
        let ext = Self::package_ext(os);
        if let DockerInstall::Offline(dir) = &self.source
            && remote.is_empty()
        {
            return Err(Problem::new("docker.install.offline", dir, format!("no .{ext} file in the folder, and this host is of the {} family", os.as_str()))
                .fix(format!("put the engine's .{ext} files (and the dependencies the hosts lack) into {dir}")));
        }
        let head = |body: &str, a: &str, b: &str| vec!["sh".to_string(), "-c".into(), script(body), "sh".into(), self.dockerd.clone(), a.to_string(), b.to_string()];
        let (description, mut argv, hint) = match (os, &self.source) {
            (_, DockerInstall::None) => {
                return Err(Problem::new("docker.install", "none", "the engine is not to be installed").fix("install docker on the host, or set docker.install"));
            }
            (OsFamily::Debian, DockerInstall::Packages) => (
                "install docker.io with apt-get from the host's apt sources".to_string(),
                head(APT, "yes", ""),
                "docker.io must be in one of the host's apt sources (/etc/apt/sources.list, /etc/apt/sources.list.d) and that repository reachable from the host: add a repository or mirror that has it, or use docker.install: { offline: FOLDER } with the .deb files".to_string(),
            ),
            (OsFamily::Debian, DockerInstall::Repo(url)) => {
                return Err(Problem::new("docker.install.repo", url, "a yum repository (yum-config-manager --add-repo) is for the RHEL family; this host is of the debian family")
                    .fix("on Debian/Ubuntu use docker.install: packages with a repository that has docker.io in the host's apt sources, or docker.install: { offline: FOLDER }"));
            }
            (OsFamily::Debian, DockerInstall::Offline(dir)) => (
                format!("install docker.io with apt-get from {} .deb file(s) of {dir}", remote.len()),
                head(APT, "no", &cleanup),
                format!("{dir} must hold docker.io's .deb and every dependency the host does not have (apt-get install names the missing ones above)"),
            ),
            (OsFamily::Rhel, DockerInstall::Packages) => (
                "install docker-ce with yum from the host's repositories".to_string(),
                head(YUM, "", ""),
                "docker-ce must be in one of the host's yum repositories: set docker.install: { repo: URL } (https://download.docker.com/linux/centos/docker-ce.repo), or use docker.install: { offline: FOLDER }".to_string(),
            ),
            (OsFamily::Rhel, DockerInstall::Repo(url)) => (
                format!("install docker-ce with yum from the repository {url}"),
                head(YUM, url, ""),
                format!("the repository file {url} and the repository it names must be reachable from the host"),
            ),
            (OsFamily::Rhel, DockerInstall::Offline(dir)) => (
                format!("install docker-ce with yum from {} .rpm file(s) of {dir}", remote.len()),
                head(YUM, "", &cleanup),
                format!("{dir} must hold docker-ce's .rpm files and every dependency the host does not have"),
            ),
        };
        match (&self.source, os) {
            (DockerInstall::Offline(_), OsFamily::Debian) => argv.extend(remote),
            (DockerInstall::Offline(_), OsFamily::Rhel) => {
                argv.push("--disablerepo=*".into());
                argv.extend(remote);
            }
            (_, OsFamily::Debian) => argv.push("docker.io".into()),
            (_, OsFamily::Rhel) => argv.extend(["docker-ce", "docker-ce-cli", "containerd.io"].map(String::from)),
        }
        Ok(InstallSteps { description, uploads, argv, hint })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_local(argv: &[String]) -> std::process::Output {
        std::process::Command::new(&argv[0]).args(&argv[1..]).output().unwrap()
    }

    #[test]
    fn check_tells_present_absent_and_elsewhere() {
        let dir = tempfile::tempdir().unwrap();
        let here = dir.path().join("dockerd");
        std::fs::write(&here, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&here, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let present = EngineInstall::new(DockerInstall::Packages).dockerd(here.to_str().unwrap());
        assert_eq!(run_local(&present.check()).status.code(), Some(0));
        // Absent at the layout path: 1 without any dockerd on PATH, 3 (and where) with one.
        let absent = EngineInstall::new(DockerInstall::Packages).dockerd("/nonexistent/dockerd");
        let mut argv = absent.check();
        let path = format!("PATH={}", dir.path().display());
        let out = std::process::Command::new("env").arg(&path).arg("/bin/sh").args(&argv[1..]).output().unwrap();
        assert_eq!(out.status.code(), Some(CHECK_ELSEWHERE as i32));
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), here.to_str().unwrap());
        argv[2] = argv[2].replace("command -v dockerd", "command -v dockerd-not-anywhere");
        assert_eq!(run_local(&argv).status.code(), Some(1));
    }

    #[test]
    fn apt_steps_are_noninteractive_guarded_and_take_values_as_arguments() {
        let s = EngineInstall::new(DockerInstall::Packages).dockerd("/usr/sbin/dockerd").steps(OsFamily::Debian, &[]).unwrap();
        let script = &s.argv[2];
        assert!(script.contains("export DEBIAN_FRONTEND=noninteractive"));
        assert!(script.contains("apt-get install -y -q --no-install-recommends"));
        assert!(script.contains("--force-confold"));
        // policy-rc.d: only when the host has none, and removed at the end
        assert!(script.contains(r#"if [ ! -e "$policy" ]; then"#) && script.contains("exit 101"));
        assert!(script.contains("trap done_ EXIT"));
        assert!(script.contains("systemctl disable --now docker.socket"));
        assert_eq!(&s.argv[3..], ["sh", "/usr/sbin/dockerd", "yes", "", "docker.io"]);
        // The script itself holds no value of the spec.
        assert!(!script.contains("/usr/sbin/dockerd") && !script.contains("docker.io"));
    }

    #[test]
    fn offline_uploads_only_the_given_files_and_installs_them_together() {
        let i = EngineInstall::new(DockerInstall::Offline("pkgs dir".into()));
        let files = vec!["docker.io_1.deb".to_string(), "tini_2.deb".to_string()];
        let s = i.steps(OsFamily::Debian, &files).unwrap();
        assert_eq!(s.uploads.len(), 2);
        assert_eq!(s.uploads[1].0, std::path::Path::new("pkgs dir/tini_2.deb"));
        assert_eq!(&s.argv[5..], ["no", PACKAGE_UPLOAD_DIR, "/var/cache/k8s-bootstrap/docker-packages/docker.io_1.deb", "/var/cache/k8s-bootstrap/docker-packages/tini_2.deb"]);
        assert!(s.description.contains("2 .deb file(s) of pkgs dir"));
        let r = i.steps(OsFamily::Rhel, &["docker-ce-24.rpm".into()]).unwrap();
        assert_eq!(&r.argv[5..], ["", PACKAGE_UPLOAD_DIR, "--disablerepo=*", "/var/cache/k8s-bootstrap/docker-packages/docker-ce-24.rpm"]);
    }

    #[test]
    fn rhel_packages_and_repo_render_the_tutorials_steps() {
        let s = EngineInstall::new(DockerInstall::Packages).steps(OsFamily::Rhel, &[]).unwrap();
        assert_eq!(&s.argv[4..], ["/usr/bin/dockerd", "", "", "docker-ce", "docker-ce-cli", "containerd.io"]);
        assert!(s.hint.contains("docker.install: { repo: URL }"));
        let url = "https://download.docker.com/linux/centos/docker-ce.repo";
        let r = EngineInstall::new(DockerInstall::Repo(url.into())).steps(OsFamily::Rhel, &[]).unwrap();
        assert!(r.argv[2].contains("yum install -y yum-utils"));
        assert_eq!(r.argv[5], url);
        assert_eq!(EngineInstall::new(DockerInstall::None).steps(OsFamily::Debian, &[]).unwrap_err().path, "docker.install");
    }

    #[test]
    fn validation_names_field_and_value() {
        let p = DockerInstall::Repo("https://x/docker ce.repo".into()).validate();
        assert_eq!((p[0].path.as_str(), p[0].value.as_str()), ("repo", "https://x/docker ce.repo"));
        assert!(DockerInstall::Repo("https://download.docker.com/linux/centos/docker-ce.repo".into()).validate().is_empty());
        assert!(DockerInstall::Offline("/srv/debs".into()).validate().is_empty());
    }
}
