//! The core builders `EtcdCluster`, `FlannelConfig`, `DockerUnit`,
//! `HostPrep`: keyword-only constructors whose None means "the Rust
//! default" (each keyword is applied to the core builder's own default
//! through serde), `to_dict`, `from_spec`, `validate` and their renders.

use std::net::Ipv4Addr;

use k8s_bootstrap_core::{docker, etcd, flannel, hostprep, spec as core_spec};
use pyo3::prelude::*;
use pyo3::types::PyType;

use crate::convert::{self, overlay};
use crate::error::Error;
use crate::render::{Command, HostRender};
use crate::spec::{ClusterSpec, Problem, problems};

type Kw<'py> = Option<Bound<'py, PyAny>>;

fn host<'a>(spec: &'a ClusterSpec, name: &str) -> PyResult<&'a core_spec::HostSpec> {
    spec.inner.hosts.iter().find(|h| h.name == name).ok_or_else(|| {
        Error::Convert { path: "host".into(), value: name.into(), rule: "no host of the spec has this name".into() }.into()
    })
}

fn ipv4(s: &str, field: &str) -> PyResult<Ipv4Addr> {
    s.parse().map_err(|e: std::net::AddrParseError| Error::Convert { path: field.into(), value: s.into(), rule: e.to_string() }.into())
}

/// etcd for one version: members, env files, units, admin etcdctl wrappers
/// and the health check. Keyword-only; None takes the Rust default (etcd
/// 3.5.17, no members, ports 2379/2380, data dir
/// ``/var/lib/etcd/default.etcd``, token ``etcd-cluster``, state ``new``,
/// tls_min_version ``auto``, no v2 API, ``/opt/etcd``,
/// ``/usr/lib/systemd/system``, per-member certs). ``members`` is a list of
/// ``{"name", "address", "client_port"?, "peer_port"?, "data_dir"?}`` dicts.
#[pyclass(module = "k8s_bootstrap", frozen, eq)]
#[derive(Clone, PartialEq)]
pub struct EtcdCluster {
    pub(crate) inner: etcd::EtcdCluster,
}

#[pymethods]
impl EtcdCluster {
    #[new]
    #[pyo3(signature = (*, version = None, members = None, client_port = None, peer_port = None, data_dir = None,
        token = None, initial_state = None, tls_min_version = None, enable_v2 = None, etcd_dir = None,
        systemd_dir = None, cert_layout = None))]
    #[allow(clippy::too_many_arguments)]
    fn new<'py>(
        version: Kw<'py>,
        members: Kw<'py>,
        client_port: Kw<'py>,
        peer_port: Kw<'py>,
        data_dir: Kw<'py>,
        token: Kw<'py>,
        initial_state: Kw<'py>,
        tls_min_version: Kw<'py>,
        enable_v2: Kw<'py>,
        etcd_dir: Kw<'py>,
        systemd_dir: Kw<'py>,
        cert_layout: Kw<'py>,
    ) -> PyResult<Self> {
        let inner = overlay(
            etcd::EtcdCluster::default(),
            &[
                ("version", version),
                ("members", members),
                ("client_port", client_port),
                ("peer_port", peer_port),
                ("data_dir", data_dir),
                ("token", token),
                ("initial_state", initial_state),
                ("tls_min_version", tls_min_version),
                ("enable_v2", enable_v2),
                ("etcd_dir", etcd_dir),
                ("systemd_dir", systemd_dir),
                ("cert_layout", cert_layout),
            ],
        )?;
        Ok(EtcdCluster { inner })
    }

    /// The cluster a spec describes (its etcd hosts, in order).
    #[classmethod]
    fn from_spec(_cls: &Bound<'_, PyType>, spec: &ClusterSpec) -> Self {
        EtcdCluster { inner: etcd::EtcdCluster::from_spec(&spec.inner) }
    }

    /// The settings as a dict (the constructor's keywords).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        convert::ser_to_py(py, &self.inner)
    }

    /// Every problem of the settings (paths relative to this builder); empty when valid.
    fn validate(&self) -> Vec<Problem> {
        problems(self.inner.validate())
    }

    /// The files, commands and certs of member ``name``; raises ``ValidationError``.
    fn render_member(&self, py: Python<'_>, name: &str) -> PyResult<HostRender> {
        let r = self.inner.render_member(name).map_err(Error::from)?;
        HostRender::new(py, r)
    }

    /// The client URLs of every member, comma-separated.
    fn client_endpoints(&self) -> String {
        self.inner.client_endpoints()
    }

    /// ``--initial-cluster``: every member with its name and peer URL.
    fn initial_cluster(&self) -> String {
        self.inner.initial_cluster()
    }

    /// The health check command (run on a member, through the admin wrapper).
    fn health_command(&self) -> Command {
        Command::new(self.inner.health_command())
    }

    fn __repr__(&self) -> String {
        format!("EtcdCluster(version={}, members={:?})", self.inner.version, self.inner.members.iter().map(|m| m.name.as_str()).collect::<Vec<_>>())
    }
}

