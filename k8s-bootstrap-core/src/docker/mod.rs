//! [`DockerUnit`]: docker.service taking its bridge from flanneld's lease
//! (`EnvironmentFile=/run/flannel/subnet.env`, `--bip=${FLANNEL_SUBNET}
//! --mtu=${FLANNEL_MTU}`, after and requiring flanneld), or a daemon.json
//! with `bip`/`mtu`; never both.
//!
//! ```
//! use k8s_bootstrap_core::docker::DockerUnit;
//! let r = DockerUnit::default().registry_mirror("http://f1361db2.m.daocloud.io").render().unwrap();
//! let unit = r.file("/usr/lib/systemd/system/docker.service").unwrap().text();
//! assert!(unit.contains("EnvironmentFile=/run/flannel/subnet.env\n"));
//! assert!(unit.contains("ExecStart=/usr/bin/dockerd --bip=${FLANNEL_SUBNET} --mtu=${FLANNEL_MTU} --ip-masq=false\n"));
//! assert!(unit.contains("Requires=flanneld.service"));
//! let json = r.file("/etc/docker/daemon.json").unwrap().text();
//! assert!(json.contains("registry-mirrors") && !json.contains("bip"));
//! ```

mod install;

pub use install::{CHECK_ELSEWHERE, DockerInstall, EngineInstall, InstallSteps, PACKAGE_UPLOAD_DIR};

use askama::Template;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::model::{Command, HostRender, Problem, RenderedFile};

/// The error of the docker builder.
///
/// ```
/// use k8s_bootstrap_core::docker::{DockerUnit, Error};
/// let err = DockerUnit::default().registry_mirror("f1361db2.m.daocloud.io").render().unwrap_err();
/// let Error::Invalid(problems) = &err else { panic!() };
/// assert_eq!(problems[0].path, "registry_mirrors[0]");
/// assert!(err.to_string().contains("a registry mirror is an http(s) URL"));
/// ```
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The settings break rules.
    #[error("invalid docker settings:{}", crate::model::error_list(.0))]
    Invalid(Vec<Problem>),
    /// A template failed to render.
    #[error("rendering {file} failed")]
    Template {
        /// The file being rendered.
        file: String,
        /// The askama error.
        #[source]
        source: askama::Error,
    },
}

/// `Result` of this module.
///
/// ```
/// use k8s_bootstrap_core::docker::{self, DockerUnit};
/// fn unit_text(d: &DockerUnit) -> docker::Result<String> {
///     Ok(d.render()?.file(&d.unit_file()).unwrap().text().to_string())
/// }
/// assert!(unit_text(&DockerUnit::default()).unwrap().contains("Requires=flanneld.service"));
/// assert!(unit_text(&DockerUnit::default().bridge("10.244.5.1/24", None)).is_err());
/// ```
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Where docker's bridge settings come from.
///
/// ```
/// use k8s_bootstrap_core::docker::{DockerMode, DockerUnit};
/// let unit = |m: DockerMode| DockerUnit::default().mode(m).render().unwrap().files[0].text().to_string();
/// assert!(unit(DockerMode::FlannelEnv).contains("ExecStart=/usr/bin/dockerd --bip=${FLANNEL_SUBNET} "));
/// assert!(unit(DockerMode::DaemonJson).contains("ExecStart=/usr/bin/dockerd\n"));
/// assert_eq!(serde_yaml_ng::from_str::<DockerMode>("daemon-json").unwrap(), DockerMode::DaemonJson);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DockerMode {
    /// From flanneld's lease: `--bip`/`--mtu` read from its subnet.env (default).
    #[default]
    FlannelEnv,
    /// From `bip`/`mtu` in daemon.json; the unit has no network flags.
    DaemonJson,
}

/// docker's cgroup driver.
///
/// ```
/// use k8s_bootstrap_core::docker::{CgroupDriver, DockerUnit};
/// let json = DockerUnit::default().cgroup_driver(CgroupDriver::Systemd).daemon_json().unwrap();
/// let v: serde_json::Value = serde_json::from_str(&json).unwrap();
/// assert_eq!(v["exec-opts"][0], "native.cgroupdriver=systemd");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CgroupDriver {
    /// cgroupfs.
    Cgroupfs,
    /// systemd (what kubelet expects on systemd hosts).
    Systemd,
}

