//! What a render returns: `RenderedCluster` (host -> `HostRender`),
//! `HostRender` (path -> `RenderedFile`, plus commands and certs),
//! `RenderedFile`, `Command` and `HostCert`.

use k8s_bootstrap_core::render as core;
use pyo3::exceptions::PyKeyError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyIterator, PyList};

use crate::spec::{Problem, problems};

/// One file to put on a host: ``path``, ``content`` (bytes), ``mode`` (Unix
/// permission bits) and ``owner`` (``user:group``).
#[pyclass(module = "k8s_bootstrap", frozen)]
pub struct RenderedFile {
    /// Absolute path on the host.
    #[pyo3(get)]
    path: String,
    /// The bytes.
    #[pyo3(get)]
    content: Py<PyBytes>,
    /// Unix permission bits (0o644, 0o755 for scripts, 0o600 for secrets).
    #[pyo3(get)]
    mode: u32,
    /// ``user:group`` that owns it.
    #[pyo3(get)]
    owner: String,
}

#[pymethods]
impl RenderedFile {
    /// The content as text (every rendered file is UTF-8).
    #[getter]
    fn text(&self, py: Python<'_>) -> PyResult<String> {
        std::str::from_utf8(self.content.bind(py).as_bytes())
            .map(str::to_owned)
            .map_err(|e| pyo3::exceptions::PyValueError::new_err(format!("{}: not UTF-8: {e}", self.path)))
    }
    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "RenderedFile({:?}, mode=0o{:o}, owner={:?}, {} bytes)",
            self.path,
            self.mode,
            self.owner,
            self.content.bind(py).as_bytes().len()
        )
    }
}

/// One command of a host, as an argv list, with an optional ``check``: when
/// the check exits 0 the command is skipped.
#[pyclass(module = "k8s_bootstrap", frozen)]
pub struct Command {
    inner: core::Command,
}

#[pymethods]
impl Command {
    /// What it does, for people.
    #[getter]
    fn description(&self) -> &str {
        &self.inner.description
    }
    /// When it runs: ``host-prep``, ``install``, ``etcd-start``,
    /// ``etcd-healthy``, ``flannel-config``, ``flannel-start`` or ``docker-start``.
    #[getter]
    fn phase(&self) -> String {
        serde_json::to_value(self.inner.phase).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
    }
    /// The command to run.
    #[getter]
    fn argv(&self) -> Vec<String> {
        self.inner.argv.clone()
    }
    /// Skip ``argv`` when this exits 0; None: always run.
    #[getter]
    fn check(&self) -> Option<Vec<String>> {
        self.inner.check.clone()
    }
    /// Only on this OS family (``rhel`` or ``debian``); None: on all.
    #[getter]
    fn os(&self) -> Option<&'static str> {
        self.inner.os.map(|o| o.as_str())
    }
    /// The command as one shell line, every argument quoted, with its check
    /// and OS guard: ``if ! CHECK; then ARGV; fi``.
    fn to_shell(&self) -> String {
        self.inner.to_shell()
    }
    fn __repr__(&self) -> String {
        format!("Command({:?}, phase={:?})", self.inner.to_shell(), self.phase())
    }
}

impl Command {
    pub(crate) fn new(inner: core::Command) -> Self {
        Command { inner }
    }
}

/// A certificate a host needs (from the PKI bundle) and where it goes.
#[pyclass(module = "k8s_bootstrap", frozen)]
pub struct HostCert {
    inner: core::HostCert,
}

#[pymethods]
impl HostCert {
    /// Which certificate: the stem of its bundle file names (``ca``,
    /// ``etcd01-server``, ``etcd01-peer``, ``admin``, ``flanneld``, ``server``).
    #[getter]
    fn id(&self) -> String {
        self.inner.id.stem()
    }
    /// The certificate's file name in the bundle (``etcd01-server.pem``).
    #[getter]
    fn cert_file(&self) -> String {
        self.inner.id.cert_file()
    }
    /// The key's file name in the bundle (``etcd01-server-key.pem``); None for the CA.
    #[getter]
    fn key_file(&self) -> Option<String> {
        self.inner.key_path.as_ref().map(|_| self.inner.id.key_file())
    }
    /// Absolute path of the certificate on the host.
    #[getter]
    fn cert_path(&self) -> &str {
        &self.inner.cert_path
    }
    /// Absolute path of the private key on the host; None for the CA (its key
    /// never leaves the workstation).
    #[getter]
    fn key_path(&self) -> Option<&str> {
        self.inner.key_path.as_deref()
    }
    fn __repr__(&self) -> String {
        format!(
            "HostCert({:?}, cert_path={:?}, key_path={})",
            self.inner.id.stem(),
            self.inner.cert_path,
            crate::convert::opt_repr(self.inner.key_path.as_deref())
        )
    }
}

/// Everything one host gets: a mapping of absolute path to ``RenderedFile``,
/// plus ``commands`` (in order) and ``certs`` (to install before the commands run).
#[pyclass(module = "k8s_bootstrap", frozen, mapping)]
pub struct HostRender {
    files: Py<PyDict>,
    // Made on first access: most scripts read a few hosts' commands only.
    commands: PyOnceLock<Py<PyList>>,
    certs: PyOnceLock<Py<PyList>>,
    inner: core::HostRender,
}

