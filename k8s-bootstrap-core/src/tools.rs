//! Programs that k8s-bootstrap, its test hosts and its tests run on a
//! machine, with the package that provides each, so that a missing one is
//! reported by name with what to install, never as a bare "No such file or
//! directory".
//!
//! ```
//! use k8s_bootstrap_core::tools;
//! assert_eq!(tools::package_of("etcdctl").unwrap().debian, "etcd-client");
//! assert!(tools::missing("iptables").contains("Debian package `iptables`"));
//! ```

/// Where a program comes from on the distributions k8s-bootstrap knows.
///
/// ```
/// let p = k8s_bootstrap_core::tools::package_of("sshd").unwrap();
/// assert_eq!((p.debian, p.rhel), ("openssh-server", Some("openssh-server")));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Package {
    /// The program's name as run (`ip`, `etcdctl`).
    pub tool: &'static str,
    /// The Debian/Ubuntu package that installs it.
    pub debian: &'static str,
    /// The RHEL-family package, where there is one.
    pub rhel: Option<&'static str>,
}

const fn p(tool: &'static str, debian: &'static str, rhel: Option<&'static str>) -> Package {
    Package { tool, debian, rhel }
}

/// Every program with a known package.
///
/// ```
/// use k8s_bootstrap_core::tools::PACKAGES;
/// assert!(PACKAGES.iter().any(|p| p.tool == "flanneld" || p.tool == "etcd"));
/// assert!(PACKAGES.iter().all(|p| !p.debian.is_empty()));
/// ```
pub const PACKAGES: &[Package] = &[
    p("ip", "iproute2", Some("iproute")),
    p("iptables", "iptables", Some("iptables")),
    p("nsenter", "util-linux", Some("util-linux")),
    p("unshare", "util-linux", Some("util-linux")),
    p("setsid", "util-linux", Some("util-linux")),
    p("mount", "mount", Some("util-linux")),
    p("umount", "mount", Some("util-linux")),
    p("ssh", "openssh-client", Some("openssh-clients")),
    p("ssh-keygen", "openssh-client", Some("openssh-clients")),
    p("ssh-keyscan", "openssh-client", Some("openssh-clients")),
    p("sshd", "openssh-server", Some("openssh-server")),
    p("id", "coreutils", Some("coreutils")),
    p("kill", "procps", Some("procps-ng")),
    p("chmod", "coreutils", Some("coreutils")),
    p("systemctl", "systemd", Some("systemd")),
    p("systemd-analyze", "systemd", Some("systemd")),
    p("sysctl", "procps", Some("procps-ng")),
    p("etcd", "etcd-server", Some("etcd")),
    p("etcdctl", "etcd-client", Some("etcd")),
    p("cfssl", "golang-cfssl", None),
    p("cfssljson", "golang-cfssl", None),
    p("openssl", "openssl", Some("openssl")),
    p("dockerd", "docker.io", Some("docker-ce")),
    p("tmux", "tmux", Some("tmux")),
    p("hyperfine", "hyperfine", None),
    p("sudo", "sudo", Some("sudo")),
    p("tar", "tar", Some("tar")),
    p("firewall-cmd", "firewalld", Some("firewalld")),
];

/// The package of `tool` (a name or a path: only its last component counts).
///
/// ```
/// use k8s_bootstrap_core::tools::package_of;
/// assert_eq!(package_of("/usr/sbin/sshd").unwrap().debian, "openssh-server");
/// assert!(package_of("no-such-tool").is_none());
/// ```
pub fn package_of(tool: &str) -> Option<&'static Package> {
    let name = tool.rsplit('/').next().unwrap_or(tool);
    PACKAGES.iter().find(|p| p.tool == name)
}

/// What to say when `tool` cannot be run because it is not installed:
/// its name and the package to install (or that it must be on `PATH`).
///
/// ```
/// use k8s_bootstrap_core::tools::missing;
/// assert_eq!(
///     missing("ssh-keygen"),
///     "`ssh-keygen` is not installed: install the Debian package `openssh-client` (RHEL: `openssh-clients`)"
/// );
/// assert_eq!(missing("frob"), "`frob` is not installed or not on PATH");
/// ```
pub fn missing(tool: &str) -> String {
    match package_of(tool) {
        Some(Package { debian, rhel: Some(r), .. }) => {
            format!("`{tool}` is not installed: install the Debian package `{debian}` (RHEL: `{r}`)")
        }
        Some(Package { debian, rhel: None, .. }) => format!("`{tool}` is not installed: install the Debian package `{debian}`"),
        None => format!("`{tool}` is not installed or not on PATH"),
    }
}

/// Whether `tool` can be found: a path that exists, or a name on `PATH`.
///
/// ```
/// use k8s_bootstrap_core::tools::on_path;
/// assert!(on_path("sh"));
/// assert!(!on_path("no-such-tool-k8s-bootstrap"));
/// ```
pub fn on_path(tool: &str) -> bool {
    if tool.contains('/') {
        return std::path::Path::new(tool).is_file();
    }
    std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).any(|d| d.join(tool).is_file()))
        .unwrap_or(false)
}
