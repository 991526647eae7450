//! What plan/apply/reset and status return (`Report`, `HostReport`,
//! `Change`, `Failure`; `ClusterStatus`, `HostStatus`, `DockerBridge`,
//! `EtcdMemberStatus`), and progress events as dicts for a Python callable.
//!
//! Each class copies the fields of its core type (plain Rust values, so a
//! result can be made without the GIL) and keeps the core value for
//! `to_dict()`, which is the core's serde form: the CLI's `--output json`.

use std::collections::BTreeMap;

use k8s_bootstrap_core::apply as core;
use pyo3::prelude::*;
use serde_json::json;

use crate::convert;
use crate::error;

/// One change a host made (apply, reset) or would make (plan).
#[pyclass(module = "k8s_bootstrap", frozen)]
#[derive(Clone)]
pub struct Change {
    /// The stage: ``host-prep``, ``files``, ``install``, ``etcd``,
    /// ``flannel-config``, ``flanneld`` or ``docker``.
    #[pyo3(get)]
    stage: String,
    /// What changed, for people (``write /opt/etcd/cfg/etcd (updated)``, ``restart etcd (...)``).
    #[pyo3(get)]
    what: String,
    /// A unified diff (plan only; private keys redacted), or None.
    #[pyo3(get)]
    diff: Option<String>,
}

#[pymethods]
impl Change {
    fn __repr__(&self) -> String {
        format!("Change({:?}, {:?})", self.stage, self.what)
    }
}

impl From<&core::ChangeRecord> for Change {
    fn from(c: &core::ChangeRecord) -> Self {
        Change { stage: c.stage.to_string(), what: c.what.clone(), diff: c.diff.clone() }
    }
}

/// Why a host failed: where (``stage``, ``step``), what ``kind`` of failure
/// (``host-key``, ``auth``, ``connect``, ``command``, ``transfer``,
/// ``other``), the ``error`` and, for a unit that would not start, its
/// journal (``log``).
#[pyclass(module = "k8s_bootstrap", frozen)]
#[derive(Clone)]
pub struct Failure {
    /// The host.
    #[pyo3(get)]
    host: String,
    /// The stage it failed in.
    #[pyo3(get)]
    stage: String,
    /// The step (``write /opt/etcd/cfg/etcd``, ``start etcd``).
    #[pyo3(get)]
    step: String,
    /// ``host-key``, ``auth``, ``connect``, ``command``, ``transfer`` or ``other``.
    #[pyo3(get)]
    kind: String,
    /// The error, with host and command in it.
    #[pyo3(get)]
    error: String,
    /// The last lines of the unit's journal when starting a unit failed, else None.
    #[pyo3(get)]
    log: Option<String>,
    inner: core::Failure,
}

impl Failure {
    fn new(host: &str, f: &core::Failure) -> Self {
        Failure {
            host: host.to_string(),
            stage: f.stage.to_string(),
            step: f.step.clone(),
            kind: f.kind.as_str().to_string(),
            error: f.error.clone(),
            log: f.log.clone(),
            inner: f.clone(),
        }
    }
}

#[pymethods]
impl Failure {
    /// The exception this failure maps to, not raised: ``HostKeyError``,
    /// ``AuthenticationError``, ``ConnectionError``, ``CommandError`` by
    /// ``kind``, else ``TransportError``; only its ``host`` attribute is set.
    fn exception(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(error::failure_err(py, &self.host, &self.inner, 0)?.into_value(py).into_any())
    }
    fn __repr__(&self) -> String {
        format!("Failure({:?}, stage={:?}, step={:?}, kind={:?})", self.host, self.stage, self.step, self.kind)
    }
}

/// The report of one host: ``changes``, the number of ``unchanged`` steps,
/// ``notes``, ``failed`` (a ``Failure`` or None) and ``stage_ms``.
#[pyclass(module = "k8s_bootstrap", frozen)]
#[derive(Clone)]
pub struct HostReport {
    /// Changes made (apply, reset) or that would be made (plan).
    #[pyo3(get)]
    changes: Vec<Change>,
    /// Steps that found nothing to do.
    #[pyo3(get)]
    unchanged: usize,
    /// Things worth knowing that are neither changes nor failures.
    #[pyo3(get)]
    notes: Vec<String>,
    /// The failure when the host failed (it then took no part in later stages), else None.
    #[pyo3(get)]
    failed: Option<Failure>,
    /// Milliseconds spent per stage.
    #[pyo3(get)]
    stage_ms: BTreeMap<String, u64>,
    inner: core::HostReport,
}

impl HostReport {
    fn new(host: &str, h: &core::HostReport) -> Self {
        HostReport {
            changes: h.changes.iter().map(Change::from).collect(),
            unchanged: h.unchanged,
            notes: h.notes.clone(),
            failed: h.failed.as_ref().map(|f| Failure::new(host, f)),
            stage_ms: h.stage_ms.iter().map(|(s, ms)| (s.to_string(), *ms)).collect(),
            inner: h.clone(),
        }
    }
}

