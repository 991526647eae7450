//! [`HostPrep`]: the tutorial's manual host preparation as idempotent
//! commands. Every step is a check plus a change: the change runs only when
//! the check fails, so a second run changes nothing. Steps that differ by OS
//! carry an [`OsFamily`]; the family comes from `/etc/os-release`
//! ([`OsFamily::from_os_release`]).
//!
//! ```
//! use k8s_bootstrap_core::hostprep::{HostPrep, OsFamily};
//! let r = HostPrep::new("etcd01").os(OsFamily::Rhel).render();
//! assert!(r.commands.iter().all(|c| c.check.is_some()));
//! assert!(r.commands.iter().any(|c| c.argv == ["hostnamectl", "set-hostname", "etcd01"]));
//! assert!(r.commands.iter().all(|c| c.argv[0] != "ntpdate"));
//! ```

use serde::{Deserialize, Serialize};

pub use crate::model::OsFamily;

use crate::model::{Command, HostRender, Phase, Problem, RenderedFile};
use crate::shell::shell_quote;

/// The error of the host preparation builder.
///
/// ```
/// use k8s_bootstrap_core::hostprep::{Error, HostPrep};
/// let err = HostPrep::new("Etcd_01").try_render().unwrap_err();
/// let Error::Invalid(problems) = &err else { panic!() };
/// assert_eq!((problems[0].path.as_str(), problems[0].value.as_str()), ("hostname", "Etcd_01"));
/// assert!(err.to_string().starts_with("invalid host preparation settings:\n  - hostname = Etcd_01: "));
/// ```
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The settings break rules.
    #[error("invalid host preparation settings:{}", crate::model::error_list(.0))]
    Invalid(Vec<Problem>),
}

/// `Result` of this module.
///
/// ```
/// use k8s_bootstrap_core::hostprep::{self, HostPrep};
/// fn command_count(p: &HostPrep) -> hostprep::Result<usize> {
///     Ok(p.try_render()?.commands.len())
/// }
/// assert!(command_count(&HostPrep::new("etcd01")).unwrap() > 0);
/// assert!(command_count(&HostPrep::new("etcd 01")).is_err());
/// ```
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// SELinux handling (RHEL family only).
///
/// ```
/// use k8s_bootstrap_core::hostprep::{HostPrep, OsFamily, SelinuxMode};
/// let argv = |m: SelinuxMode| -> Vec<Vec<String>> {
///     HostPrep::new("etcd01").os(OsFamily::Rhel).selinux(m).render().commands.into_iter().map(|c| c.argv).collect()
/// };
/// assert!(argv(SelinuxMode::Permissive).iter().any(|a| a.contains(&"s/^SELINUX=.*/SELINUX=permissive/".to_string())));
/// assert!(!argv(SelinuxMode::Leave).iter().any(|a| a[0] == "setenforce"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SelinuxMode {
    /// `setenforce 0` and `SELINUX=permissive` (default).
    #[default]
    Permissive,
    /// `setenforce 0` and `SELINUX=disabled` (the tutorial's choice).
    Disabled,
    /// Do nothing.
    Leave,
}

/// Sets `$f` to the XML file of firewalld's default zone (the one in
/// `/etc` when it was changed, else the shipped one).
const FIREWALLD_ZONE_XML: &str = r#"d=$(sed -n 's/^DefaultZone=//p' /etc/firewalld/firewalld.conf 2>/dev/null); f=/etc/firewalld/zones/${d:-public}.xml; [ -f "$f" ] || f=/usr/lib/firewalld/zones/${d:-public}.xml"#;

/// Sets `$a` to the `--add-port=` options of the ports (the arguments)
/// that are not words of `$r` (what `firewall-cmd --list-ports` printed:
/// the ports on its last line, after a warning on stdout when another
/// zone holds the host's interfaces, docker's once dockerd runs).
const FIREWALLD_MISSING_LISTED: &str = r#"r=$(printf '%s' "$r" | tr '\n\t' '  '); a=; for p; do case " $r " in *" $p "*) ;; *) a="$a --add-port=$p" ;; esac; done"#;

