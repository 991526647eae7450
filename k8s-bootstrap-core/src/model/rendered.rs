//! The data a render produces: files, commands and the certificates a host needs.

use serde::Serialize;

use super::{CertId, OsFamily};
use crate::shell::join_argv;

/// One file to put on a host.
///
/// ```
/// use k8s_bootstrap_core::render::RenderedFile;
/// let f = RenderedFile::new("/etc/sysctl.d/99-kubernetes.conf", "net.ipv4.ip_forward = 1\n", 0o644);
/// assert_eq!(f.owner, "root:root");
/// let json = serde_json::to_value(&f).unwrap();
/// assert_eq!((json["path"].as_str(), json["mode"].as_u64()), (Some("/etc/sysctl.d/99-kubernetes.conf"), Some(0o644)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RenderedFile {
    /// Absolute path on the host.
    pub path: String,
    /// The bytes.
    #[serde(serialize_with = "bytes")]
    pub contents: Vec<u8>,
    /// Unix permission bits (0o644, 0o755 for scripts, 0o600 for secrets).
    pub mode: u32,
    /// `user:group` that owns it.
    pub owner: String,
    /// A secret (a private key, a token): its contents are never shown in
    /// a diff or a log. Said by the builder that made it, never guessed
    /// from its mode.
    pub secret: bool,
    /// The systemd units that must restart when this file changes (a unit's
    /// own file, its env file, its binary, its certificates).
    pub restarts: Vec<String>,
    /// The systemd unit this file defines: systemd must reload its units
    /// when it changes.
    pub unit: Option<String>,
}

/// Bytes as bytes for serializers that have them (Python's `bytes`); JSON
/// has none and writes an array of numbers.
fn bytes<S: serde::Serializer>(b: &impl AsRef<[u8]>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_bytes(b.as_ref())
}

impl RenderedFile {
    /// A root-owned file.
    ///
    /// ```
    /// use k8s_bootstrap_core::render::RenderedFile;
    /// let f = RenderedFile::new("/opt/etcd/cfg/etcd", "ETCD_NAME=\"etcd01\"\n", 0o640);
    /// assert_eq!((f.mode, f.owner.as_str(), f.contents.len()), (0o640, "root:root", 19));
    /// ```
    pub fn new(path: impl Into<String>, contents: impl Into<Vec<u8>>, mode: u32) -> Self {
        RenderedFile { path: path.into(), contents: contents.into(), mode, owner: "root:root".into(), secret: false, restarts: Vec::new(), unit: None }
    }
    /// `unit` restarts when this file changes.
    ///
    /// ```
    /// use k8s_bootstrap_core::render::RenderedFile;
    /// let env = RenderedFile::new("/opt/etcd/cfg/etcd", "ETCD_NAME=\"etcd01\"\n", 0o640).restarts("etcd");
    /// assert_eq!((env.restarts.as_slice(), env.unit.as_deref()), (["etcd".to_string()].as_slice(), None));
    /// ```
    #[must_use]
    pub fn restarts(mut self, unit: &str) -> Self {
        if !self.restarts.iter().any(|u| u == unit) {
            self.restarts.push(unit.to_string());
        }
        self
    }
    /// This file is the unit file of `unit`: systemd reloads its units and
    /// `unit` restarts when it changes.
    ///
    /// ```
    /// use k8s_bootstrap_core::render::RenderedFile;
    /// let f = RenderedFile::new("/usr/lib/systemd/system/etcd.service", "[Unit]\n", 0o644).defines_unit("etcd");
    /// assert_eq!((f.unit.as_deref(), f.restarts.as_slice()), (Some("etcd"), ["etcd".to_string()].as_slice()));
    /// ```
    #[must_use]
    pub fn defines_unit(self, unit: &str) -> Self {
        let mut f = self.restarts(unit);
        f.unit = Some(unit.to_string());
        f
    }
    /// A secret: never shown in a diff or a log.
    ///
    /// ```
    /// use k8s_bootstrap_core::render::RenderedFile;
    /// assert!(RenderedFile::new("/etc/token", "s3cr3t", 0o600).secret().secret);
    /// ```
    #[must_use]
    pub fn secret(mut self) -> Self {
        self.secret = true;
        self
    }
    /// The contents as text (every rendered file is UTF-8).
    ///
    /// ```
    /// use k8s_bootstrap_core::render::RenderedFile;
    /// let f = RenderedFile::new("/opt/etcd/cfg/etcd", "ETCD_NAME=\"etcd01\"\n", 0o640);
    /// assert_eq!(f.text().lines().next(), Some(r#"ETCD_NAME="etcd01""#));
    /// assert_eq!(RenderedFile::new("/opt/blob", vec![0xff, 0xfe], 0o644).text(), "<binary>");
    /// ```
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.contents).unwrap_or("<binary>")
    }
}

