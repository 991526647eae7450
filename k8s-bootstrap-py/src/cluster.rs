//! `Cluster`: plan, apply, status, reset and etcd membership changes over
//! SSH, blocking (the GIL released while Rust works) and asyncio.
//!
//! Each call does what the CLI's subcommand does, through the same core
//! calls (`apply::open` then the engine, or `apply::change_member`), with
//! the core's defaults and rules; this file only translates the arguments
//! and the results.
//!
//! Blocking calls run on pyo3-async-runtimes' tokio runtime under
//! `py.detach`, waking every 100 ms to let Python handle signals (Ctrl-C
//! drops the run, like the CLI's). The `*_async` methods return a coroutine
//! that, once awaited, hands the same future to asyncio with `future_into_py`.

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_bootstrap_core::apply::{self as core, ApplyOptions, ConnectOptions, OpenOptions};
use k8s_bootstrap_core::spec::{self as core_spec, HostArg, MemberChange};
use k8s_bootstrap_core::transport::LocalTransport;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyCFunction, PyDict, PyType};
use serde_json::json;

use crate::convert::{to_plain, to_py};
use crate::error::Error;
use crate::records::{self, fields};
use crate::spec::ClusterSpec;

/// A cluster spec bound to the control machine's settings: where its PKI
/// lives and how to reach its hosts over SSH. ``plan``, ``apply``,
/// ``status``, ``reset``, ``add_member`` and ``remove_member`` act on the
/// hosts like the ``k8s-bootstrap`` command of the same name, with the same
/// options and defaults; each has an ``*_async`` variant for asyncio.
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
    spec_path: Option<PathBuf>,
    pki_dir: PathBuf,
    connect: ConnectOptions,
    progress: Option<Py<PyAny>>,
}

/// What the engine is asked to do.
enum Op {
    /// With a file: the plan saved there too.
    Plan(ApplyOptions, Option<PathBuf>),
    Apply(ApplyOptions),
    /// A plan saved by ``plan(out=...)``.
    ApplySaved(PathBuf, ApplyOptions),
    Status,
    Reset(ApplyOptions, bool),
    Member(Box<MemberChange>, ApplyOptions),
    Snapshot(PathBuf),
    Restore(PathBuf, ApplyOptions),
}

/// What it returns, with the warnings met while getting ready.
enum Outcome {
    Report(core::Report, Vec<String>),
    Status(core::ClusterStatus, Vec<String>),
    Member(Box<MemberChange>, core::MemberReports),
    Snapshot(core::SnapshotInfo),
    Restore(core::RestoreReport),
}

/// A core report as a `Report`, with what Python adds: its ``warnings``,
/// ``ok``, ``change_count`` and ``failures`` (each with its ``host``), and
/// each host's ``ok``.
fn report<'py>(py: Python<'py>, r: &core::Report, warnings: &[String]) -> PyResult<Bound<'py, PyAny>> {
    let rec = to_py(py, r)?;
    let f = fields(&rec)?;
    let hosts = fields_item(&f, "hosts")?;
    let mut failures = Vec::new();
    for (name, h) in &r.hosts {
        let host = fields_item(hosts.cast::<PyDict>()?, name)?;
        records::set_json(&host, to_plain(py, h)?)?;
        let hf = fields(&host)?;
        hf.set_item("ok", h.failed.is_none())?;
        if h.failed.is_some() {
            let failed = fields_item(&hf, "failed")?;
            fields(&failed)?.set_item("host", name)?;
            failures.push(failed);
        }
    }
    f.set_item("warnings", warnings)?;
    f.set_item("ok", r.ok())?;
    f.set_item("change_count", r.change_count())?;
    f.set_item("failures", failures)?;
    records::set_json(&rec, to_plain(py, r)?)?;
    Ok(rec)
}

/// A core value as its data class, with its JSON form for ``to_dict``.
fn record<'py, T: serde::Serialize>(py: Python<'py>, v: &T) -> PyResult<Bound<'py, PyAny>> {
    let rec = to_py(py, v)?;
    records::set_json(&rec, to_plain(py, v)?)?;
    Ok(rec)
}

fn fields_item<'py>(d: &Bound<'py, PyDict>, k: &str) -> PyResult<Bound<'py, PyAny>> {
    d.get_item(k)?.ok_or_else(|| PyRuntimeError::new_err(format!("no field {k}")))
}