/// Sets `$a` to the `--add-port=` options of the ports (the arguments)
/// that the zone file `$f` does not hold as such.
const FIREWALLD_MISSING_XML: &str = r#"a=; for p; do n=${p%/*}; t=${p#*/}; grep -Eqs "<port (port=\"$n\" protocol=\"$t\"|protocol=\"$t\" port=\"$n\")" "$f" || a="$a --add-port=$p"; done"#;

/// Firewall handling.
///
/// ```
/// use k8s_bootstrap_core::hostprep::{FirewallMode, HostPrep, OsFamily};
/// let stop = HostPrep::new("etcd01").os(OsFamily::Debian).firewall(FirewallMode::Stop).render();
/// assert!(stop.commands.iter().any(|c| c.argv == ["systemctl", "disable", "--now", "ufw"]));
/// let open = HostPrep::new("etcd01").os(OsFamily::Debian).ports(&[2379, 2380], &[8472]).render();
/// let ufw = open.commands.iter().find(|c| c.description == "open 2379/tcp, 2380/tcp, 8472/udp in ufw").unwrap();
/// assert_eq!(ufw.argv[3..], ["sh", "2379/tcp", "2380/tcp", "8472/udp"]); // the ports are arguments
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FirewallMode {
    /// Open the needed ports: 2379/2380 tcp on members, the backend's UDP port on nodes (default).
    #[default]
    OpenPorts,
    /// Stop and disable firewalld / ufw (the tutorial's choice).
    Stop,
    /// Do nothing.
    Leave,
}

/// Time synchronisation (never a one-shot ntpdate).
///
/// ```
/// use k8s_bootstrap_core::hostprep::{HostPrep, OsFamily, TimeSync};
/// let units = |os: OsFamily, t: TimeSync| -> Vec<String> {
///     HostPrep::new("etcd01").os(os).time_sync(t).render().commands.into_iter()
///         .filter(|c| c.argv[..2] == ["systemctl", "enable"]).map(|c| c.argv[3].clone()).collect()
/// };
/// assert_eq!(units(OsFamily::Rhel, TimeSync::Auto), ["chronyd"]);
/// assert_eq!(units(OsFamily::Debian, TimeSync::Auto), ["systemd-timesyncd"]);
/// assert_eq!(units(OsFamily::Debian, TimeSync::Chrony), ["chrony"]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TimeSync {
    /// chrony on RHEL, systemd-timesyncd on Debian (default).
    #[default]
    Auto,
    /// chrony everywhere.
    Chrony,
    /// systemd-timesyncd everywhere.
    Timesyncd,
    /// Do nothing.
    Leave,
}

/// A shell test that succeeds when kernel module `m` is usable, loaded or
/// built into the kernel: built-in modules without parameters have no
/// `/sys/module` entry, so the features of the modules flannel and docker
/// need are probed directly (`overlay` in /proc/filesystems,
/// `/proc/sys/net/bridge` for br_netfilter).
pub(crate) fn module_present_check(m: &str) -> String {
    let quoted = shell_quote(m);
    let builtin = format!(
        "[ -d /sys/module/{quoted} ] || grep -qs \"/{quoted}.ko\" \"/lib/modules/$(uname -r)/modules.builtin\""
    );
    match m {
        "overlay" => format!("{builtin} || grep -qw overlay /proc/filesystems"),
        "br_netfilter" => format!("{builtin} || [ -d /proc/sys/net/bridge ]"),
        _ => builtin,
    }
}

/// Where HostPrep writes kernel modules to load at boot.
///
/// ```
/// use k8s_bootstrap_core::hostprep::{HostPrep, MODULES_FILE};
/// let r = HostPrep::new("etcd01").render();
/// assert!(r.file(MODULES_FILE).unwrap().text().ends_with("overlay\nbr_netfilter\n"));
/// ```
pub const MODULES_FILE: &str = "/etc/modules-load.d/k8s-bootstrap.conf";
/// Where HostPrep writes sysctls.
///
/// ```
/// use k8s_bootstrap_core::hostprep::{HostPrep, SYSCTL_FILE};
/// let r = HostPrep::new("etcd01").render();
/// assert!(r.file(SYSCTL_FILE).unwrap().text().contains("net.ipv4.ip_forward = 1\n"));
/// ```
pub const SYSCTL_FILE: &str = "/etc/sysctl.d/99-k8s-bootstrap.conf";