/// When a command runs, relative to the other hosts: a runner finishes a
/// phase on every host before it starts the next one. Starting and
/// restarting units, and `daemon-reload`, are not rendered commands: the
/// plan decides them from what the host runs (see `apply::plan`).
///
/// ```
/// use k8s_bootstrap_core::render::Phase;
/// // Phases are ordered: a runner sorts by them.
/// assert!(Phase::HostPrep < Phase::Install && Phase::EtcdHealthy < Phase::FlannelConfig);
/// assert_eq!(serde_json::to_string(&Phase::EtcdHealthy).unwrap(), r#""etcd-healthy""#);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Host preparation.
    HostPrep,
    /// Directories, enabling units.
    Install,
    /// The check of a healthy etcd cluster (after the members start).
    EtcdHealthy,
    /// Writing flannel's network config into etcd (on one member).
    FlannelConfig,
}

/// One command of a host, as an argv vector, with an optional check: when the
/// check exits 0 the command is skipped (it has nothing to change).
///
/// ```
/// use k8s_bootstrap_core::hostprep::OsFamily;
/// use k8s_bootstrap_core::render::{Command, Phase};
/// let c = Command::new(Phase::HostPrep, "stop firewalld", ["systemctl", "disable", "--now", "firewalld"])
///     .unless(["sh", "-c", "! systemctl is-active --quiet firewalld"])
///     .on(Some(OsFamily::Rhel));
/// assert_eq!(c.argv, ["systemctl", "disable", "--now", "firewalld"]);
/// assert!(c.to_shell().starts_with(r#"if [ "$os_family" = rhel ] && ! sh -c"#));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Command {
    /// What it does, for people.
    pub description: String,
    /// When it runs.
    pub phase: Phase,
    /// The command to run.
    pub argv: Vec<String>,
    /// Skip `argv` when this exits 0.
    pub check: Option<Vec<String>>,
    /// Only on this OS family (from `/etc/os-release`); `None`: on all.
    pub os: Option<OsFamily>,
}

impl Command {
    /// A command without check, on every OS.
    ///
    /// ```
    /// use k8s_bootstrap_core::render::{Command, Phase};
    /// let c = Command::new(Phase::Install, "reload systemd", ["systemctl", "daemon-reload"]);
    /// assert!(c.check.is_none() && c.os.is_none());
    /// assert_eq!(c.to_shell(), "systemctl daemon-reload");
    /// ```
    pub fn new<S: Into<String>>(phase: Phase, description: impl Into<String>, argv: impl IntoIterator<Item = S>) -> Self {
        Command {
            description: description.into(),
            phase,
            argv: argv.into_iter().map(Into::into).collect(),
            check: None,
            os: None,
        }
    }
    /// Enables `unit` at boot (install phase), unless it is: `systemctl
    /// enable --no-reload` (the plan reloads systemd once per host), with
    /// `SYSTEMCTL_SKIP_SYSV=1` (systemd's documented switch, see its
    /// ENVIRONMENT.md): where a SysV script of the same name exists (Debian's
    /// `docker.io` and `etcd-server` ship `/etc/init.d/docker` and
    /// `/etc/init.d/etcd`), systemctl would otherwise run `update-rc.d`, a
    /// Perl start, a quarter of a second per unit, for links systemd does
    /// not read when the unit is its own.
    ///
    /// ```
    /// use k8s_bootstrap_core::render::{Command, Phase};
    /// let c = Command::enable_at_boot("etcd");
    /// assert_eq!((c.phase, c.description.as_str()), (Phase::Install, "enable etcd at boot"));
    /// assert_eq!(c.to_shell(), "if ! systemctl is-enabled --quiet etcd; then env SYSTEMCTL_SKIP_SYSV=1 systemctl enable --no-reload etcd; fi");
    /// ```
    pub fn enable_at_boot(unit: &str) -> Self {
        Command::new(Phase::Install, format!("enable {unit} at boot"), ["env", "SYSTEMCTL_SKIP_SYSV=1", "systemctl", "enable", "--no-reload", unit]).unless(["systemctl", "is-enabled", "--quiet", unit])
    }
    /// Adds a check: the command is skipped when the check exits 0.
    ///
    /// ```
    /// use k8s_bootstrap_core::render::{Command, Phase};
    /// let c = Command::new(Phase::Install, "enable etcd", ["systemctl", "enable", "etcd"])
    ///     .unless(["systemctl", "is-enabled", "--quiet", "etcd"]);
    /// assert_eq!(c.to_shell(), "if ! systemctl is-enabled --quiet etcd; then systemctl enable etcd; fi");
    /// ```
    #[must_use]
    pub fn unless<S: Into<String>>(mut self, check: impl IntoIterator<Item = S>) -> Self {
        self.check = Some(check.into_iter().map(Into::into).collect());
        self
    }
    /// Restricts the command to one OS family.
    ///
    /// ```
    /// use k8s_bootstrap_core::hostprep::OsFamily;
    /// use k8s_bootstrap_core::render::{Command, Phase};
    /// let c = Command::new(Phase::HostPrep, "SELinux permissive", ["setenforce", "0"]).on(Some(OsFamily::Rhel));
    /// assert_eq!(c.to_shell(), r#"if [ "$os_family" = rhel ]; then setenforce 0; fi"#);
    /// ```
    #[must_use]
    pub fn on(mut self, os: Option<OsFamily>) -> Self {
        self.os = os;
        self
    }
    /// The command as one shell line, every argument quoted, with its check
    /// and OS guard: `if ! CHECK; then ARGV; fi`.
    ///
    /// ```
    /// use k8s_bootstrap_core::render::{Command, Phase};
    /// let c = Command::new(Phase::HostPrep, "swap off", ["swapoff", "-a"])
    ///     .unless(["sh", "-c", "[ -z \"$(swapon --show)\" ]"]);
    /// assert_eq!(c.to_shell(), r#"if ! sh -c '[ -z "$(swapon --show)" ]'; then swapoff -a; fi"#);
    /// ```
    pub fn to_shell(&self) -> String {
        let run = join_argv(&self.argv);
        let mut conds = Vec::new();
        if let Some(os) = self.os {
            conds.push(format!("[ \"$os_family\" = {} ]", os.as_str()));
        }
        if let Some(check) = &self.check {
            conds.push(format!("! {}", join_argv(check)));
        }
        if conds.is_empty() { run } else { format!("if {}; then {run}; fi", conds.join(" && ")) }
    }
}

