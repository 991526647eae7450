//! What a render returns: `RenderedCluster` (host -> `HostRender`),
//! `HostRender` (path -> `RenderedFile`, plus commands and certs), and the
//! data classes `RenderedFile`, `Command` and `HostCert`.

use k8s_bootstrap_core::render as core;
use pyo3::exceptions::{PyKeyError, PyValueError};
use pyo3::prelude::*;
use pyo3::pyclass_init::PyClassInitializer;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyIterator, PyList};

use crate::convert::to_py;
use crate::records::{self, HostCert, Record, fields};

/// A read-only mapping (the base of the two renders).
#[pyclass(module = "k8s_bootstrap", name = "_Mapping", subclass, frozen, mapping)]
pub struct Mapping {
    items: Py<PyDict>,
}

#[pymethods]
impl Mapping {
    fn __getitem__<'py>(&self, py: Python<'py>, key: &str) -> PyResult<Bound<'py, PyAny>> {
        self.items.bind(py).get_item(key)?.ok_or_else(|| PyKeyError::new_err(key.to_owned()))
    }
    fn __len__(&self, py: Python<'_>) -> usize {
        self.items.bind(py).len()
    }
    fn __contains__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<bool> {
        self.items.bind(py).contains(key)
    }
    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyIterator>> {
        self.items.bind(py).keys().try_iter()
    }
    /// The keys.
    fn keys<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.items.bind(py).call_method0("keys")
    }
    /// The values.
    fn values<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.items.bind(py).call_method0("values")
    }
    /// ``(key, value)`` pairs.
    fn items<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.items.bind(py).call_method0("items")
    }
    /// The value of ``key``, or ``default``.
    #[pyo3(signature = (key, default=None, /))]
    fn get<'py>(&self, py: Python<'py>, key: &Bound<'py, PyAny>, default: Option<Bound<'py, PyAny>>) -> PyResult<Bound<'py, PyAny>> {
        Ok(self.items.bind(py).get_item(key)?.or(default).unwrap_or_else(|| py.None().into_bound(py)))
    }
}

/// One file to put on a host: ``path``, ``content`` (bytes), ``mode`` (Unix
/// permission bits: 0o644, 0o755 for scripts, 0o600 for secrets) and
/// ``owner`` (``user:group``).
#[pyclass(module = "k8s_bootstrap", extends = Record, frozen)]
pub struct RenderedFile;

#[pymethods]
impl RenderedFile {
    /// The content as text (every rendered file is UTF-8).
    #[getter]
    fn text(slf: &Bound<'_, Self>) -> PyResult<String> {
        let content = fields(slf.as_any())?.get_item("content")?.ok_or_else(|| PyValueError::new_err("no content"))?;
        String::from_utf8(content.cast::<PyBytes>()?.as_bytes().to_vec())
            .map_err(|e| PyValueError::new_err(format!("{}: not UTF-8: {e}", slf.getattr("path").map(|p| p.to_string()).unwrap_or_default())))
    }
    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let f = fields(slf.as_any())?;
        let get = |k: &str| f.get_item(k).ok().flatten().ok_or_else(|| PyValueError::new_err(k.to_string()));
        let (path, mode, owner): (String, u32, String) = (get("path")?.extract()?, get("mode")?.extract()?, get("owner")?.extract()?);
        Ok(format!("RenderedFile({path:?}, mode=0o{mode:o}, owner={owner:?}, {} bytes)", get("content")?.len()?))
    }
}

/// One command of a host, as an argv list, with an optional ``check``: when
/// the check exits 0 the command is skipped. ``description`` (for people),
/// ``phase`` (when it runs: ``host-prep``, ``install``, ``etcd-healthy``
/// or ``flannel-config``; starting units is the plan's), ``argv``, ``check`` (None: always run), ``os`` (only on
/// this OS family, ``rhel`` or ``debian``; None: on all).
#[pyclass(module = "k8s_bootstrap", extends = Record, frozen)]
pub struct Command {
    inner: core::Command,
}

#[pymethods]
impl Command {
    /// The command as one shell line, every argument quoted, with its check
    /// and OS guard: ``if ! CHECK; then ARGV; fi``.
    fn to_shell(&self) -> String {
        self.inner.to_shell()
    }
    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let c = &slf.get().inner;
        Ok(format!("Command({:?}, phase={})", c.to_shell(), slf.getattr("phase")?.repr()?))
    }
}