/// flannel for one version: net-conf JSON in etcd, flanneld's env file and
/// unit. Keyword-only; None takes the Rust default (flannel 0.26.1, network
/// 10.244.0.0/16, subnet_len 24, vxlan VNI 1 port 8472, prefix
/// ``/coreos.com/network``, endpoints ``https://127.0.0.1:2379``, ip_masq,
/// docker_opts, ``/opt/kubernetes``, ``/usr/lib/systemd/system``, per-member
/// certs). ``backend`` is a dict like ``{"type": "vxlan", "vni": 1, "port": 8472}``.
#[pyclass(module = "k8s_bootstrap", frozen, eq)]
#[derive(Clone, PartialEq)]
pub struct FlannelConfig {
    inner: flannel::FlannelConfig,
}

#[pymethods]
impl FlannelConfig {
    #[new]
    #[pyo3(signature = (*, version = None, network = None, subnet_len = None, subnet_min = None, subnet_max = None,
        backend = None, etcd_prefix = None, etcd_endpoints = None, ip_masq = None, docker_opts = None,
        kubernetes_dir = None, systemd_dir = None, cert_layout = None))]
    #[allow(clippy::too_many_arguments)]
    fn new<'py>(
        version: Kw<'py>,
        network: Kw<'py>,
        subnet_len: Kw<'py>,
        subnet_min: Kw<'py>,
        subnet_max: Kw<'py>,
        backend: Kw<'py>,
        etcd_prefix: Kw<'py>,
        etcd_endpoints: Kw<'py>,
        ip_masq: Kw<'py>,
        docker_opts: Kw<'py>,
        kubernetes_dir: Kw<'py>,
        systemd_dir: Kw<'py>,
        cert_layout: Kw<'py>,
    ) -> PyResult<Self> {
        let inner = overlay(
            flannel::FlannelConfig::default(),
            &[
                ("version", version),
                ("network", network),
                ("subnet_len", subnet_len),
                ("subnet_min", subnet_min),
                ("subnet_max", subnet_max),
                ("backend", backend),
                ("etcd_prefix", etcd_prefix),
                ("etcd_endpoints", etcd_endpoints),
                ("ip_masq", ip_masq),
                ("docker_opts", docker_opts),
                ("kubernetes_dir", kubernetes_dir),
                ("systemd_dir", systemd_dir),
                ("cert_layout", cert_layout),
            ],
        )?;
        Ok(FlannelConfig { inner })
    }

    /// flannel as a spec describes it.
    #[classmethod]
    fn from_spec(_cls: &Bound<'_, PyType>, spec: &ClusterSpec) -> Self {
        FlannelConfig { inner: flannel::FlannelConfig::from_spec(&spec.inner) }
    }

    /// The settings as a dict (the constructor's keywords).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        convert::ser_to_py(py, &self.inner)
    }

    /// Every problem of the settings; empty when valid.
    fn validate(&self) -> Vec<Problem> {
        problems(self.inner.validate())
    }

    /// The files, commands and certs of node ``host`` reached on
    /// ``public_ip``, with flannel's ``--iface`` (None: the interface holding
    /// ``public_ip``); raises ``ValidationError``.
    #[pyo3(signature = (host, public_ip, iface = None))]
    fn render_node(&self, py: Python<'_>, host: &str, public_ip: &str, iface: Option<&str>) -> PyResult<HostRender> {
        let ip = ipv4(public_ip, "public_ip")?;
        let r = self.inner.render_node(host, ip, iface).map_err(Error::from)?;
        HostRender::new(py, r)
    }

    /// flannel's network config JSON (written into etcd).
    fn network_config_json(&self) -> String {
        self.inner.network_config_json()
    }

    /// The command that writes the network config into ``etcd``.
    fn config_command(&self, etcd: &EtcdCluster) -> Command {
        Command::new(self.inner.config_command(&etcd.inner))
    }

    /// flanneld's options for a node.
    #[pyo3(signature = (public_ip, iface = None))]
    fn options(&self, public_ip: &str, iface: Option<&str>) -> PyResult<Vec<String>> {
        Ok(self.inner.options(ipv4(public_ip, "public_ip")?, iface))
    }

    fn __repr__(&self) -> String {
        format!("FlannelConfig(version={}, network={})", self.inner.version, self.inner.network)
    }
}

/// docker.service and daemon.json of a node. Keyword-only; None takes the
/// Rust default (mode ``flannel-env``, ``/usr/bin/dockerd``,
/// ``/usr/lib/systemd/system``, options file ``/run/flannel/docker``, no
/// data_root, storage_driver, registry_mirrors, cgroup_driver, bip or mtu).
#[pyclass(module = "k8s_bootstrap", frozen, eq)]
#[derive(Clone, PartialEq)]
pub struct DockerUnit {
    inner: docker::DockerUnit,
}