/// docker.service and daemon.json of a node. `Default` is flannel-env mode
/// with the tutorial's paths.
///
/// ```
/// use k8s_bootstrap_core::docker::{CgroupDriver, DockerMode, DockerUnit};
/// // bip and mtu both in daemon.json and from flannel make dockerd refuse to start:
/// let both = DockerUnit::default().bridge("10.244.5.1/24", Some(1450));
/// assert_eq!(both.validate()[0].path, "bip");
/// // In daemon-json mode they go to daemon.json and the unit has no network flags.
/// let json = DockerUnit::default()
///     .mode(DockerMode::DaemonJson)
///     .bridge("10.244.5.1/24", Some(1450))
///     .cgroup_driver(CgroupDriver::Systemd)
///     .daemon_json()
///     .unwrap();
/// assert!(json.contains(r#""bip": "10.244.5.1/24""#) && json.contains("native.cgroupdriver=systemd"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DockerUnit {
    /// Mode.
    pub mode: DockerMode,
    /// dockerd's path.
    pub dockerd: String,
    /// Unit directory.
    pub systemd_dir: String,
    /// The file docker reads `FLANNEL_SUBNET` and `FLANNEL_MTU` from
    /// (flannel-env mode): flanneld's own subnet.env, only ever read.
    pub opts_file: String,
    /// docker's own `--ip-masq` (flannel-env mode): `false` when flanneld
    /// masquerades (`--ip-masq`), as mk-docker-opts.sh derived it.
    #[serde(default)]
    pub ip_masq: bool,
    /// `data-root`.
    pub data_root: Option<String>,
    /// `storage-driver`.
    pub storage_driver: Option<String>,
    /// `registry-mirrors`.
    pub registry_mirrors: Vec<String>,
    /// `exec-opts: native.cgroupdriver=...`.
    pub cgroup_driver: Option<CgroupDriver>,
    /// `bip` (daemon-json mode only), like `10.244.5.1/24`.
    pub bip: Option<String>,
    /// `mtu` (daemon-json mode only).
    pub mtu: Option<u32>,
}

impl Default for DockerUnit {
    fn default() -> Self {
        DockerUnit {
            mode: DockerMode::FlannelEnv,
            dockerd: "/usr/bin/dockerd".into(),
            systemd_dir: "/usr/lib/systemd/system".into(),
            opts_file: crate::flannel::SUBNET_ENV.into(),
            ip_masq: false,
            data_root: None,
            storage_driver: None,
            registry_mirrors: Vec::new(),
            cgroup_driver: None,
            bip: None,
            mtu: None,
        }
    }
}

#[derive(Template)]
#[template(path = "docker.service")]
struct UnitTemplate<'a> {
    flannel: bool,
    opts_file: &'a str,
    dockerd: &'a str,
    ip_masq: bool,
}

/// Path of daemon.json.
///
/// ```
/// use k8s_bootstrap_core::docker::{DockerUnit, DAEMON_JSON};
/// let r = DockerUnit::default().registry_mirror("http://f1361db2.m.daocloud.io").render().unwrap();
/// assert_eq!(r.file(DAEMON_JSON).unwrap().path, "/etc/docker/daemon.json");
/// assert!(DockerUnit::default().render().unwrap().file(DAEMON_JSON).is_none()); // nothing to say
/// ```
pub const DAEMON_JSON: &str = "/etc/docker/daemon.json";