impl<'py> IntoPyObject<'py> for Outcome {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;
    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match self {
            Outcome::Report(r, w) => report(py, &r, &w),
            Outcome::Status(s, w) => {
                let rec = to_py(py, &s)?;
                fields(&rec)?.set_item("warnings", w)?;
                records::set_json(&rec, to_plain(py, &s)?)?;
                Ok(rec)
            }
            Outcome::Snapshot(s) => record(py, &s),
            Outcome::Restore(r) => record(py, &r),
            Outcome::Member(c, r) => {
                let d = PyDict::new(py);
                d.set_item("name", &c.name)?;
                d.set_item("action", to_py(py, &c.action)?)?;
                d.set_item("spec", ClusterSpec { inner: c.after.clone() })?;
                d.set_item("yaml", &c.yaml)?;
                d.set_item("apply", report(py, &r.apply, &r.warnings)?)?;
                d.set_item("cleanup", r.cleanup.as_ref().map(|c| report(py, c, &r.warnings)).transpose()?)?;
                d.set_item("ok", r.ok())?;
                records::new(py, records::MemberChange, d)
            }
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
        let op = match self.op {
            Op::Member(change, o) => {
                let reports = core::change_member(&change, &self.open, &o, self.progress).await?;
                return Ok(Outcome::Member(change, reports));
            }
            op => op,
        };
        let opened = core::open(&self.spec, &self.open).await?;
        let engine = match self.progress {
            Some(p) => opened.engine.with_progress(p),
            None => opened.engine,
        };
        let w = opened.warnings;
        Ok(match op {
            Op::Plan(o, None) => Outcome::Report(engine.plan(&o).await, w),
            Op::Plan(o, Some(out)) => {
                let (report, saved) = engine.plan_saved(&o).await;
                std::fs::write(&out, serde_json::to_vec_pretty(&saved)?)?;
                Outcome::Report(report, w)
            }
            Op::ApplySaved(file, o) => {
                let saved: core::SavedPlan = serde_json::from_slice(&std::fs::read(&file)?)
                    .map_err(|e| crate::error::invalid("plan", file.display(), format!("not a plan saved by plan(out=...): {e}")))?;
                Outcome::Report(engine.apply_saved(&saved, &o).await, w)
            }
            Op::Apply(o) => Outcome::Report(engine.apply(&o).await, w),
            Op::Reset(o, purge) => Outcome::Report(engine.reset(&o, purge).await, w),
            Op::Snapshot(out) => Outcome::Snapshot(engine.snapshot(&LocalTransport::new(), &out.to_string_lossy()).await?),
            Op::Restore(from, o) => Outcome::Restore(engine.restore(&from.to_string_lossy(), &o).await?),
            Op::Status | Op::Member(..) => Outcome::Status(engine.status().await, w),
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

/// Apply options from the keywords, checked by the core against `spec`.
fn options(spec: &core_spec::ClusterSpec, concurrency: usize, only: Option<Vec<String>>, phase: Option<&str>, break_lock: bool, waive: &[String]) -> PyResult<ApplyOptions> {
    let o = ApplyOptions { break_lock, ..ApplyOptions::default() }.with_concurrency(concurrency).and_then(|o| o.limit(spec, only.as_deref(), phase)).and_then(|o| o.waiving(waive));
    Ok(o.map_err(Error::from)?)
}

impl Cluster {
    /// Runs `op`, blocking (`asyncio`: false) or as a coroutine. Only
    /// `apply` and membership changes may write (the PKI folder, the hosts).
    fn call<'py>(&self, py: Python<'py>, op: Op, asyncio: bool) -> PyResult<Bound<'py, PyAny>> {
        let mut open = OpenOptions::new(&self.pki_dir);
        open.connect = self.connect.clone();
        open.dry_run = !matches!(op, Op::Apply(_) | Op::ApplySaved(..) | Op::Member(..) | Op::Plan(_, Some(_)));
        let progress = self.progress.as_ref().map(|cb| Arc::new(PyProgress { callback: cb.clone_ref(py) }) as Arc<dyn core::Progress>);
        let run = Run { spec: self.spec.clone(), open, progress, op };
        if !asyncio {
            return block_on(py, run.go())?.into_pyobject(py);
        }
        // Called once, by the coroutine, from the running asyncio loop.
        let run = Mutex::new(Some(run));
        let start = PyCFunction::new_closure(py, None, None, move |args, _| {
            let run = run.lock().ok().and_then(|mut r| r.take()).ok_or_else(|| PyRuntimeError::new_err("already started"))?;
            Ok::<_, PyErr>(pyo3_async_runtimes::tokio::future_into_py(args.py(), async move { run.go().await.map_err(PyErr::from) })?.unbind())
        })?;
        ASYNC_WRAP
            .get_or_try_init(py, || {
                let m = PyModule::from_code(py, ASYNC_WRAP_SRC, c"k8s_bootstrap_async.py", c"k8s_bootstrap._async")?;
                Ok::<_, PyErr>(m.getattr("wrap")?.unbind())
            })?
            .bind(py)
            .call1((start,))
    }

    /// A membership change of the spec: from the spec file's text when it
    /// holds this spec (its comments kept), else from the spec as YAML;
    /// written back to ``spec_path``, if any, before the hosts are touched.
    fn member(&self, change: impl FnOnce(&str) -> Result<MemberChange, Error>, concurrency: usize, only: Option<Vec<String>>, phase: Option<&str>, break_lock: bool) -> PyResult<Op> {
        let text = self.spec_path.as_ref().and_then(|p| std::fs::read_to_string(p).ok());
        let yaml = text.filter(|t| core_spec::ClusterSpec::from_yaml_str(t).is_ok_and(|s| s == self.spec)).unwrap_or_else(|| self.spec.to_yaml_string());
        let change = change(&yaml)?;
        let opts = options(&change.after, concurrency, only, phase, break_lock, &[])?;
        if let Some(p) = &self.spec_path {
            let tmp = p.with_extension("yaml.k8s-bootstrap-tmp");
            std::fs::write(&tmp, &change.yaml).and_then(|()| std::fs::rename(&tmp, p)).map_err(Error::from)?;
        }
        Ok(Op::Member(Box::new(change), opts))
    }
}

const ASYNC_WRAP_SRC: &std::ffi::CStr = c"async def wrap(start):\n    return await start()\n";
static ASYNC_WRAP: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

const CONCURRENCY: usize = ApplyOptions::DEFAULT_CONCURRENCY;

/// The `#[pymethods]` of `Cluster`: these, and each run on the hosts twice,
/// blocking (`name`, the GIL released) and for asyncio (`name_async`, a
/// coroutine), both with the run's `Op` made from the arguments at the call.
macro_rules! runs {
    ($cls:ident { $($rest:tt)* } $($(#[doc = $doc:literal])* $name:ident, $aname:ident ($($sig:tt)*)
        |$c:ident $(, $arg:ident: $ty:ty)*| $op:expr;)*) => {
        #[pymethods]
        impl $cls {
            $($rest)*
            $(
                $(#[doc = $doc])*
                #[pyo3(signature = ($($sig)*))]
                #[allow(clippy::too_many_arguments)] // Python keywords, one argument each
                fn $name<'py>(&self, py: Python<'py>, $($arg: $ty),*) -> PyResult<Bound<'py, PyAny>> {
                    let $c = self;
                    self.call(py, $op, false)
                }
                #[doc = concat!("``", stringify!($name), "`` for asyncio: a coroutine (``await cluster.", stringify!($aname),
                    "(...)``, ``asyncio.run(cluster.", stringify!($aname), "(...))``). Arguments are checked, and a spec file ",
                    "written, at the call; cancelling the task drops the run.")]
                #[pyo3(signature = ($($sig)*))]
                #[allow(clippy::too_many_arguments)] // Python keywords, one argument each
                fn $aname<'py>(&self, py: Python<'py>, $($arg: $ty),*) -> PyResult<Bound<'py, PyAny>> {
                    let $c = self;
                    self.call(py, $op, true)
                }
            )*
        }
    };
}

