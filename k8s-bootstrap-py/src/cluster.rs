//! `Cluster`: plan, apply, status and reset over SSH, blocking (the GIL
//! released while Rust works) and asyncio.
//!
//! Each call does what the CLI's subcommand does: `apply::open` (the PKI
//! folder reconciled, release tarballs fetched, every host connected), then
//! the engine's `plan`/`apply`/`status`/`reset`. The options are the CLI's,
//! with the same defaults; this file only translates them and the results.
//!
//! Blocking calls run on pyo3-async-runtimes' tokio runtime under
//! `py.detach`, waking every 100 ms to let Python handle signals (Ctrl-C
//! drops the run, like the CLI's). The `*_async` methods return a coroutine
//! that, once awaited, hands the same future to asyncio with `future_into_py`.

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_bootstrap_core::apply::{self as core, ApplyOptions, ConnectOptions, Engine, OpenOptions};
use k8s_bootstrap_core::spec as core_spec;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

use crate::error::{Error, invalid_arg};
use crate::report::{ClusterStatus, PyProgress, Report};
use crate::spec::{ClusterSpec, Problem, problems};

/// A cluster spec bound to the control machine's settings: where its PKI
/// lives and how to reach its hosts over SSH. ``plan``, ``apply``,
/// ``status`` and ``reset`` act on the hosts like the ``k8s-bootstrap``
/// command of the same name, with the same options and defaults; each has an
/// ``*_async`` variant for asyncio.
///
/// ``Cluster(spec, *, spec_path=None, pki_dir=None, known_hosts=None,
/// accept_new_host_keys=False, connect_timeout=10.0, progress=None)``:
/// the certificates live in ``pki_dir``, by default ``pki/`` beside
/// ``spec_path`` (one of both is required; ``Cluster.from_file`` sets
/// ``spec_path``). ``known_hosts`` defaults to ``~/.ssh/known_hosts``;
/// ``accept_new_host_keys`` trusts unknown host keys on first use and
/// records them (changed keys stay errors); ``connect_timeout`` is in
/// seconds. ``progress``, if given, is called with each event of a run as
/// a dict (``{"event": "changed", "host": ..., "stage": ..., "what": ...}``;
/// events ``stage-started``, ``changed``, ``failed``, ``note``,
/// ``stage-done``), from the engine's threads, holding the GIL.
///
/// The spec is validated here (``ValidationError``); its warnings are in
/// ``warnings``. Hosts that cannot be reached are not exceptions: they are
/// failed hosts in the report (``Report.raise_for_failure()`` raises the
/// mapped ``TransportError`` subclass). Errors before any host is acted on
/// raise: ``PkiError``, ``ValidationError`` (bad arguments, release
/// tarballs), ``TransportError`` (the PKI folder cannot be written).
#[pyclass(module = "k8s_bootstrap", frozen)]
pub struct Cluster {
    spec: core_spec::ClusterSpec,
    warnings: Vec<core_spec::Problem>,
    pki_dir: PathBuf,
    connect: ConnectOptions,
    progress: Option<Py<PyAny>>,
}

/// What the engine is asked to do.
enum Op {
    Plan(ApplyOptions),
    Apply(ApplyOptions),
    Status,
    Reset(ApplyOptions, bool),
}

/// What it returns.
enum Outcome {
    Report(Report),
    Status(ClusterStatus),
}

impl<'py> IntoPyObject<'py> for Outcome {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;
    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match self {
            Outcome::Report(r) => Ok(Bound::new(py, r)?.into_any()),
            Outcome::Status(s) => Ok(Bound::new(py, s)?.into_any()),
        }
    }
}

/// Everything a run needs, owned, so that its future is `'static + Send`.
struct Run {
    spec: core_spec::ClusterSpec,
    open: OpenOptions,
    progress: Option<Arc<dyn core::Progress>>,
    op: Op,
}