/// A core command as a `Command`.
pub fn command<'py>(py: Python<'py>, c: core::Command) -> PyResult<Bound<'py, PyAny>> {
    let f = to_py(py, &c)?.cast_into::<PyDict>()?;
    records::new(py, Command { inner: c }, f)
}

/// A core host certificate as a `HostCert`: the id as its file stem, and
/// the bundle's file names.
fn host_cert<'py>(py: Python<'py>, c: &core::HostCert) -> PyResult<Bound<'py, PyAny>> {
    let f = to_py(py, c)?.cast_into::<PyDict>()?;
    f.set_item("id", c.id.stem())?;
    f.set_item("cert_file", c.id.cert_file())?;
    f.set_item("key_file", c.key_path.as_ref().map(|_| c.id.key_file()))?;
    records::new(py, HostCert, f)
}

/// Everything one host gets: a mapping of absolute path to ``RenderedFile``,
/// plus ``commands`` (in order) and ``certs`` (to install before the commands run).
#[pyclass(module = "k8s_bootstrap", extends = Mapping, frozen)]
pub struct HostRender {
    // Made on first access: most scripts read a few hosts' commands only.
    commands: PyOnceLock<Py<PyList>>,
    certs: PyOnceLock<Py<PyList>>,
    inner: core::HostRender,
}

impl HostRender {
    pub fn new(py: Python<'_>, inner: core::HostRender) -> PyResult<Bound<'_, HostRender>> {
        let files = PyDict::new(py);
        for f in &inner.files {
            let d = to_py(py, f)?.cast_into::<PyDict>()?;
            d.set_item("content", d.get_item("contents")?)?;
            d.del_item("contents")?;
            files.set_item(&f.path, records::new(py, RenderedFile, d)?)?;
        }
        let this = HostRender { commands: PyOnceLock::new(), certs: PyOnceLock::new(), inner };
        Bound::new(py, PyClassInitializer::from(Mapping { items: files.unbind() }).add_subclass(this))
    }
}

#[pymethods]
impl HostRender {
    /// The files, by absolute path (a new dict each time).
    #[getter]
    fn files<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyDict>> {
        slf.as_super().get().items.bind(slf.py()).copy()
    }
    /// The commands, in order (sorted by phase, stable within a phase).
    #[getter]
    fn commands<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let all = self.commands.get_or_try_init(py, || {
            let cmds = self.inner.commands.iter().map(|c| command(py, c.clone())).collect::<PyResult<Vec<_>>>()?;
            Ok::<_, PyErr>(PyList::new(py, cmds)?.unbind())
        })?;
        PyList::new(py, all.bind(py).iter())
    }
    /// The certificates this host needs.
    #[getter]
    fn certs<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let all = self.certs.get_or_try_init(py, || {
            let certs = self.inner.certs.iter().map(|c| host_cert(py, c)).collect::<PyResult<Vec<_>>>()?;
            Ok::<_, PyErr>(PyList::new(py, certs)?.unbind())
        })?;
        PyList::new(py, all.bind(py).iter())
    }
    fn __repr__(&self) -> String {
        let h = &self.inner;
        format!("HostRender({} files, {} commands, {} certs)", h.files.len(), h.commands.len(), h.certs.len())
    }
}

/// The render of a whole cluster: a mapping of host name to ``HostRender``
/// (each a mapping of path to ``RenderedFile``), plus the ``warnings`` of
/// validation.
#[pyclass(module = "k8s_bootstrap", extends = Mapping, frozen)]
pub struct RenderedCluster {
    warnings: Py<PyAny>,
    count: (usize, usize),
}

impl RenderedCluster {
    pub fn new(py: Python<'_>, r: core::RenderedCluster) -> PyResult<Bound<'_, RenderedCluster>> {
        let hosts = PyDict::new(py);
        let count = (r.hosts.len(), r.warnings.len());
        let warnings = to_py(py, &r.warnings)?.unbind();
        for (name, hr) in r.hosts {
            hosts.set_item(&name, HostRender::new(py, hr)?)?;
        }
        Bound::new(py, PyClassInitializer::from(Mapping { items: hosts.unbind() }).add_subclass(RenderedCluster { warnings, count }))
    }
}

#[pymethods]
impl RenderedCluster {
    /// The warnings of the spec (risky but working settings).
    #[getter]
    fn warnings<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.warnings.bind(py).call_method0("copy")
    }
    fn __repr__(&self) -> String {
        format!("RenderedCluster({} hosts, {} warnings)", self.count.0, self.count.1)
    }
}