/// A certificate a host needs, and where its files go.
///
/// ```
/// use k8s_bootstrap_core::pki::CertId;
/// use k8s_bootstrap_core::render::HostCert;
/// let c = HostCert::new(CertId::Peer("etcd01".into()), "/opt/etcd/ssl");
/// let json = serde_json::to_value(&c).unwrap();
/// assert_eq!(json["id"], serde_json::json!({ "kind": "peer", "member": "etcd01" }));
/// assert_eq!(json["key_path"], "/opt/etcd/ssl/etcd01-peer-key.pem");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostCert {
    /// Which certificate.
    pub id: CertId,
    /// Absolute path of the certificate on the host.
    pub cert_path: String,
    /// Absolute path of the private key on the host (`None` for the CA: its key never leaves the workstation).
    pub key_path: Option<String>,
    /// The systemd units that must restart when the certificate or its key
    /// changes (the units that read them).
    pub restarts: Vec<String>,
}

impl HostCert {
    /// The cert of `id` in directory `ssl_dir`.
    ///
    /// ```
    /// use k8s_bootstrap_core::pki::CertId;
    /// use k8s_bootstrap_core::render::HostCert;
    /// let server = HostCert::new(CertId::Server("etcd01".into()), "/opt/etcd/ssl");
    /// assert_eq!(server.cert_path, "/opt/etcd/ssl/etcd01-server.pem");
    /// assert_eq!(server.key_path.as_deref(), Some("/opt/etcd/ssl/etcd01-server-key.pem"));
    /// assert_eq!(HostCert::new(CertId::Ca, "/opt/etcd/ssl").key_path, None); // the CA key stays home
    /// ```
    pub fn new(id: CertId, ssl_dir: &str) -> Self {
        let key_path = (id != CertId::Ca).then(|| format!("{ssl_dir}/{}", id.key_file()));
        HostCert { cert_path: format!("{ssl_dir}/{}", id.cert_file()), key_path, id, restarts: Vec::new() }
    }
    /// `unit` reads this certificate: it restarts when the certificate changes.
    ///
    /// ```
    /// use k8s_bootstrap_core::pki::CertId;
    /// use k8s_bootstrap_core::render::HostCert;
    /// let c = HostCert::new(CertId::Ca, "/opt/etcd/ssl").restarts("etcd").restarts("etcd");
    /// assert_eq!(c.restarts, ["etcd"]);
    /// ```
    #[must_use]
    pub fn restarts(mut self, unit: &str) -> Self {
        if !self.restarts.iter().any(|u| u == unit) {
            self.restarts.push(unit.to_string());
        }
        self
    }
}