impl Run {
    async fn go(self) -> Result<Outcome, Error> {
        let opened = core::open(&self.spec, &self.open).await?;
        let mut engine: Engine = opened.engine;
        if let Some(p) = self.progress {
            engine = engine.with_progress(p);
        }
        let w = opened.warnings;
        Ok(match &self.op {
            Op::Plan(o) => Outcome::Report(Report::new(engine.plan(o).await, w)),
            Op::Apply(o) => Outcome::Report(Report::new(engine.apply(o).await, w)),
            Op::Reset(o, purge) => Outcome::Report(Report::new(engine.reset(o, *purge).await, w)),
            Op::Status => Outcome::Status(ClusterStatus::new(engine.status().await, w)),
        })
    }
}

/// Runs `fut` on the shared tokio runtime with the GIL released, checking
/// for Python signals (KeyboardInterrupt) every 100 ms; a signal drops the run.
fn block_on<T: Send>(py: Python<'_>, fut: impl Future<Output = Result<T, Error>> + Send) -> PyResult<T> {
    let rt = pyo3_async_runtimes::tokio::get_runtime();
    let r: PyResult<Result<T, Error>> = py.detach(|| {
        rt.block_on(async {
            tokio::pin!(fut);
            loop {
                tokio::select! {
                    out = &mut fut => return Ok(out),
                    () = tokio::time::sleep(Duration::from_millis(100)) => {
                        Python::attach(|py| py.check_signals())?;
                    }
                }
            }
        })
    });
    Ok(r??)
}

impl Cluster {
    fn run(&self, py: Python<'_>, op: Op, dry_run: bool) -> Run {
        let mut open = OpenOptions::new(&self.pki_dir);
        open.connect = self.connect.clone();
        open.dry_run = dry_run;
        let progress = self
            .progress
            .as_ref()
            .map(|cb| Arc::new(PyProgress { callback: cb.clone_ref(py) }) as Arc<dyn core::Progress>);
        Run { spec: self.spec.clone(), open, progress, op }
    }

    fn apply_options(&self, concurrency: usize, only: Option<Vec<String>>, phase: Option<&str>) -> PyResult<ApplyOptions> {
        ApplyOptions { concurrency, ..ApplyOptions::default() }
            .limit(&self.spec, only.as_deref(), phase)
            .map_err(|p| invalid_arg(&p.path, &p.value, p.rule))
    }

    fn blocking(&self, py: Python<'_>, op: Op, dry_run: bool) -> PyResult<Outcome> {
        let run = self.run(py, op, dry_run);
        block_on(py, run.go())
    }

    /// A coroutine that runs `op` when awaited: `wrap(start)` of
    /// [`ASYNC_WRAP`], so that `asyncio.run(cluster.apply_async())` works as
    /// well as `await` (`future_into_py` alone needs a loop already running).
    fn future<'py>(&self, py: Python<'py>, op: Op, dry_run: bool) -> PyResult<Bound<'py, PyAny>> {
        let start = Start { run: Mutex::new(Some(self.run(py, op, dry_run))) };
        ASYNC_WRAP
            .get_or_try_init(py, || {
                let m = PyModule::from_code(py, ASYNC_WRAP_SRC, c"k8s_bootstrap_async.py", c"k8s_bootstrap._async")?;
                Ok::<_, PyErr>(m.getattr("wrap")?.unbind())
            })?
            .bind(py)
            .call1((start,))
    }
}

const ASYNC_WRAP_SRC: &std::ffi::CStr = c"async def wrap(start):\n    return await start()\n";
static ASYNC_WRAP: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// Starts a run on the tokio runtime when called from a running asyncio
/// loop; called once, by the coroutine of `Cluster::future`.
#[pyclass(module = "k8s_bootstrap", name = "_AsyncStart", frozen)]
struct Start {
    run: Mutex<Option<Run>>,
}

#[pymethods]
impl Start {
    fn __call__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let run = self.run.lock().ok().and_then(|mut r| r.take()).ok_or_else(|| PyRuntimeError::new_err("already started"))?;
        pyo3_async_runtimes::tokio::future_into_py(py, async move { run.go().await.map_err(PyErr::from) })
    }
}

fn seconds(name: &str, v: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(v)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| PyValueError::new_err(format!("{name} must be a positive number of seconds, got {v}")))
}