#[pymethods]
impl DockerUnit {
    #[new]
    #[pyo3(signature = (*, mode = None, dockerd = None, systemd_dir = None, opts_file = None, data_root = None,
        storage_driver = None, registry_mirrors = None, cgroup_driver = None, bip = None, mtu = None))]
    #[allow(clippy::too_many_arguments)]
    fn new<'py>(
        mode: Kw<'py>,
        dockerd: Kw<'py>,
        systemd_dir: Kw<'py>,
        opts_file: Kw<'py>,
        data_root: Kw<'py>,
        storage_driver: Kw<'py>,
        registry_mirrors: Kw<'py>,
        cgroup_driver: Kw<'py>,
        bip: Kw<'py>,
        mtu: Kw<'py>,
    ) -> PyResult<Self> {
        let inner = overlay(
            docker::DockerUnit::default(),
            &[
                ("mode", mode),
                ("dockerd", dockerd),
                ("systemd_dir", systemd_dir),
                ("opts_file", opts_file),
                ("data_root", data_root),
                ("storage_driver", storage_driver),
                ("registry_mirrors", registry_mirrors),
                ("cgroup_driver", cgroup_driver),
                ("bip", bip),
                ("mtu", mtu),
            ],
        )?;
        Ok(DockerUnit { inner })
    }

    /// docker as a spec describes it for the host named ``host``.
    #[classmethod]
    fn from_spec(_cls: &Bound<'_, PyType>, spec: &ClusterSpec, host: &str) -> PyResult<Self> {
        let h = self::host(spec, host)?;
        Ok(DockerUnit { inner: docker::DockerUnit::from_spec(&spec.inner, h) })
    }

    /// The settings as a dict (the constructor's keywords).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        convert::ser_to_py(py, &self.inner)
    }

    /// Every problem of the settings; empty when valid.
    fn validate(&self) -> Vec<Problem> {
        problems(self.inner.validate())
    }

    /// docker.service, daemon.json and the commands that (re)start docker;
    /// raises ``ValidationError``.
    fn render(&self, py: Python<'_>) -> PyResult<HostRender> {
        let r = self.inner.render().map_err(Error::from)?;
        HostRender::new(py, r)
    }

    /// daemon.json's content, or None when there is nothing to put in it.
    fn daemon_json(&self) -> Option<String> {
        self.inner.daemon_json()
    }

    fn __repr__(&self) -> String {
        format!("DockerUnit(mode={:?})", serde_json::to_value(self.inner.mode).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default())
    }
}

/// Host preparation of one host: hostname, SELinux, firewall ports, time
/// sync, swap, kernel modules and sysctls. ``hostname`` is required (None:
/// leave the hostname as it is); the other keywords are optional and None
/// takes the Rust default (``HostPrep::new``: OS detected, SELinux
/// ``permissive``, firewall ``open-ports`` with no ports, time sync ``auto``,
/// swap off, modules overlay and br_netfilter, the ip_forward and
/// bridge-nf-call sysctls). ``sysctls`` is a list of ``(key, value)`` pairs.
#[pyclass(module = "k8s_bootstrap", frozen, eq)]
#[derive(Clone, PartialEq)]
pub struct HostPrep {
    inner: hostprep::HostPrep,
}

#[pymethods]
impl HostPrep {
    #[new]
    #[pyo3(signature = (*, hostname, os = None, selinux = None, firewall = None, tcp_ports = None, udp_ports = None,
        time_sync = None, swap_off = None, modules = None, sysctls = None))]
    #[allow(clippy::too_many_arguments)]
    fn new<'py>(
        hostname: Option<String>,
        os: Kw<'py>,
        selinux: Kw<'py>,
        firewall: Kw<'py>,
        tcp_ports: Kw<'py>,
        udp_ports: Kw<'py>,
        time_sync: Kw<'py>,
        swap_off: Kw<'py>,
        modules: Kw<'py>,
        sysctls: Kw<'py>,
    ) -> PyResult<Self> {
        let mut base = hostprep::HostPrep::new(hostname.clone().unwrap_or_default());
        base.hostname = hostname;
        let inner = overlay(
            base,
            &[
                ("os", os),
                ("selinux", selinux),
                ("firewall", firewall),
                ("tcp_ports", tcp_ports),
                ("udp_ports", udp_ports),
                ("time_sync", time_sync),
                ("swap_off", swap_off),
                ("modules", modules),
                ("sysctls", sysctls),
            ],
        )?;
        Ok(HostPrep { inner })
    }

    /// Preparation of the host named ``host`` as the spec describes it.
    #[classmethod]
    fn from_spec(_cls: &Bound<'_, PyType>, spec: &ClusterSpec, host: &str) -> PyResult<Self> {
        let h = self::host(spec, host)?;
        Ok(HostPrep { inner: hostprep::HostPrep::from_spec(&spec.inner, h) })
    }

    /// The settings as a dict (the constructor's keywords).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        convert::ser_to_py(py, &self.inner)
    }

    /// Every problem of the settings; empty when valid.
    fn validate(&self) -> Vec<Problem> {
        problems(self.inner.validate())
    }

    /// The files (modules, sysctls) and the check-plus-change commands;
    /// raises ``ValidationError``.
    fn render(&self, py: Python<'_>) -> PyResult<HostRender> {
        let r = self.inner.try_render().map_err(Error::from)?;
        HostRender::new(py, r)
    }

    fn __repr__(&self) -> String {
        format!("HostPrep(hostname={})", crate::convert::opt_repr(self.inner.hostname.as_deref()))
    }
}