runs!(Cluster {
    #[new]
    #[pyo3(signature = (spec, *, spec_path = None, pki_dir = None, known_hosts = None, accept_new_host_keys = false,
        connect_timeout = ConnectOptions::DEFAULT_CONNECT_TIMEOUT.as_secs_f64(), progress = None))]
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
        let connect = ConnectOptions { known_hosts, accept_new_host_keys, ..ConnectOptions::default() }
            .connect_timeout_secs(connect_timeout)
            .map_err(Error::from)?;
        Ok(Cluster { spec: spec.inner.clone(), warnings, spec_path, pki_dir: opts.pki_dir, connect, progress })
    }

    /// Reads the spec at ``path`` and binds it with its certificates in
    /// ``pki/`` beside it (or ``pki_dir``); the other options as for ``Cluster``.
    #[classmethod]
    #[pyo3(signature = (path, *, pki_dir = None, known_hosts = None, accept_new_host_keys = false,
        connect_timeout = ConnectOptions::DEFAULT_CONNECT_TIMEOUT.as_secs_f64(), progress = None))]
    fn from_file(
        cls: &Bound<'_, PyType>,
        path: PathBuf,
        pki_dir: Option<PathBuf>,
        known_hosts: Option<PathBuf>,
        accept_new_host_keys: bool,
        connect_timeout: f64,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<Self> {
        let spec = ClusterSpec { inner: ClusterSpec::read(cls.py(), &path)? };
        Cluster::new(&spec, Some(path), pki_dir, known_hosts, accept_new_host_keys, connect_timeout, progress)
    }

    /// The spec.
    #[getter]
    fn spec(&self) -> ClusterSpec {
        ClusterSpec { inner: self.spec.clone() }
    }

    /// The spec's warnings (risky but working settings).
    #[getter]
    fn warnings<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.warnings)
    }

    /// The folder of the cluster's certificates on this machine (absolute).
    #[getter]
    fn pki_dir(&self) -> String {
        self.pki_dir.display().to_string()
    }

    fn __repr__(&self) -> String {
        let hosts: Vec<&str> = self.spec.hosts.iter().map(|h| h.name.as_str()).collect();
        format!("Cluster(hosts={hosts:?}, pki_dir={:?})", self.pki_dir.display().to_string())
    }
}
    /// What would change on the hosts, with unified diffs (private keys
    /// redacted); changes nothing, not even the PKI folder. Options as for
    /// ``apply``. ``out``: also save the plan there (JSON) for
    /// ``apply(plan=out)``, which runs exactly it or refuses when a host
    /// changed since; the PKI folder is then written, as by ``apply``.
    /// Returns a ``Report`` with ``dry_run`` true.
    /// ``waive``: names of preflight checks whose findings are shown but
    /// do not refuse the run (see ``apply``).
    plan, plan_async (*, concurrency = CONCURRENCY, only = None, phase = None, out = None, waive = None)
        |c, concurrency: usize, only: Option<Vec<String>>, phase: Option<&str>, out: Option<PathBuf>, waive: Option<Vec<String>>|
        Op::Plan(options(&c.spec, concurrency, only, phase, false, &waive.unwrap_or_default())?, out);

    /// Brings the cluster to the spec, stage by stage (host-prep, files,
    /// install, etcd, flannel-config, flanneld, docker), hosts in parallel
    /// within a stage (at most ``concurrency`` at once). ``dry_run``: same
    /// as ``plan``. ``only``: these host names only (etcd's health gate
    /// still checks the whole cluster). ``phase``: stop after this stage.
    /// Writes missing certificates into ``pki_dir`` first. A second apply of
    /// the same spec changes nothing. Returns a ``Report``; failed hosts are
    /// in it (see ``Report.raise_for_failure``). The run holds the cluster
    /// lock (the PKI folder's, then each host's): another run holding it
    /// raises ``LockedError`` (the folder's) or fails the hosts with kind
    /// ``locked``, naming it; ``break_lock``: break a stale host lock (one
    /// not refreshed for 60 s, left by a run that is gone).
    /// ``plan``: a file saved by ``plan(out=...)``: run exactly that plan
    /// (its ``only`` and ``phase``), or refuse with nothing changed (the
    /// report's ``aborted`` names the host and the fact that changed).
    /// Preflight runs first, on the facts: a problem (masked units, ports
    /// taken, an etcd this tool did not set up, a full disk, a clock off,
    /// no systemd, a missing kernel module) refuses the run with nothing
    /// changed, each finding in ``Report.preflight``; ``waive``: names of
    /// checks (``"masked-unit"``, ...) not to refuse on.
    apply, apply_async (*, dry_run = false, concurrency = CONCURRENCY, only = None, phase = None, break_lock = false, plan = None, waive = None)
        |c, dry_run: bool, concurrency: usize, only: Option<Vec<String>>, phase: Option<&str>, break_lock: bool, plan: Option<PathBuf>, waive: Option<Vec<String>>| {
            let o = options(&c.spec, concurrency, only, phase, break_lock, &waive.unwrap_or_default())?;
            match plan {
                Some(file) => Op::ApplySaved(file, o),
                None if dry_run => Op::Plan(o, None),
                None => Op::Apply(o),
            }
        };

    /// The cluster's state: units per host, etcd's endpoint health and
    /// members over TLS, flannel's config read back from etcd, docker0
    /// against flannel's subnet. Changes nothing. Returns a ``ClusterStatus``.
    status, status_async () |_c| Op::Status;

    /// Stops and removes what apply installed (units, files, certificates
    /// on the hosts); etcd's data and flannel's runtime files only with
    /// ``purge``. ``only``: these host names only. Holds the cluster lock
    /// as ``apply`` does (``break_lock`` likewise). Returns a ``Report``.
    reset, reset_async (*, purge = false, only = None, break_lock = false)
        |c, purge: bool, only: Option<Vec<String>>, break_lock: bool| Op::Reset(options(&c.spec, CONCURRENCY, only, None, break_lock, &[])?, purge);

    /// Takes an etcd snapshot over TLS on the first member that can and
    /// writes it to ``out`` on this machine (mode 0600: it holds every key),
    /// like ``k8s-bootstrap etcd snapshot``. Returns a ``SnapshotInfo``
    /// (member, path, bytes, sha256, revision, total_keys).
    snapshot, snapshot_async (out)
        |_c, out: PathBuf| Op::Snapshot(std::path::absolute(&out).map_err(Error::from)?);

    /// Rebuilds the whole etcd cluster from the snapshot at ``path`` (one
    /// ``snapshot`` wrote), like ``k8s-bootstrap etcd restore --from``: every
    /// member stopped, its data directory moved aside, the snapshot restored
    /// with a new cluster token, the members started together and checked
    /// healthy. Holds the cluster lock (``break_lock`` as for ``apply``).
    /// Returns a ``RestoreReport`` (revision, total_keys, token, members, kept).
    restore, restore_async (path, *, break_lock = false)
        |_c, path: PathBuf, break_lock: bool|
        Op::Restore(std::path::absolute(&path).map_err(Error::from)?, ApplyOptions { break_lock, ..ApplyOptions::default() });

    /// Makes ``member`` (``NAME=ADDR``, or ``NAME=ADDR:etcd+node`` to make
    /// it a node too; default: etcd only) an etcd member, like ``k8s-bootstrap
    /// etcd add-member``: the spec gains it (a node of the spec gains the etcd
    /// role), written to ``spec_path`` when the cluster has one, then the
    /// hosts are brought to it (the member joins the running cluster). Options
    /// as for ``apply``. Returns a ``MemberChange`` (its ``spec`` is the new
    /// spec: make a new ``Cluster`` of it for later calls).
    add_member, add_member_async (member, *, concurrency = CONCURRENCY, only = None, phase = None, break_lock = false)
        |c, member: &str, concurrency: usize, only: Option<Vec<String>>, phase: Option<&str>, break_lock: bool|
        c.member(|y| Ok(MemberChange::add(y, &host_arg(member)?)?), concurrency, only, phase, break_lock)?;

    /// Makes host ``name`` leave etcd, like ``k8s-bootstrap etcd
    /// remove-member``: the spec drops its etcd role (or the host, when etcd
    /// was its only role), written to ``spec_path`` when the cluster has one;
    /// the hosts are brought to it (member remove, its data wiped) and a host
    /// that left the spec is then reset with ``purge``. Options as for
    /// ``apply``. Returns a ``MemberChange``.
    remove_member, remove_member_async (name, *, concurrency = CONCURRENCY, only = None, phase = None, break_lock = false)
        |c, name: &str, concurrency: usize, only: Option<Vec<String>>, phase: Option<&str>, break_lock: bool|
        c.member(|y| Ok(MemberChange::remove(y, name)?), concurrency, only, phase, break_lock)?;
);