/// Host preparation of one host.
///
/// ```
/// use k8s_bootstrap_core::hostprep::{FirewallMode, HostPrep, OsFamily, SelinuxMode, TimeSync};
/// let r = HostPrep::new("etcd01")
///     .os(OsFamily::Rhel)
///     .selinux(SelinuxMode::Disabled)     // the tutorial's choice (default: permissive)
///     .firewall(FirewallMode::OpenPorts)  // instead of stopping firewalld
///     .ports(&[2379, 2380], &[8472])
///     .time_sync(TimeSync::Chrony)        // instead of a one-shot ntpdate
///     .render();
/// let sh: Vec<String> = r.commands.iter().map(|c| c.to_shell()).collect();
/// assert!(sh.iter().any(|l| l.contains("firewall-cmd") && l.contains("8472/udp")));
/// assert!(sh.iter().any(|l| l.contains("SELINUX=disabled")));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostPrep {
    /// Hostname to set, `None`: leave it.
    pub hostname: Option<String>,
    /// Known OS family; `None`: both variants are rendered, guarded by `/etc/os-release`.
    pub os: Option<OsFamily>,
    /// SELinux.
    pub selinux: SelinuxMode,
    /// Firewall.
    pub firewall: FirewallMode,
    /// TCP ports to open (open-ports mode).
    pub tcp_ports: Vec<u16>,
    /// UDP ports to open (open-ports mode).
    pub udp_ports: Vec<u16>,
    /// The host's address the cluster talks to (open-ports mode): firewalld
    /// opens the ports in the zone of the interface holding it (its default
    /// zone when that interface is in none). `None`: the default zone.
    #[serde(default)]
    pub address: Option<std::net::IpAddr>,
    /// Time sync.
    pub time_sync: TimeSync,
    /// Turn swap off now and at boot.
    pub swap_off: bool,
    /// Kernel modules to load now and at boot.
    pub modules: Vec<String>,
    /// sysctls to set now and at boot.
    pub sysctls: Vec<(String, String)>,
}

impl HostPrep {
    /// Preparation for a host named `hostname`, with the defaults of a node:
    /// overlay + br_netfilter, ip_forward and bridge-nf-call-iptables.
    ///
    /// ```
    /// use k8s_bootstrap_core::hostprep::HostPrep;
    /// let p = HostPrep::new("etcd01");
    /// assert_eq!(p.hostname.as_deref(), Some("etcd01"));
    /// assert_eq!(p.modules, ["overlay", "br_netfilter"]);
    /// assert!(p.swap_off && p.tcp_ports.is_empty());
    /// ```
    pub fn new(hostname: impl Into<String>) -> Self {
        HostPrep {
            hostname: Some(hostname.into()),
            os: None,
            selinux: SelinuxMode::default(),
            firewall: FirewallMode::default(),
            tcp_ports: Vec::new(),
            udp_ports: Vec::new(),
            address: None,
            time_sync: TimeSync::default(),
            swap_off: true,
            modules: vec!["overlay".into(), "br_netfilter".into()],
            sysctls: vec![
                ("net.ipv4.ip_forward".into(), "1".into()),
                ("net.bridge.bridge-nf-call-iptables".into(), "1".into()),
                ("net.bridge.bridge-nf-call-ip6tables".into(), "1".into()),
            ],
        }
    }

    /// Sets the OS family.
    ///
    /// ```
    /// use k8s_bootstrap_core::hostprep::{HostPrep, OsFamily};
    /// let r = HostPrep::new("etcd01").os(OsFamily::Debian).render();
    /// assert!(r.commands.iter().any(|c| c.argv == ["apt-get", "install", "-y", "systemd-timesyncd"]));
    /// assert!(!r.commands.iter().any(|c| c.argv[0] == "setenforce")); // no SELinux on Debian
    /// ```
    #[must_use]
    pub fn os(mut self, os: OsFamily) -> Self {
        self.os = Some(os);
        self
    }
    /// The shell that sets `$z` to firewalld's `--zone=` option for the
    /// host's address: the zone of the interface holding it, or nothing
    /// (firewalld's default zone) when there is no address, no such
    /// interface, or the interface is in no zone.
    fn firewalld_zone(&self) -> String {
        match self.address {
            None => "z=; ".into(),
            Some(a) => format!(
                "i=$(ip -o addr show to {} | awk '{{print $2; exit}}'); \
                 z=$( [ -n \"$i\" ] && firewall-cmd --get-zone-of-interface=\"$i\" 2>/dev/null) && z=--zone=$z || z=; ",
                shell_quote(&a.to_string())
            ),
        }
    }