impl DockerUnit {
    /// Sets the mode.
    ///
    /// ```
    /// use k8s_bootstrap_core::docker::{DockerMode, DockerUnit};
    /// let r = DockerUnit::default().mode(DockerMode::DaemonJson).render().unwrap();
    /// let unit = r.files[0].text();
    /// assert!(!unit.contains("flanneld") && !unit.contains("EnvironmentFile"));
    /// ```
    #[must_use]
    pub fn mode(mut self, m: DockerMode) -> Self {
        self.mode = m;
        self
    }
    /// Adds a registry mirror.
    ///
    /// ```
    /// use k8s_bootstrap_core::docker::DockerUnit;
    /// let d = DockerUnit::default().registry_mirror("http://f1361db2.m.daocloud.io");
    /// assert!(d.daemon_json().unwrap().contains(r#""registry-mirrors": ["#));
    /// ```
    #[must_use]
    pub fn registry_mirror(mut self, url: impl Into<String>) -> Self {
        self.registry_mirrors.push(url.into());
        self
    }
    /// Sets `data-root`.
    ///
    /// ```
    /// use k8s_bootstrap_core::docker::DockerUnit;
    /// let d = DockerUnit::default().data_root("/data/docker");
    /// assert!(d.daemon_json().unwrap().contains(r#""data-root": "/data/docker""#));
    /// assert_eq!(DockerUnit::default().data_root("data/docker").validate()[0].path, "data_root"); // absolute only
    /// ```
    #[must_use]
    pub fn data_root(mut self, dir: impl Into<String>) -> Self {
        self.data_root = Some(dir.into());
        self
    }
    /// Sets `storage-driver`.
    ///
    /// ```
    /// use k8s_bootstrap_core::docker::DockerUnit;
    /// let d = DockerUnit::default().storage_driver("overlay2");
    /// assert!(d.daemon_json().unwrap().contains(r#""storage-driver": "overlay2""#));
    /// ```
    #[must_use]
    pub fn storage_driver(mut self, d: impl Into<String>) -> Self {
        self.storage_driver = Some(d.into());
        self
    }
    /// Sets the cgroup driver.
    ///
    /// ```
    /// use k8s_bootstrap_core::docker::{CgroupDriver, DockerUnit};
    /// let d = DockerUnit::default().cgroup_driver(CgroupDriver::Cgroupfs);
    /// assert!(d.daemon_json().unwrap().contains("native.cgroupdriver=cgroupfs"));
    /// ```
    #[must_use]
    pub fn cgroup_driver(mut self, d: CgroupDriver) -> Self {
        self.cgroup_driver = Some(d);
        self
    }
    /// Sets `bip` and `mtu` (daemon-json mode).
    ///
    /// ```
    /// use k8s_bootstrap_core::docker::{DockerMode, DockerUnit};
    /// let d = DockerUnit::default().mode(DockerMode::DaemonJson).bridge("10.244.5.1/24", Some(1450));
    /// let json = d.daemon_json().unwrap();
    /// assert!(json.contains(r#""bip": "10.244.5.1/24""#) && json.contains(r#""mtu": 1450"#));
    /// ```
    #[must_use]
    pub fn bridge(mut self, bip: impl Into<String>, mtu: Option<u32>) -> Self {
        self.bip = Some(bip.into());
        self.mtu = mtu;
        self
    }

    /// Checks the settings; every problem at once.
    ///
    /// ```
    /// use k8s_bootstrap_core::docker::{DockerMode, DockerUnit};
    /// let d = DockerUnit::default().mode(DockerMode::DaemonJson).bridge("10.244.5.1", Some(100));
    /// let paths: Vec<String> = d.validate().into_iter().map(|p| p.path).collect();
    /// assert_eq!(paths, ["bip", "mtu"]); // no prefix length; MTU below 576
    /// assert!(DockerUnit::default().validate().is_empty());
    /// ```
    pub fn validate(&self) -> Vec<Problem> {
        let mut p = Vec::new();
        if self.mode == DockerMode::FlannelEnv {
            if let Some(b) = &self.bip {
                p.push(Problem::new("bip", b, "bip in daemon.json and --bip from flannel make dockerd refuse to start").fix("drop bip, or use mode daemon-json"));
            }
            if let Some(m) = self.mtu {
                p.push(Problem::new("mtu", m, "mtu in daemon.json and --mtu from flannel make dockerd refuse to start").fix("drop mtu, or use mode daemon-json"));
            }
        }
        if let Some(b) = &self.bip {
            let ok = b.split_once('/').is_some_and(|(ip, len)| {
                ip.parse::<std::net::Ipv4Addr>().is_ok() && len.parse::<u8>().is_ok_and(|l| (1..=30).contains(&l))
            });
            if !ok {
                p.push(Problem::new("bip", b, "bip is the bridge's address with a prefix, like 10.244.5.1/24"));
            }
        }
        if let Some(m) = self.mtu
            && !(576..=9000).contains(&m)
        {
            p.push(Problem::new("mtu", m, "an MTU is 576-9000"));
        }
        for (i, m) in self.registry_mirrors.iter().enumerate() {
            if !(m.starts_with("http://") || m.starts_with("https://")) || m.contains(char::is_whitespace) {
                p.push(Problem::new(format!("registry_mirrors[{i}]"), m, "a registry mirror is an http(s) URL"));
            }
        }
        for (field, path) in [("dockerd", Some(&self.dockerd)), ("opts_file", Some(&self.opts_file)), ("data_root", self.data_root.as_ref()), ("systemd_dir", Some(&self.systemd_dir))] {
            if let Some(path) = path
                && let Some(rule) = crate::model::path_rule(path)
            {
                p.push(Problem::new(field, path, rule));
            }
        }
        p
    }

