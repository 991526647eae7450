//! The core builders `EtcdCluster`, `FlannelConfig`, `DockerUnit`,
//! `HostPrep`: keyword-only constructors whose keywords are the core
//! builder's fields (each set on the core builder's own default through
//! serde; None keeps the default), `to_dict`, `from_spec`, `validate` and
//! their renders.

use std::net::Ipv4Addr;

use k8s_bootstrap_core::{docker, etcd, flannel, hostprep, spec as core_spec};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyType};

use crate::convert::{overlay, to_plain, to_py};
use crate::error::{Error, invalid};
use crate::render::{HostRender, command};
use crate::spec::ClusterSpec;

fn host<'a>(spec: &'a ClusterSpec, name: &str) -> PyResult<&'a core_spec::HostSpec> {
    Ok(spec.inner.hosts.iter().find(|h| h.name == name).ok_or_else(|| invalid("host", name, "no host of the spec has this name"))?)
}

fn ipv4(s: &str, field: &str) -> PyResult<Ipv4Addr> {
    Ok(s.parse().map_err(|e: std::net::AddrParseError| invalid(field, s, e.to_string()))?)
}

/// The `#[pymethods]` of a builder class: these, with `to_dict`,
/// `validate` and `__repr__`.
macro_rules! builder {
    ($name:ident { $($rest:tt)* }) => {
        #[pymethods]
        impl $name {
            /// The settings as a dict (the constructor's keywords).
            fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                to_plain(py, &self.inner)
            }
            /// Every problem of the settings (paths relative to this builder); empty when valid.
            fn validate<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                to_py(py, &self.inner.validate())
            }
            fn __repr__(&self) -> String {
                let d = serde_json::to_string(&self.inner).unwrap_or_default();
                let short: String = d.chars().take(120).collect();
                format!("{}({short}{})", stringify!($name), if short.len() < d.len() { "..." } else { "" })
            }
            $($rest)*
        }
    };
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
    inner: etcd::EtcdCluster,
}
builder!(EtcdCluster {
    #[new]
    #[pyo3(signature = (**kw))]
    fn new(kw: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        Ok(EtcdCluster { inner: overlay(etcd::EtcdCluster::default(), kw, "EtcdCluster")? })
    }

    /// The cluster a spec describes (its etcd hosts, in order).
    #[classmethod]
    fn from_spec(_cls: &Bound<'_, PyType>, spec: &ClusterSpec) -> Self {
        EtcdCluster { inner: etcd::EtcdCluster::from_spec(&spec.inner) }
    }

    /// The files, commands and certs of member ``name``; raises ``ValidationError``.
    fn render_member<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, HostRender>> {
        HostRender::new(py, self.inner.render_member(name).map_err(Error::from)?)
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
    fn health_command<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        command(py, self.inner.health_command())
    }
});