#[pymethods]
impl HostReport {
    /// Whether the host did not fail.
    #[getter]
    fn ok(&self) -> bool {
        self.inner.failed.is_none()
    }
    /// The host's report as a dict (the core's JSON form).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        convert::ser_to_py(py, &self.inner)
    }
    fn __repr__(&self) -> String {
        format!(
            "HostReport(changes={}, unchanged={}, failed={})",
            self.changes.len(),
            self.unchanged,
            self.failed.as_ref().map_or("None".to_string(), |f| format!("{:?}", f.kind))
        )
    }
}

/// The report of ``plan``, ``apply`` or ``reset``: per host (``hosts``),
/// whether it was a plan (``dry_run``), ``aborted`` (why a cluster-wide gate
/// stopped the run, or None), ``elapsed_ms``, and the ``warnings`` met while
/// getting ready (certificates). ``ok`` is true when no host failed and
/// nothing was aborted; ``raise_for_failure()`` raises otherwise.
#[pyclass(module = "k8s_bootstrap", frozen)]
#[derive(Clone)]
pub struct Report {
    /// Whether nothing was changed (a plan).
    #[pyo3(get)]
    dry_run: bool,
    /// Host name -> ``HostReport``.
    #[pyo3(get)]
    hosts: BTreeMap<String, HostReport>,
    /// Why a cluster-wide gate stopped the run (e.g. etcd never became healthy), or None.
    #[pyo3(get)]
    aborted: Option<String>,
    /// Wall time in milliseconds.
    #[pyo3(get)]
    elapsed_ms: u64,
    /// Warnings for people met while getting ready (a certificate cut to its CA's lifetime, ...).
    #[pyo3(get)]
    warnings: Vec<String>,
    inner: core::Report,
}

impl Report {
    pub(crate) fn new(r: core::Report, warnings: Vec<String>) -> Self {
        Report {
            dry_run: r.dry_run,
            hosts: r.hosts.iter().map(|(n, h)| (n.clone(), HostReport::new(n, h))).collect(),
            aborted: r.aborted.clone(),
            elapsed_ms: r.elapsed_ms,
            warnings,
            inner: r,
        }
    }
}

#[pymethods]
impl Report {
    /// No host failed and nothing was aborted.
    #[getter]
    fn ok(&self) -> bool {
        self.inner.ok()
    }
    /// Total number of changes over every host.
    #[getter]
    fn change_count(&self) -> usize {
        self.inner.change_count()
    }
    /// The failures, one per failed host, in host order.
    #[getter]
    fn failures(&self) -> Vec<Failure> {
        self.hosts.values().filter_map(|h| h.failed.clone()).collect()
    }
    /// Returns None when ``ok``; otherwise raises the first failed host's
    /// exception (see ``Failure.exception``; the message counts the other
    /// failed hosts), or ``K8sBootstrapError`` for an aborted run.
    fn raise_for_failure(&self, py: Python<'_>) -> PyResult<()> {
        let failed: Vec<(&String, &core::Failure)> =
            self.inner.hosts.iter().filter_map(|(n, h)| h.failed.as_ref().map(|f| (n, f))).collect();
        if let Some((host, f)) = failed.first() {
            return Err(error::failure_err(py, host, f, failed.len() - 1)?);
        }
        match &self.inner.aborted {
            Some(why) => Err(error::aborted_err(py, why)?),
            None => Ok(()),
        }
    }
    /// The report as a dict: the core's JSON form, as ``k8s-bootstrap apply --output json`` prints it.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        convert::ser_to_py(py, &self.inner)
    }
    fn __repr__(&self) -> String {
        format!(
            "Report(ok={}, dry_run={}, changes={}, hosts={:?}, elapsed_ms={})",
            if self.inner.ok() { "True" } else { "False" },
            if self.dry_run { "True" } else { "False" },
            self.inner.change_count(),
            self.hosts.keys().collect::<Vec<_>>(),
            self.elapsed_ms
        )
    }
}

/// docker0 against flannel's subnet file on a host.
#[pyclass(module = "k8s_bootstrap", frozen)]
#[derive(Clone)]
pub struct DockerBridge {
    /// ``FLANNEL_SUBNET`` of /run/flannel/subnet.env (``10.244.11.1/24``), or None.
    #[pyo3(get)]
    flannel_subnet: Option<String>,
    /// docker0's IPv4 address with prefix, or None.
    #[pyo3(get)]
    docker0: Option<String>,
    /// Whether both exist and are equal.
    #[pyo3(get)]
    matches: bool,
}

#[pymethods]
impl DockerBridge {
    fn __repr__(&self) -> String {
        format!(
            "DockerBridge(flannel_subnet={}, docker0={}, matches={})",
            convert::opt_repr(self.flannel_subnet.as_deref()),
            convert::opt_repr(self.docker0.as_deref()),
            if self.matches { "True" } else { "False" }
        )
    }
}