    /// daemon.json, or `None` when no setting needs it.
    ///
    /// ```
    /// use k8s_bootstrap_core::docker::DockerUnit;
    /// assert_eq!(DockerUnit::default().daemon_json(), None);
    /// let json = DockerUnit::default().registry_mirror("http://f1361db2.m.daocloud.io").daemon_json().unwrap();
    /// assert_eq!(json, "{\n  \"registry-mirrors\": [\n    \"http://f1361db2.m.daocloud.io\"\n  ]\n}\n");
    /// ```
    pub fn daemon_json(&self) -> Option<String> {
        let mut m = Map::new();
        if self.mode == DockerMode::DaemonJson {
            if let Some(b) = &self.bip {
                m.insert("bip".into(), json!(b));
            }
            if let Some(mtu) = self.mtu {
                m.insert("mtu".into(), json!(mtu));
            }
        }
        if let Some(d) = &self.data_root {
            m.insert("data-root".into(), json!(d));
        }
        if let Some(d) = &self.storage_driver {
            m.insert("storage-driver".into(), json!(d));
        }
        if !self.registry_mirrors.is_empty() {
            m.insert("registry-mirrors".into(), json!(self.registry_mirrors));
        }
        if let Some(c) = self.cgroup_driver {
            let name = match c {
                CgroupDriver::Cgroupfs => "cgroupfs",
                CgroupDriver::Systemd => "systemd",
            };
            m.insert("exec-opts".into(), json!([format!("native.cgroupdriver={name}")]));
        }
        if m.is_empty() {
            return None;
        }
        let mut s = serde_json::to_string_pretty(&Value::Object(m)).expect("JSON of strings");
        s.push('\n');
        Some(s)
    }

    /// Path of the unit.
    ///
    /// ```
    /// use k8s_bootstrap_core::docker::DockerUnit;
    /// assert_eq!(DockerUnit::default().unit_file(), "/usr/lib/systemd/system/docker.service");
    /// ```
    pub fn unit_file(&self) -> String {
        format!("{}/docker.service", self.systemd_dir.trim_end_matches('/'))
    }

    /// Renders docker.service, daemon.json and the command that enables
    /// docker at boot (starting and restarting it is the plan's: it knows
    /// whether docker runs and what changed).
    ///
    /// ```
    /// use k8s_bootstrap_core::docker::DockerUnit;
    /// use k8s_bootstrap_core::render::Phase;
    /// let r = DockerUnit::default().render().unwrap();
    /// assert_eq!(r.files.len(), 1); // no daemon.json without settings
    /// let enable = r.commands.last().unwrap();
    /// assert_eq!((enable.phase, enable.argv.join(" ")), (Phase::Install, "env SYSTEMCTL_SKIP_SYSV=1 systemctl enable --no-reload docker".to_string()));
    /// ```
    pub fn render(&self) -> Result<HostRender> {
        let problems = self.validate();
        if !problems.is_empty() {
            return Err(Error::Invalid(problems));
        }
        let mut out = HostRender::default();
        let unit_file = self.unit_file();
        let t = UnitTemplate { flannel: self.mode == DockerMode::FlannelEnv, opts_file: &self.opts_file, dockerd: &self.dockerd, ip_masq: self.ip_masq };
        let text = crate::model::text_file(t.render()).map_err(|source| Error::Template { file: unit_file.clone(), source })?;
        out.files.push(RenderedFile::new(&unit_file, text, 0o644).defines_unit("docker"));
        if let Some(json) = self.daemon_json() {
            out.files.push(RenderedFile::new(DAEMON_JSON, json, 0o644).restarts("docker"));
        }
        out.commands.push(Command::enable_at_boot("docker"));
        Ok(out)
    }
}