/// flannel for one version: net-conf JSON in etcd, flanneld's env file and
/// unit. Keyword-only; None takes the Rust default (flannel 0.26.1, network
/// 10.244.0.0/16, subnet_len 24, vxlan VNI 1 port 8472, prefix
/// ``/coreos.com/network``, endpoints ``https://127.0.0.1:2379``, ip_masq,
/// ``/opt/kubernetes``, ``/usr/lib/systemd/system``, per-member certs).
/// ``backend`` is a dict like ``{"type": "vxlan", "vni": 1, "port": 8472}``.
#[pyclass(module = "k8s_bootstrap", frozen, eq)]
#[derive(Clone, PartialEq)]
pub struct FlannelConfig {
    inner: flannel::FlannelConfig,
}
builder!(FlannelConfig {
    #[new]
    #[pyo3(signature = (**kw))]
    fn new(kw: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        Ok(FlannelConfig { inner: overlay(flannel::FlannelConfig::default(), kw, "FlannelConfig")? })
    }

    /// flannel as a spec describes it.
    #[classmethod]
    fn from_spec(_cls: &Bound<'_, PyType>, spec: &ClusterSpec) -> Self {
        FlannelConfig { inner: flannel::FlannelConfig::from_spec(&spec.inner) }
    }

    /// The files, commands and certs of node ``host`` reached on
    /// ``public_ip``, with flannel's ``--iface`` (None: the interface holding
    /// ``public_ip``); raises ``ValidationError``.
    #[pyo3(signature = (host, public_ip, iface = None))]
    fn render_node<'py>(&self, py: Python<'py>, host: &str, public_ip: &str, iface: Option<&str>) -> PyResult<Bound<'py, HostRender>> {
        let r = self.inner.render_node(host, ipv4(public_ip, "public_ip")?, iface).map_err(Error::from)?;
        HostRender::new(py, r)
    }

    /// flannel's network config JSON (written into etcd).
    fn network_config_json(&self) -> String {
        self.inner.network_config_json()
    }

    /// The command that writes the network config into ``etcd``.
    fn config_command<'py>(&self, py: Python<'py>, etcd: &EtcdCluster) -> PyResult<Bound<'py, PyAny>> {
        command(py, self.inner.config_command(&etcd.inner))
    }

    /// flanneld's options for a node.
    #[pyo3(signature = (public_ip, iface = None))]
    fn options(&self, public_ip: &str, iface: Option<&str>) -> PyResult<Vec<String>> {
        Ok(self.inner.options(ipv4(public_ip, "public_ip")?, iface))
    }
});

/// docker.service and daemon.json of a node. Keyword-only; None takes the
/// Rust default (mode ``flannel-env``, ``/usr/bin/dockerd``,
/// ``/usr/lib/systemd/system``, flannel's subnet file, no data_root,
/// storage_driver, registry_mirrors, cgroup_driver, bip or mtu).
#[pyclass(module = "k8s_bootstrap", frozen, eq)]
#[derive(Clone, PartialEq)]
pub struct DockerUnit {
    inner: docker::DockerUnit,
}
builder!(DockerUnit {
    #[new]
    #[pyo3(signature = (**kw))]
    fn new(kw: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        Ok(DockerUnit { inner: overlay(docker::DockerUnit::default(), kw, "DockerUnit")? })
    }

    /// docker as a spec describes it for the host named ``host``.
    #[classmethod]
    fn from_spec(_cls: &Bound<'_, PyType>, spec: &ClusterSpec, host: &str) -> PyResult<Self> {
        Ok(DockerUnit { inner: docker::DockerUnit::from_spec(&spec.inner, self::host(spec, host)?) })
    }

    /// docker.service, daemon.json and the commands that (re)start docker;
    /// raises ``ValidationError``.
    fn render<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, HostRender>> {
        HostRender::new(py, self.inner.render().map_err(Error::from)?)
    }

    /// daemon.json's content, or None when there is nothing to put in it.
    fn daemon_json(&self) -> Option<String> {
        self.inner.daemon_json()
    }
});

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
builder!(HostPrep {
    #[new]
    #[pyo3(signature = (*, hostname, **kw))]
    fn new(hostname: Option<String>, kw: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let mut base = hostprep::HostPrep::new(hostname.clone().unwrap_or_default());
        base.hostname = hostname;
        Ok(HostPrep { inner: overlay(base, kw, "HostPrep")? })
    }

    /// Preparation of the host named ``host`` as the spec describes it.
    #[classmethod]
    fn from_spec(_cls: &Bound<'_, PyType>, spec: &ClusterSpec, host: &str) -> PyResult<Self> {
        Ok(HostPrep { inner: hostprep::HostPrep::from_spec(&spec.inner, self::host(spec, host)?) })
    }

    /// The files (modules, sysctls) and the check-plus-change commands;
    /// raises ``ValidationError``.
    fn render<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, HostRender>> {
        HostRender::new(py, self.inner.try_render().map_err(Error::from)?)
    }
});