/// The core's host argument, its problems naming the keyword `member`.
fn host_arg(member: &str) -> Result<HostArg, Error> {
    member.parse::<HostArg>().map_err(|mut p| {
        p.path = "member".into();
        p.into()
    })
}

/// Calls a Python callable with each engine event as a dict, from the
/// engine's tasks, taking the GIL for each call. An exception raised by
/// the callable is reported through ``sys.unraisablehook`` and the run goes on.
struct PyProgress {
    callback: Py<PyAny>,
}

/// An event as a JSON value: ``{"event": "stage-started", "stage": ...}``,
/// ``changed`` (host, stage, what, diff), ``failed`` (host, stage, step,
/// kind, error, log), ``note`` (host, message), ``stage-done`` (stage).
fn event_json(e: &core::Event) -> serde_json::Value {
    match e {
        core::Event::StageStarted(s) => json!({"event": "stage-started", "stage": s}),
        core::Event::StageDone(s) => json!({"event": "stage-done", "stage": s}),
        core::Event::Changed { host, change } => {
            json!({"event": "changed", "host": host, "stage": change.stage, "what": change.what, "diff": change.diff})
        }
        core::Event::Failed { host, failure } => json!({
            "event": "failed", "host": host, "stage": failure.stage, "step": failure.step,
            "kind": failure.kind, "error": failure.error, "log": failure.log,
        }),
        core::Event::Note { host, message } => json!({"event": "note", "host": host, "message": message}),
    }
}