/// The state of one host: ``reachable`` (or the ``error``), ``units``
/// (``etcd``/``flanneld``/``docker`` -> systemd's ActiveState or
/// ``not-installed``) and, when docker runs, ``docker_bridge``.
#[pyclass(module = "k8s_bootstrap", frozen)]
#[derive(Clone)]
pub struct HostStatus {
    /// Whether the host answered.
    #[pyo3(get)]
    reachable: bool,
    /// Why it did not, or None.
    #[pyo3(get)]
    error: Option<String>,
    /// Unit -> ``active``, ``inactive``, ``failed``, ... or ``not-installed``.
    #[pyo3(get)]
    units: BTreeMap<String, String>,
    /// docker0 against flannel's subnet, when docker runs; else None.
    #[pyo3(get)]
    docker_bridge: Option<DockerBridge>,
}

/// One etcd endpoint's health.
#[pyclass(module = "k8s_bootstrap", frozen)]
#[derive(Clone)]
pub struct EtcdMemberStatus {
    /// The client URL.
    #[pyo3(get)]
    endpoint: String,
    /// Whether it answered a health check over TLS with the admin certificate.
    #[pyo3(get)]
    healthy: bool,
}

#[pymethods]
impl EtcdMemberStatus {
    fn __repr__(&self) -> String {
        format!("EtcdMemberStatus({:?}, healthy={})", self.endpoint, if self.healthy { "True" } else { "False" })
    }
}

#[pymethods]
impl HostStatus {
    fn __repr__(&self) -> String {
        format!("HostStatus(reachable={}, units={:?})", if self.reachable { "True" } else { "False" }, self.units)
    }
}

/// The state of a cluster, as ``status()`` reads it: per host
/// (``hosts``), etcd's endpoints and members, whether etcd is healthy
/// (every endpoint healthy and the members exactly the spec's etcd hosts),
/// flannel's network config read back from etcd, and what could not be read
/// (``problems``).
#[pyclass(module = "k8s_bootstrap", frozen)]
#[derive(Clone)]
pub struct ClusterStatus {
    /// Host name -> ``HostStatus``.
    #[pyo3(get)]
    hosts: BTreeMap<String, HostStatus>,
    /// Health of every endpoint, as etcdctl reports it.
    #[pyo3(get)]
    etcd_endpoints: Vec<EtcdMemberStatus>,
    /// Member names etcd reports, sorted.
    #[pyo3(get)]
    etcd_members: Vec<String>,
    /// Whether those are exactly the spec's etcd hosts.
    #[pyo3(get)]
    etcd_members_match_spec: bool,
    /// Whether every endpoint is healthy and the members match the spec.
    #[pyo3(get)]
    etcd_healthy: bool,
    /// flannel's network config (JSON text) as read back from etcd, or None.
    #[pyo3(get)]
    flannel_config: Option<String>,
    /// The etcd API it was read through: ``v2`` (flannel <= 0.17) or ``v3``.
    #[pyo3(get)]
    flannel_api: String,
    /// What could not be read.
    #[pyo3(get)]
    problems: Vec<String>,
    /// Warnings for people met while getting ready (certificates).
    #[pyo3(get)]
    warnings: Vec<String>,
    inner: core::ClusterStatus,
}

impl ClusterStatus {
    pub(crate) fn new(s: core::ClusterStatus, warnings: Vec<String>) -> Self {
        ClusterStatus {
            hosts: s
                .hosts
                .iter()
                .map(|(n, h)| {
                    let hs = HostStatus {
                        reachable: h.reachable,
                        error: h.error.clone(),
                        units: h.units.clone(),
                        docker_bridge: h.docker_bridge.as_ref().map(|b| DockerBridge {
                            flannel_subnet: b.flannel_subnet.clone(),
                            docker0: b.docker0.clone(),
                            matches: b.matches,
                        }),
                    };
                    (n.clone(), hs)
                })
                .collect(),
            etcd_endpoints: s
                .etcd_endpoints
                .iter()
                .map(|e| EtcdMemberStatus { endpoint: e.endpoint.clone(), healthy: e.healthy })
                .collect(),
            etcd_members: s.etcd_members.clone(),
            etcd_members_match_spec: s.etcd_members_match_spec,
            etcd_healthy: s.etcd_healthy,
            flannel_config: s.flannel_config.clone(),
            flannel_api: s.flannel_api.clone(),
            problems: s.problems.clone(),
            warnings,
            inner: s,
        }
    }
}

#[pymethods]
impl ClusterStatus {
    /// The status as a dict: the core's JSON form, as ``k8s-bootstrap status --output json`` prints it.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        convert::ser_to_py(py, &self.inner)
    }
    fn __repr__(&self) -> String {
        format!(
            "ClusterStatus(etcd_healthy={}, etcd_members={:?}, hosts={:?})",
            if self.etcd_healthy { "True" } else { "False" },
            self.etcd_members,
            self.hosts.keys().collect::<Vec<_>>()
        )
    }
}

/// Calls a Python callable with each engine event as a dict, from the
/// engine's tasks, taking the GIL for each call. An exception raised by
/// the callable is reported through ``sys.unraisablehook`` and the run goes on.
pub(crate) struct PyProgress {
    pub callback: Py<PyAny>,
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
            let r = convert::to_py(py, &value).and_then(|d| self.callback.call1(py, (d,)));
            if let Err(err) = r {
                err.write_unraisable(py, Some(self.callback.bind(py)));
            }
        });
    }
}