impl HostRender {
    pub(crate) fn new(py: Python<'_>, inner: core::HostRender) -> PyResult<Self> {
        let files = PyDict::new(py);
        for f in &inner.files {
            let rf = RenderedFile {
                path: f.path.clone(),
                content: PyBytes::new(py, &f.contents).unbind(),
                mode: f.mode,
                owner: f.owner.clone(),
            };
            files.set_item(&f.path, Bound::new(py, rf)?)?;
        }
        Ok(HostRender { files: files.unbind(), commands: PyOnceLock::new(), certs: PyOnceLock::new(), inner })
    }
}

#[pymethods]
impl HostRender {
    /// The files, by absolute path (a new dict each time).
    #[getter]
    fn files<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.files.bind(py).copy()
    }
    /// The commands, in order (sorted by phase, stable within a phase).
    #[getter]
    fn commands<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let all = self.commands.get_or_try_init(py, || {
            let l = PyList::empty(py);
            for c in &self.inner.commands {
                l.append(Bound::new(py, Command::new(c.clone()))?)?;
            }
            Ok::<_, PyErr>(l.unbind())
        })?;
        PyList::new(py, all.bind(py).iter())
    }
    /// The certificates this host needs.
    #[getter]
    fn certs<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let all = self.certs.get_or_try_init(py, || {
            let l = PyList::empty(py);
            for c in &self.inner.certs {
                l.append(Bound::new(py, HostCert { inner: c.clone() })?)?;
            }
            Ok::<_, PyErr>(l.unbind())
        })?;
        PyList::new(py, all.bind(py).iter())
    }
    /// The commands as a POSIX sh script a person can read (what the Rust
    /// renderer writes as ``commands.sh``).
    fn commands_sh(&self, host: &str) -> String {
        self.inner.commands_sh(host)
    }
    fn __getitem__<'py>(&self, py: Python<'py>, path: &str) -> PyResult<Bound<'py, PyAny>> {
        self.files.bind(py).get_item(path)?.ok_or_else(|| PyKeyError::new_err(path.to_owned()))
    }
    fn __len__(&self, py: Python<'_>) -> usize {
        self.files.bind(py).len()
    }
    fn __contains__(&self, py: Python<'_>, path: &Bound<'_, PyAny>) -> PyResult<bool> {
        self.files.bind(py).contains(path)
    }
    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyIterator>> {
        self.files.bind(py).keys().try_iter()
    }
    /// The paths.
    fn keys<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.files.bind(py).call_method0("keys")
    }
    /// The files.
    fn values<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.files.bind(py).call_method0("values")
    }
    /// ``(path, RenderedFile)`` pairs.
    fn items<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.files.bind(py).call_method0("items")
    }
    /// The file at ``path``, or ``default``.
    #[pyo3(signature = (path, default=None))]
    fn get<'py>(&self, py: Python<'py>, path: &Bound<'py, PyAny>, default: Option<Bound<'py, PyAny>>) -> PyResult<Bound<'py, PyAny>> {
        Ok(self.files.bind(py).get_item(path)?.or(default).unwrap_or_else(|| py.None().into_bound(py)))
    }
    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "HostRender({} files, {} commands, {} certs)",
            self.files.bind(py).len(),
            self.inner.commands.len(),
            self.inner.certs.len()
        )
    }
}

/// The render of a whole cluster: a mapping of host name to ``HostRender``
/// (each a mapping of path to ``RenderedFile``), plus the ``warnings`` of
/// validation.
#[pyclass(module = "k8s_bootstrap", frozen, mapping)]
pub struct RenderedCluster {
    hosts: Py<PyDict>,
    warnings: Vec<Problem>,
}

impl RenderedCluster {
    pub(crate) fn new(py: Python<'_>, r: core::RenderedCluster) -> PyResult<Self> {
        let hosts = PyDict::new(py);
        for (name, hr) in r.hosts {
            hosts.set_item(&name, Bound::new(py, HostRender::new(py, hr)?)?)?;
        }
        Ok(RenderedCluster { hosts: hosts.unbind(), warnings: problems(r.warnings) })
    }
}

#[pymethods]
impl RenderedCluster {
    /// The warnings of the spec (risky but working settings).
    #[getter]
    fn warnings(&self) -> Vec<Problem> {
        self.warnings.clone()
    }
    fn __getitem__<'py>(&self, py: Python<'py>, host: &str) -> PyResult<Bound<'py, PyAny>> {
        self.hosts.bind(py).get_item(host)?.ok_or_else(|| PyKeyError::new_err(host.to_owned()))
    }
    fn __len__(&self, py: Python<'_>) -> usize {
        self.hosts.bind(py).len()
    }
    fn __contains__(&self, py: Python<'_>, host: &Bound<'_, PyAny>) -> PyResult<bool> {
        self.hosts.bind(py).contains(host)
    }
    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyIterator>> {
        self.hosts.bind(py).keys().try_iter()
    }
    /// The host names (sorted).
    fn keys<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.hosts.bind(py).call_method0("keys")
    }
    /// The hosts' renders.
    fn values<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.hosts.bind(py).call_method0("values")
    }
    /// ``(host, HostRender)`` pairs.
    fn items<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.hosts.bind(py).call_method0("items")
    }
    /// The render of ``host``, or ``default``.
    #[pyo3(signature = (host, default=None))]
    fn get<'py>(&self, py: Python<'py>, host: &Bound<'py, PyAny>, default: Option<Bound<'py, PyAny>>) -> PyResult<Bound<'py, PyAny>> {
        Ok(self.hosts.bind(py).get_item(host)?.or(default).unwrap_or_else(|| py.None().into_bound(py)))
    }
    fn __repr__(&self, py: Python<'_>) -> String {
        format!("RenderedCluster({} hosts, {} warnings)", self.hosts.bind(py).len(), self.warnings.len())
    }
}