impl core::Progress for PyProgress {
    fn event(&self, event: &core::Event) {
        let value = event_json(event);
        Python::attach(|py| {
            let r = to_plain(py, &value).and_then(|d| self.callback.call1(py, (d,)));
            if let Err(err) = r {
                err.write_unraisable(py, Some(self.callback.bind(py)));
            }
        });
    }
}

/// ``adopt(hosts, *, out, pki_dir=None, force=False, ca_key=None,
/// known_hosts=None, accept_new_host_keys=False, connect_timeout=...,
/// ssh_config=None)``:
/// reads a running cluster built by hand (the tutorial's) over SSH, writes
/// a spec that describes it to ``out`` (never over an existing file
/// without ``force``) and imports its CA into ``pki_dir`` (default:
/// ``pki/`` beside ``out``); nothing is written when it fails, and no host
/// is changed. ``hosts``: ``["etcd01=192.168.1.30", ...]``. ``ca_key``:
/// the CA key file, when no host has it. Returns a dict: ``spec``
/// (ClusterSpec), ``spec_path``, ``pki_dir``, ``ca_key_from``,
/// ``cluster_id``, ``member_ids``, ``found``, ``insecure``. Blocks with the
/// GIL released; KeyboardInterrupt stops it.
#[pyfunction]
#[pyo3(signature = (hosts, *, out, pki_dir = None, force = false, ca_key = None, known_hosts = None, accept_new_host_keys = false,
    connect_timeout = ConnectOptions::DEFAULT_CONNECT_TIMEOUT.as_secs_f64(), ssh_config = None))]
