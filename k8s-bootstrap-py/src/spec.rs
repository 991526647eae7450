//! `ClusterSpec` and `Problem`.

use std::path::PathBuf;

use k8s_bootstrap_core::spec as core;
use pyo3::prelude::*;
use pyo3::types::PyType;

use crate::convert;
use crate::error::Error;
use crate::render::RenderedCluster;

/// One rule a value breaks (or a risky setting, for a warning): where
/// (``path``), what (``value``), which ``rule``, and how to ``fix`` it.
#[pyclass(module = "k8s_bootstrap", frozen, eq)]
#[derive(Clone, PartialEq)]
pub struct Problem {
    /// Field path, like ``hosts[1].address``.
    #[pyo3(get)]
    pub path: String,
    /// The offending value as text.
    #[pyo3(get)]
    pub value: String,
    /// The rule the value breaks.
    #[pyo3(get)]
    pub rule: String,
    /// A suggested fix, or None.
    #[pyo3(get)]
    pub fix: Option<String>,
    inner: core::Problem,
}

impl From<core::Problem> for Problem {
    fn from(p: core::Problem) -> Self {
        Problem { path: p.path.clone(), value: p.value.clone(), rule: p.rule.clone(), fix: p.fix.clone(), inner: p }
    }
}

#[pymethods]
impl Problem {
    /// ``path = value: rule (fix: ...)``.
    fn __str__(&self) -> String {
        self.inner.to_string()
    }
    fn __repr__(&self) -> String {
        format!("Problem({:?}, {:?}, {:?}, fix={})", self.path, self.value, self.rule, crate::convert::opt_repr(self.fix.as_deref()))
    }
}

pub(crate) fn problems(v: Vec<core::Problem>) -> Vec<Problem> {
    v.into_iter().map(Problem::from).collect()
}

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

#[pymethods]
impl ClusterSpec {
    /// Reads a spec from a YAML file. It is not validated yet.
    #[classmethod]
    fn from_file(_cls: &Bound<'_, PyType>, path: PathBuf) -> PyResult<Self> {
        let text = std::fs::read_to_string(&path).map_err(|e| crate::convert::os_error(_cls.py(), e, &path))?;
        Ok(ClusterSpec { inner: core::ClusterSpec::from_yaml_str(&text).map_err(Error::from)? })
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
        convert::ser_to_py(py, &self.inner)
    }

    /// The spec as YAML text.
    fn to_yaml(&self) -> String {
        self.inner.to_yaml_string()
    }

    /// Checks every rule at once. Returns the warnings (risky but working
    /// settings); raises ``ValidationError`` listing every problem.
    fn validate(&self) -> PyResult<Vec<Problem>> {
        Ok(problems(self.inner.validate().map_err(Error::from)?))
    }

    /// Validates the spec and renders every file and command of every host.
    /// Returns ``{host: {path: RenderedFile}}`` (a ``RenderedCluster``);
    /// each host also has its ``commands`` and ``certs``.
    fn render(&self, py: Python<'_>) -> PyResult<RenderedCluster> {
        let r = py.detach(|| self.inner.render()).map_err(Error::from)?;
        RenderedCluster::new(py, r)
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
        format!(
            "ClusterSpec(hosts={:?}, etcd={}, flannel={})",
            self.inner.hosts.iter().map(|h| h.name.as_str()).collect::<Vec<_>>(),
            self.inner.versions.etcd,
            self.inner.versions.flannel
        )
    }
}
