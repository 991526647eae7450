//! The OS family of a host, which picks the commands that differ by OS.

use serde::{Deserialize, Serialize};

/// An OS family.
///
/// ```
/// use k8s_bootstrap_core::hostprep::{HostPrep, OsFamily};
/// // Unknown family: both variants are rendered, each guarded by $os_family.
/// let r = HostPrep::new("etcd01").render();
/// assert!(r.commands.iter().any(|c| c.os == Some(OsFamily::Rhel)));
/// assert!(r.commands.iter().any(|c| c.os == Some(OsFamily::Debian)));
/// // Known family: only its commands, unguarded.
/// assert!(HostPrep::new("etcd01").os(OsFamily::Debian).render().commands.iter().all(|c| c.os.is_none()));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OsFamily {
    /// CentOS, RHEL, Rocky, Alma, Fedora (yum/dnf, firewalld, SELinux, chrony).
    Rhel,
    /// Debian, Ubuntu (apt, ufw, systemd-timesyncd).
    Debian,
}

impl OsFamily {
    /// `rhel` or `debian`.
    ///
    /// ```
    /// use k8s_bootstrap_core::hostprep::OsFamily;
    /// assert_eq!(OsFamily::Rhel.as_str(), "rhel");
    /// assert_eq!(OsFamily::Debian.as_str(), "debian");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            OsFamily::Rhel => "rhel",
            OsFamily::Debian => "debian",
        }
    }

    /// The family from the text of `/etc/os-release` (`ID` and `ID_LIKE`).
    ///
    /// ```
    /// use k8s_bootstrap_core::hostprep::OsFamily;
    /// let rocky = "NAME=\"Rocky Linux\"\nID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\n";
    /// assert_eq!(OsFamily::from_os_release(rocky), Some(OsFamily::Rhel));
    /// assert_eq!(OsFamily::from_os_release("ID=ubuntu\nID_LIKE=debian\n"), Some(OsFamily::Debian));
    /// assert_eq!(OsFamily::from_os_release("ID=alpine\n"), None);
    /// ```
    pub fn from_os_release(text: &str) -> Option<OsFamily> {
        let mut ids = Vec::new();
        for line in text.lines() {
            if let Some((k, v)) = line.split_once('=')
                && (k.trim() == "ID" || k.trim() == "ID_LIKE")
            {
                ids.extend(v.trim().trim_matches(|c| c == '"' || c == '\'').split_whitespace().map(str::to_ascii_lowercase));
            }
        }
        ids.iter().find_map(|id| match id.as_str() {
            "rhel" | "centos" | "rocky" | "almalinux" | "fedora" => Some(OsFamily::Rhel),
            "debian" | "ubuntu" => Some(OsFamily::Debian),
            _ => None,
        })
    }

    /// A POSIX sh snippet that sets `$os_family` to `rhel`, `debian` or `unknown`.
    ///
    /// ```
    /// use k8s_bootstrap_core::hostprep::OsFamily;
    /// let s = OsFamily::detect_script();
    /// assert!(s.starts_with("os_family=unknown\n"));
    /// assert!(s.contains("rocky") && s.contains("os_family=debian"));
    /// ```
    pub fn detect_script() -> &'static str {
        concat!(
            "os_family=unknown\n",
            "for id in $(. /etc/os-release; echo \"$ID $ID_LIKE\"); do\n",
            "  case \"$id\" in\n",
            "    rhel|centos|rocky|almalinux|fedora) os_family=rhel; break ;;\n",
            "    debian|ubuntu) os_family=debian; break ;;\n",
            "  esac\n",
            "done\n",
        )
    }
}