#[allow(clippy::too_many_arguments)] // Python keywords, one argument each
pub fn adopt(
    py: Python<'_>,
    hosts: Vec<String>,
    out: PathBuf,
    pki_dir: Option<PathBuf>,
    force: bool,
    ca_key: Option<PathBuf>,
    known_hosts: Option<PathBuf>,
    accept_new_host_keys: bool,
    connect_timeout: f64,
    ssh_config: Option<PathBuf>,
) -> PyResult<Py<PyAny>> {
    use k8s_bootstrap_core::adopt::{self as core_adopt, SecretPem};
    let hosts: Vec<(String, std::net::Ipv4Addr)> = hosts
        .iter()
        .map(|h| h.parse::<HostArg>().map(|a| (a.name, a.address)).map_err(|e| crate::error::invalid("hosts", h, e.to_string())))
        .collect::<Result<_, _>>()?;
    let pki_dir = pki_dir.map(OpenOptions::new).unwrap_or_else(|| OpenOptions::beside_spec(&out)).pki_dir;
    let ca_key = match ca_key {
        Some(p) => Some((p.display().to_string(), SecretPem(std::fs::read_to_string(&p).map_err(Error::from)?))),
        None => None,
    };
    let connect = ConnectOptions { known_hosts, accept_new_host_keys, ssh_config, ..ConnectOptions::default() }.connect_timeout_secs(connect_timeout).map_err(Error::from)?;
    let a = block_on(py, async move {
        let a = core_adopt::adopt(&hosts, &connect, ca_key).await?;
        a.write(&out, &pki_dir, force)?;
        Ok::<_, Error>((a, out, pki_dir))
    })?;
    let (a, out, pki_dir) = a;
    let d = to_plain(py, &a.summary(&out, &pki_dir))?;
    d.set_item("spec", ClusterSpec { inner: a.spec }.into_pyobject(py)?)?;
    Ok(d.unbind())
}