/// Everything one host gets.
///
/// ```
/// use k8s_bootstrap_core::render::Phase;
/// use k8s_bootstrap_core::spec::{ClusterSpec, HostSpec, Role, Version};
/// let hosts = vec![HostSpec::new("etcd01", [10, 0, 0, 1].into(), &[Role::Etcd, Role::Node])];
/// let r = &ClusterSpec::new(hosts, Version::new(3, 5, 17), Version::new(0, 26, 1)).render().unwrap().hosts["etcd01"];
/// let env = r.file("/opt/etcd/cfg/etcd").unwrap();
/// assert_eq!((env.mode, env.owner.as_str()), (0o640, "root:root"));
/// // Commands run phase by phase; etcd members start together, then the health gate.
/// let phases: Vec<Phase> = r.commands.iter().map(|c| c.phase).collect();
/// assert!(phases.windows(2).all(|w| w[0] <= w[1]));
/// assert!(r.certs.iter().all(|c| c.cert_path.ends_with(".pem")));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HostRender {
    /// Files, written before the commands run.
    pub files: Vec<RenderedFile>,
    /// Commands, in order (sorted by [`Phase`], stable within a phase).
    pub commands: Vec<Command>,
    /// Certificates (from the PKI bundle) to install before the commands run.
    pub certs: Vec<HostCert>,
}

impl HostRender {
    /// The file at an absolute path.
    ///
    /// ```
    /// use k8s_bootstrap_core::spec::{ClusterSpec, HostSpec, Role, Version};
    /// let hosts = vec![
    ///     HostSpec::new("etcd01", [192, 168, 1, 30].into(), &[Role::Etcd]),
    ///     HostSpec::new("node01", [192, 168, 1, 40].into(), &[Role::Node]),
    /// ];
    /// let cluster = ClusterSpec::new(hosts, Version::new(3, 5, 17), Version::new(0, 26, 1)).render().unwrap();
    /// let node = &cluster.hosts["node01"];
    /// assert!(node.file("/usr/lib/systemd/system/docker.service").is_some());
    /// assert!(node.file("/opt/etcd/cfg/etcd").is_none()); // not an etcd member
    /// ```
    pub fn file(&self, path: &str) -> Option<&RenderedFile> {
        self.files.iter().find(|f| f.path == path)
    }
    /// Adds the files, commands and certs of `other`, skipping duplicates.
    ///
    /// ```
    /// use k8s_bootstrap_core::render::{Command, HostRender, Phase, RenderedFile};
    /// let part = || HostRender {
    ///     files: vec![RenderedFile::new("/etc/modules-load.d/k8s.conf", "br_netfilter\n", 0o644)],
    ///     commands: vec![Command::new(Phase::HostPrep, "load br_netfilter", ["modprobe", "br_netfilter"])],
    ///     certs: vec![],
    /// };
    /// let mut host = part();
    /// host.merge(part()); // the same file and command again: kept once
    /// assert_eq!((host.files.len(), host.commands.len()), (1, 1));
    /// ```
    pub fn merge(&mut self, other: HostRender) {
        for f in other.files {
            match self.files.iter_mut().find(|g| g.path == f.path) {
                Some(g) => g.restarts.extend(f.restarts.into_iter().filter(|u| !g.restarts.contains(u)).collect::<Vec<_>>()),
                None => self.files.push(f),
            }
        }
        for c in other.commands {
            if !self.commands.contains(&c) {
                self.commands.push(c);
            }
        }
        // A certificate two builders need (the CA of etcd and flanneld in
        // one folder) restarts the units of both.
        for c in other.certs {
            match self.certs.iter_mut().find(|d| d.cert_path == c.cert_path) {
                Some(d) => d.restarts.extend(c.restarts.into_iter().filter(|u| !d.restarts.contains(u)).collect::<Vec<_>>()),
                None => self.certs.push(c),
            }
        }
    }
    /// Sorts commands by phase (stable).
    pub(crate) fn finish(&mut self) {
        self.commands.sort_by_key(|c| c.phase);
    }
}

/// Finishes a rendered template: every text file ends with a newline
/// (askama drops the template file's last one).
pub(crate) fn text_file(r: askama::Result<String>) -> askama::Result<String> {
    let mut s = r?;
    if !s.ends_with('\n') {
        s.push('\n');
    }
    Ok(s)
}