    /// Sets the firewall handling.
    ///
    /// ```
    /// use k8s_bootstrap_core::hostprep::{FirewallMode, HostPrep, OsFamily};
    /// let r = HostPrep::new("etcd01").os(OsFamily::Rhel).firewall(FirewallMode::Stop).render();
    /// assert!(r.commands.iter().any(|c| c.argv == ["systemctl", "disable", "--now", "firewalld"]));
    /// ```
    #[must_use]
    pub fn firewall(mut self, f: FirewallMode) -> Self {
        self.firewall = f;
        self
    }
    /// Sets the ports to open.
    ///
    /// ```
    /// use k8s_bootstrap_core::hostprep::{HostPrep, OsFamily};
    /// let r = HostPrep::new("etcd01").os(OsFamily::Rhel).ports(&[2379, 2380], &[8472]).render();
    /// let opened: Vec<&str> = r.commands.iter().filter_map(|c| c.description.strip_prefix("open ")).collect();
    /// assert_eq!(opened, ["2379/tcp, 2380/tcp, 8472/udp in firewalld"]); // one step, one run of firewalld's tools
    /// ```
    #[must_use]
    pub fn ports(mut self, tcp: &[u16], udp: &[u16]) -> Self {
        self.tcp_ports = tcp.to_vec();
        self.udp_ports = udp.to_vec();
        self
    }
    /// Sets the SELinux handling.
    ///
    /// ```
    /// use k8s_bootstrap_core::hostprep::{HostPrep, OsFamily, SelinuxMode};
    /// let r = HostPrep::new("etcd01").os(OsFamily::Rhel).selinux(SelinuxMode::Disabled).render();
    /// assert!(r.commands.iter().any(|c| c.description == "keep SELinux disabled after reboot"));
    /// ```
    #[must_use]
    pub fn selinux(mut self, s: SelinuxMode) -> Self {
        self.selinux = s;
        self
    }
    /// Sets the time sync.
    ///
    /// ```
    /// use k8s_bootstrap_core::hostprep::{HostPrep, OsFamily, TimeSync};
    /// let r = HostPrep::new("etcd01").os(OsFamily::Rhel).time_sync(TimeSync::Leave).render();
    /// assert!(!r.commands.iter().any(|c| c.argv.iter().any(|a| a == "chrony" || a == "chronyd")));
    /// ```
    #[must_use]
    pub fn time_sync(mut self, t: TimeSync) -> Self {
        self.time_sync = t;
        self
    }

