//! `ClusterSpec`.

use std::path::PathBuf;

use k8s_bootstrap_core::spec as core;
use pyo3::prelude::*;
use pyo3::types::PyType;

use crate::convert::{self, to_py};
use crate::error::Error;
use crate::render::RenderedCluster;

/// The whole cluster: hosts, versions, layout, network, PKI, etcd, docker
/// and host preparation settings. Read it with ``from_file``, ``from_yaml``
/// or ``from_dict``; it is checked as a whole by ``validate`` and ``render``.
///
/// Unknown fields are errors (``ValidationError`` with the field path and,
/// for YAML, the line and column).
#[pyclass(module = "k8s_bootstrap", frozen, eq)]
#[derive(Clone, PartialEq)]
pub struct ClusterSpec {
    pub(crate) inner: core::ClusterSpec,
}

impl ClusterSpec {
    pub(crate) fn read(py: Python<'_>, path: &std::path::Path) -> PyResult<core::ClusterSpec> {
        Ok(core::ClusterSpec::from_yaml_str(&convert::read_text(py, path)?).map_err(Error::from)?)
    }
}

#[pymethods]
impl ClusterSpec {
    /// Reads a spec from a YAML file. It is not validated yet.
    #[classmethod]
    fn from_file(cls: &Bound<'_, PyType>, path: PathBuf) -> PyResult<Self> {
        Ok(ClusterSpec { inner: Self::read(cls.py(), &path)? })
    }

    /// Reads a spec from YAML text. It is not validated yet.
    #[classmethod]
    fn from_yaml(_cls: &Bound<'_, PyType>, text: &str) -> PyResult<Self> {
        Ok(ClusterSpec { inner: core::ClusterSpec::from_yaml_str(text).map_err(Error::from)? })
    }

    /// Reads a spec from a dict of the same shape as the YAML (as
    /// ``to_dict`` returns). It is not validated yet.
    #[classmethod]
    fn from_dict(_cls: &Bound<'_, PyType>, d: &Bound<'_, PyAny>) -> PyResult<Self> {
        Ok(ClusterSpec { inner: convert::extract(d, "")? })
    }

    /// The spec as a dict (every section, defaults filled in).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        convert::to_plain(py, &self.inner)
    }

    /// The spec as YAML text.
    fn to_yaml(&self) -> String {
        self.inner.to_yaml_string()
    }

    /// Checks every rule at once. Returns the warnings (risky but working
    /// settings, as ``Problem``); raises ``ValidationError`` listing every problem.
    fn validate<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.inner.validate().map_err(Error::from)?)
    }

    /// Validates the spec and renders every file and command of every host.
    /// Returns ``{host: {path: RenderedFile}}`` (a ``RenderedCluster``);
    /// each host also has its ``commands`` and ``certs``.
    fn render<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, RenderedCluster>> {
        let r = py.detach(|| self.inner.render()).map_err(Error::from)?;
        RenderedCluster::new(py, r)
    }

    /// What ``apply`` does on a host that has nothing yet, as a POSIX sh
    /// script a person can read: the plan for bare hosts, the
    /// ``commands.sh`` that ``k8s-bootstrap render`` writes. Raises
    /// ``ValidationError``.
    fn commands_sh(&self, py: Python<'_>, host: &str) -> PyResult<String> {
        let bare = py.detach(|| k8s_bootstrap_core::apply::BarePlan::new(&self.inner)).map_err(Error::from)?;
        Ok(bare.commands_sh(host))
    }

    /// The core's render alone, without making Python objects (returns the
    /// number of files): the benchmark's baseline for the binding overhead.
    fn _render_core_only(&self, py: Python<'_>) -> PyResult<usize> {
        let r = py.detach(|| self.inner.render()).map_err(Error::from)?;
        Ok(r.hosts.values().map(|h| h.files.len()).sum())
    }

    /// Whether flannel needs etcd's v2 API (flannel <= 0.17).
    fn needs_etcd_v2(&self) -> bool {
        self.inner.needs_etcd_v2()
    }

    /// The host names, in spec order.
    #[getter]
    fn host_names(&self) -> Vec<String> {
        self.inner.hosts.iter().map(|h| h.name.clone()).collect()
    }

    fn __repr__(&self) -> String {
        let hosts: Vec<&str> = self.inner.hosts.iter().map(|h| h.name.as_str()).collect();
        format!("ClusterSpec(hosts={hosts:?}, etcd={}, flannel={})", self.inner.versions.etcd, self.inner.versions.flannel)
    }
}