#[pymethods]
impl Cluster {
    #[new]
    #[pyo3(signature = (spec, *, spec_path = None, pki_dir = None, known_hosts = None, accept_new_host_keys = false, connect_timeout = 10.0, progress = None))]
    fn new(
        spec: &ClusterSpec,
        spec_path: Option<PathBuf>,
        pki_dir: Option<PathBuf>,
        known_hosts: Option<PathBuf>,
        accept_new_host_keys: bool,
        connect_timeout: f64,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<Self> {
        let opts = match (&pki_dir, &spec_path) {
            (Some(d), _) => OpenOptions::new(d),
            (None, Some(s)) => OpenOptions::beside_spec(s),
            (None, None) => {
                return Err(PyValueError::new_err(
                    "Cluster needs pki_dir (the folder of the cluster's certificates) or spec_path (pki/ beside it)",
                ));
            }
        };
        let warnings = spec.inner.validate().map_err(Error::from)?;
        let connect = ConnectOptions {
            known_hosts,
            accept_new_host_keys,
            connect_timeout: Some(seconds("connect_timeout", connect_timeout)?),
            ..ConnectOptions::default()
        };
        Ok(Cluster { spec: spec.inner.clone(), warnings, pki_dir: opts.pki_dir, connect, progress })
    }

    /// Reads the spec at ``path`` and binds it with its certificates in
    /// ``pki/`` beside it (or ``pki_dir``); the other options as for ``Cluster``.
    #[classmethod]
    #[pyo3(signature = (path, *, pki_dir = None, known_hosts = None, accept_new_host_keys = false, connect_timeout = 10.0, progress = None))]
    fn from_file(
        cls: &Bound<'_, PyType>,
        path: PathBuf,
        pki_dir: Option<PathBuf>,
        known_hosts: Option<PathBuf>,
        accept_new_host_keys: bool,
        connect_timeout: f64,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<Self> {
        let text = std::fs::read_to_string(&path).map_err(|e| crate::convert::os_error(cls.py(), e, &path))?;
        let spec = ClusterSpec { inner: core_spec::ClusterSpec::from_yaml_str(&text).map_err(Error::from)? };
        Cluster::new(&spec, Some(path), pki_dir, known_hosts, accept_new_host_keys, connect_timeout, progress)
    }

    /// The spec.
    #[getter]
    fn spec(&self) -> ClusterSpec {
        ClusterSpec { inner: self.spec.clone() }
    }

    /// The spec's warnings (risky but working settings).
    #[getter]
    fn warnings(&self) -> Vec<Problem> {
        problems(self.warnings.clone())
    }

    /// The folder of the cluster's certificates on this machine (absolute).
    #[getter]
    fn pki_dir(&self) -> String {
        self.pki_dir.display().to_string()
    }

    /// What would change on the hosts, with unified diffs (private keys
    /// redacted); changes nothing, not even the PKI folder. Options as for
    /// ``apply``. Returns a ``Report`` with ``dry_run`` true.
    #[pyo3(signature = (*, concurrency = 16, only = None, phase = None))]
    fn plan(&self, py: Python<'_>, concurrency: usize, only: Option<Vec<String>>, phase: Option<&str>) -> PyResult<Report> {
        let o = self.apply_options(concurrency, only, phase)?;
        match self.blocking(py, Op::Plan(o), true)? {
            Outcome::Report(r) => Ok(r),
            Outcome::Status(_) => unreachable!("plan returns a report"),
        }
    }

    /// Brings the cluster to the spec, stage by stage (host-prep, files,
    /// install, etcd, flannel-config, flanneld, docker), hosts in parallel
    /// within a stage (at most ``concurrency`` at once). ``dry_run``: same
    /// as ``plan``. ``only``: these host names only (etcd's health gate
    /// still checks the whole cluster). ``phase``: stop after this stage.
    /// Writes missing certificates into ``pki_dir`` first. A second apply of
    /// the same spec changes nothing. Returns a ``Report``; failed hosts are
    /// in it (see ``Report.raise_for_failure``).
    #[pyo3(signature = (*, dry_run = false, concurrency = 16, only = None, phase = None))]
    fn apply(
        &self,
        py: Python<'_>,
        dry_run: bool,
        concurrency: usize,
        only: Option<Vec<String>>,
        phase: Option<&str>,
    ) -> PyResult<Report> {
        let o = self.apply_options(concurrency, only, phase)?;
        let op = if dry_run { Op::Plan(o) } else { Op::Apply(o) };
        match self.blocking(py, op, dry_run)? {
            Outcome::Report(r) => Ok(r),
            Outcome::Status(_) => unreachable!("apply returns a report"),
        }
    }

    /// The cluster's state: units per host, etcd's endpoint health and
    /// members over TLS, flannel's config read back from etcd, docker0
    /// against flannel's subnet. Changes nothing. Returns a ``ClusterStatus``.
    fn status(&self, py: Python<'_>) -> PyResult<ClusterStatus> {
        match self.blocking(py, Op::Status, true)? {
            Outcome::Status(s) => Ok(s),
            Outcome::Report(_) => unreachable!("status returns a status"),
        }
    }

    /// Stops and removes what apply installed (units, files, certificates
    /// on the hosts); etcd's data and flannel's runtime files only with
    /// ``purge``. ``only``: these host names only. Returns a ``Report``.
    #[pyo3(signature = (*, purge = false, only = None))]
    fn reset(&self, py: Python<'_>, purge: bool, only: Option<Vec<String>>) -> PyResult<Report> {
        let o = self.apply_options(ApplyOptions::default().concurrency, only, None)?;
        match self.blocking(py, Op::Reset(o, purge), true)? {
            Outcome::Report(r) => Ok(r),
            Outcome::Status(_) => unreachable!("reset returns a report"),
        }
    }

    /// ``plan`` for asyncio: a coroutine (``await cluster.plan_async(...)``,
    /// ``asyncio.run(cluster.plan_async(...))``). Arguments are checked at the call.
    #[pyo3(signature = (*, concurrency = 16, only = None, phase = None))]
    fn plan_async<'py>(
        &self,
        py: Python<'py>,
        concurrency: usize,
        only: Option<Vec<String>>,
        phase: Option<&str>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let o = self.apply_options(concurrency, only, phase)?;
        self.future(py, Op::Plan(o), true)
    }

    /// ``apply`` for asyncio: a coroutine (``await cluster.apply_async(...)``,
    /// ``asyncio.run(cluster.apply_async(...))``). Arguments are checked at
    /// the call; cancelling the task drops the run.
    #[pyo3(signature = (*, dry_run = false, concurrency = 16, only = None, phase = None))]
    fn apply_async<'py>(
        &self,
        py: Python<'py>,
        dry_run: bool,
        concurrency: usize,
        only: Option<Vec<String>>,
        phase: Option<&str>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let o = self.apply_options(concurrency, only, phase)?;
        let op = if dry_run { Op::Plan(o) } else { Op::Apply(o) };
        self.future(py, op, dry_run)
    }

    /// ``status`` for asyncio: a coroutine (``await cluster.status_async()``).
    fn status_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.future(py, Op::Status, true)
    }

    /// ``reset`` for asyncio: a coroutine (``await cluster.reset_async(...)``,
    /// ``asyncio.run(cluster.reset_async(...))``). Arguments are checked at the call.
    #[pyo3(signature = (*, purge = false, only = None))]
    fn reset_async<'py>(&self, py: Python<'py>, purge: bool, only: Option<Vec<String>>) -> PyResult<Bound<'py, PyAny>> {
        let o = self.apply_options(ApplyOptions::default().concurrency, only, None)?;
        self.future(py, Op::Reset(o, purge), true)
    }

    fn __repr__(&self) -> String {
        format!(
            "Cluster(hosts={:?}, pki_dir={:?})",
            self.spec.hosts.iter().map(|h| h.name.as_str()).collect::<Vec<_>>(),
            self.pki_dir.display().to_string()
        )
    }
}