    /// Checks the settings; every problem at once.
    ///
    /// ```
    /// use k8s_bootstrap_core::hostprep::HostPrep;
    /// let mut p = HostPrep::new("etcd01").ports(&[0], &[]);
    /// p.modules.push("br netfilter".into());
    /// let paths: Vec<String> = p.validate().into_iter().map(|p| p.path).collect();
    /// assert_eq!(paths, ["modules[2]", "tcp_ports"]);
    /// ```
    pub fn validate(&self) -> Vec<Problem> {
        let mut p = Vec::new();
        if let Some(h) = &self.hostname
            && let Some(rule) = crate::model::name_rule(h)
        {
            p.push(Problem::new("hostname", h, rule));
        }
        for (i, m) in self.modules.iter().enumerate() {
            if m.is_empty() || !m.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
                p.push(Problem::new(format!("modules[{i}]"), m, "a module name is [A-Za-z0-9_-]+"));
            }
        }
        for (i, (k, v)) in self.sysctls.iter().enumerate() {
            if k.is_empty() || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-/".contains(&b)) || v.is_empty() || v.contains(['\n', '\'']) {
                p.push(Problem::new(format!("sysctls[{i}]"), format!("{k}={v}"), "a sysctl is key=value with a key of [A-Za-z0-9._-]"));
            }
        }
        for (field, ports) in [("tcp_ports", &self.tcp_ports), ("udp_ports", &self.udp_ports)] {
            if ports.contains(&0) {
                p.push(Problem::new(field, 0, "ports are 1-65535"));
            }
        }
        p
    }

    fn for_os(&self) -> Vec<OsFamily> {
        match self.os {
            Some(os) => vec![os],
            None => vec![OsFamily::Rhel, OsFamily::Debian],
        }
    }

    /// Renders the files (modules, sysctls) and the check-plus-change commands.
    ///
    /// ```
    /// use k8s_bootstrap_core::hostprep::HostPrep;
    /// let r = HostPrep::new("etcd01").try_render().unwrap();
    /// assert!(r.commands.iter().all(|c| c.check.is_some())); // every change has its check
    /// assert!(HostPrep::new("etcd01; reboot").try_render().is_err());
    /// ```
    pub fn try_render(&self) -> Result<HostRender> {
        let problems = self.validate();
        if !problems.is_empty() {
            return Err(Error::Invalid(problems));
        }
        Ok(self.render())
    }

    /// [`HostPrep::try_render`] without the validation: every value placed
    /// into a shell snippet is quoted, so even invalid names stay inert.
    ///
    /// ```
    /// use k8s_bootstrap_core::hostprep::HostPrep;
    /// // Even an invalid name stays one quoted argument.
    /// let r = HostPrep::new("etcd01; reboot").render();
    /// assert_eq!(r.commands[0].argv, ["hostnamectl", "set-hostname", "etcd01; reboot"]);
    /// assert!(r.commands[0].to_shell().contains("'etcd01; reboot'"));
    /// ```
    pub fn render(&self) -> HostRender {
        let mut out = HostRender::default();
        let c = |d: &str, argv: &[&str]| Command::new(Phase::HostPrep, d, argv.iter().copied());
        let sh = |s: String| vec!["sh".to_string(), "-c".to_string(), s];
        let os_guard = |os: OsFamily| if self.os.is_some() { None } else { Some(os) };
        if let Some(h) = &self.hostname {
            out.commands.push(
                c("set the hostname", &["hostnamectl", "set-hostname", h]).unless(sh(format!("[ \"$(hostname)\" = {} ]", shell_quote(h)))),
            );
        }
        // SELinux exists on the RHEL family only.
        if self.selinux != SelinuxMode::Leave && self.for_os().contains(&OsFamily::Rhel) {
            let g = os_guard(OsFamily::Rhel);
            let word = if self.selinux == SelinuxMode::Disabled { "disabled" } else { "permissive" };
            out.commands.push(
                c("stop enforcing SELinux now", &["setenforce", "0"])
                    .unless(sh("! command -v getenforce >/dev/null || [ \"$(getenforce)\" != Enforcing ]".into()))
                    .on(g),
            );
            out.commands.push(
                c(&format!("keep SELinux {word} after reboot"), &["sed", "-i", &format!("s/^SELINUX=.*/SELINUX={word}/"), "/etc/selinux/config"])
                    .unless(sh(format!("[ ! -f /etc/selinux/config ] || grep -qx 'SELINUX={word}' /etc/selinux/config")))
                    .on(g),
            );
        }
        for os in self.for_os() {
            let g = os_guard(os);
            // firewalld on either family (Debian has it too); ufw on Debian
            let firewalls: &[&str] = match os {
                OsFamily::Rhel => &["firewalld"],
                OsFamily::Debian => &["firewalld", "ufw"],
            };
            for &fw in firewalls {
                match self.firewall {
                    FirewallMode::Stop => out.commands.push(
                        c(&format!("stop and disable {fw}"), &["systemctl", "disable", "--now", fw])
                            .unless(sh(format!("! systemctl is-active --quiet {fw} && ! systemctl is-enabled --quiet {fw} 2>/dev/null")))
                            .on(g),
                    ),
                    FirewallMode::OpenPorts => {
                        // All ports in one step, and in one run of each
                        // tool (each is a Python start, a third of a second
                        // per run): the ports are the script's arguments,
                        // and only those not open yet are added.
                        let ports: Vec<String> = self.tcp_ports.iter().map(|p| format!("{p}/tcp")).chain(self.udp_ports.iter().map(|p| format!("{p}/udp"))).collect();
                        if ports.is_empty() {
                            continue;
                        }
                        let (open, check) = match fw {
                            // A running firewalld: now and for its next start, in the
                            // zone of the interface holding the host's address (else
                            // the default zone). A stopped one (it may be enabled):
                            // its permanent configuration, in the default zone (the
                            // interface's zone can only be asked of a running one),
                            // read in the zone's XML, where firewall-offline-cmd
                            // writes a port; firewall-offline-cmd is asked about a
                            // port not there as such only when the zone has a port
                            // range that may hold it (a fresh host has none: no
                            // Python start while its facts are read).
                            "firewalld" => {
                                let zone = self.firewalld_zone();
                                (
                                    format!(
                                        "if systemctl is-active --quiet firewalld; then {zone}for o in '' --permanent; do r=$(firewall-cmd $z $o --list-ports) || exit 1; {FIREWALLD_MISSING_LISTED}; [ -z \"$a\" ] || firewall-cmd $z $o $a || exit 1; done; \
                                         else {FIREWALLD_ZONE_XML}; {FIREWALLD_MISSING_XML}; [ -z \"$a\" ] || firewall-offline-cmd $a; fi"
                                    ),
                                    format!(
                                        "if systemctl is-active --quiet firewalld; then {zone}for o in '' --permanent; do r=$(firewall-cmd $z $o --list-ports) || exit 1; {FIREWALLD_MISSING_LISTED}; [ -z \"$a\" ] || exit 1; done; \
                                         elif ! command -v firewall-offline-cmd >/dev/null; then :; \
                                         else {FIREWALLD_ZONE_XML}; {FIREWALLD_MISSING_XML}; for q in $a; do grep -Eqs 'port=\"[0-9]+-[0-9]+\"' \"$f\" && firewall-offline-cmd --query-port=\"${{q#--add-port=}}\" >/dev/null || exit 1; done; fi"
                                    ),
                                )
                            }
                            _ => (
                                "s=$(ufw status) || exit 1; for p; do printf '%s\\n' \"$s\" | grep -q \"^$p \" || ufw allow \"$p\" || exit 1; done".to_string(),
                                "command -v ufw >/dev/null || exit 0; s=$(ufw status 2>/dev/null); printf '%s\\n' \"$s\" | grep -q '^Status: active' || exit 0; for p; do printf '%s\\n' \"$s\" | grep -q \"^$p \" || exit 1; done".to_string(),
                            ),
                        };
                        let with_ports = |script: String| {
                            let mut argv = vec!["sh".to_string(), "-c".into(), script, "sh".into()];
                            argv.extend(ports.iter().cloned());
                            argv
                        };
                        out.commands.push(Command::new(Phase::HostPrep, format!("open {} in {fw}", ports.join(", ")), with_ports(open)).unless(with_ports(check)).on(g));
                    }
                    FirewallMode::Leave => {}
                }
            }
            let ts = match (self.time_sync, os) {
                (TimeSync::Leave, _) => None,
                (TimeSync::Chrony, _) | (TimeSync::Auto, OsFamily::Rhel) => Some("chrony"),
                (TimeSync::Timesyncd, _) | (TimeSync::Auto, OsFamily::Debian) => Some("systemd-timesyncd"),
            };
            if let Some(pkg) = ts {
                let unit = match (pkg, os) {
                    ("chrony", OsFamily::Rhel) => "chronyd",
                    ("chrony", OsFamily::Debian) => "chrony",
                    _ => "systemd-timesyncd",
                };
                let install: Vec<&str> = match os {
                    OsFamily::Rhel => vec!["yum", "-y", "install", pkg],
                    OsFamily::Debian => vec!["apt-get", "install", "-y", pkg],
                };
                let active = vec!["systemctl".to_string(), "is-active".into(), "--quiet".into(), unit.into()];
                out.commands.push(c(&format!("install {pkg} for continuous time sync"), &install).unless(active.clone()).on(g));
                out.commands.push(c(&format!("start {unit} now and at boot"), &["systemctl", "enable", "--now", unit]).unless(active).on(g));
            }
        }
        if self.swap_off {
            let check = "[ -z \"$(swapon --show --noheadings)\" ] && ! grep -Eq '^[^#]\\S*\\s+\\S+\\s+swap\\s' /etc/fstab";
            out.commands.push(c("turn swap off now", &["swapoff", "-a"]).unless(sh(check.into())));
            out.commands.push(
                c("keep swap off after reboot (comment out swap lines of /etc/fstab)", &["sed", "-i", "-E", "s/^([^#]\\S*\\s+\\S+\\s+swap\\s.*)$/#\\1/", "/etc/fstab"])
                    .unless(sh(check.into())),
            );
        }
        if !self.modules.is_empty() {
            let text: String = self.modules.iter().map(|m| format!("{m}\n")).collect();
            out.files.push(RenderedFile::new(MODULES_FILE, format!("# Kernel modules for flannel and docker, rendered by k8s-bootstrap.\n{text}"), 0o644));
            for m in &self.modules {
                out.commands.push(c(&format!("load kernel module {m}"), &["modprobe", m]).unless(sh(module_present_check(m))));
            }
        }
        if !self.sysctls.is_empty() {
            let text: String = self.sysctls.iter().map(|(k, v)| format!("{k} = {v}\n")).collect();
            out.files.push(RenderedFile::new(SYSCTL_FILE, format!("# sysctls for flannel and docker, rendered by k8s-bootstrap.\n{text}"), 0o644));
            for (k, v) in &self.sysctls {
                out.commands.push(
                    c(&format!("set {k} = {v}"), &["sysctl", "-w", &format!("{k}={v}")]).unless(sh(format!("[ \"$(sysctl -n {})\" = {} ]", shell_quote(k), shell_quote(v)))),
                );
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `script` with `sh`, the ports as its arguments, after `pre`.
    fn run(pre: &str, script: &str, ports: &[&str]) -> String {
        let out = std::process::Command::new("sh").arg("-c").arg(format!("{pre}; {script}; printf '%s' \"$a\"")).arg("sh").args(ports).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    #[test]
    fn only_the_ports_not_open_yet_are_added() {
        let ports = ["2379/tcp", "2380/tcp", "8472/udp"];
        // firewalld's zone file, as firewall-offline-cmd writes it (either attribute order)
        let dir = tempfile::tempdir().unwrap();
        let xml = dir.path().join("public.xml");
        std::fs::write(&xml, "<zone>\n  <service name=\"ssh\"/>\n  <port port=\"2379\" protocol=\"tcp\"/>\n  <port protocol=\"udp\" port=\"8472\"/>\n  <port port=\"2380\" protocol=\"udp\"/>\n</zone>\n").unwrap();
        let f = format!("f={}", shell_quote(&xml.display().to_string()));
        assert_eq!(run(&f, FIREWALLD_MISSING_XML, &ports), " --add-port=2380/tcp");
        assert_eq!(run("f=/nonexistent", FIREWALLD_MISSING_XML, &ports), " --add-port=2379/tcp --add-port=2380/tcp --add-port=8472/udp");
        // `firewall-cmd --list-ports` prints the open ones on one line, after
        // this warning (on stdout) when dockerd has put docker0 in its own zone
        let warned = "You're performing an operation over default zone ('public'),\nbut your connections/interfaces are in zone 'docker' (see --get-active-zones)\nYou most likely need to use --zone=docker option.\n\n2379/tcp 2380/tcp 8472/udp";
        assert_eq!(run(&format!("r={}", shell_quote(warned)), FIREWALLD_MISSING_LISTED, &ports), "");
        assert_eq!(run("r='8472/udp 2379/tcp 23800/tcp'", FIREWALLD_MISSING_LISTED, &ports), " --add-port=2380/tcp");
        assert_eq!(run("r='2379/tcp 2380/tcp 8472/udp'", FIREWALLD_MISSING_LISTED, &ports), "");
        assert_eq!(run("r=", FIREWALLD_MISSING_LISTED, &ports[..1]), " --add-port=2379/tcp");
    }
}
