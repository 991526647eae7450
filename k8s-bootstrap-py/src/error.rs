//! The Python exceptions, and the one mapping from the core's error kinds
//! to them (like polars' `error.rs`: one `From<Error> for PyErr`). Which
//! kind an error is, its problems and its host details come from the core
//! (`k8s_bootstrap_core::error::describe`); this file only picks the class
//! of a kind and sets the details as attributes.
//!
//! The classes are Python source run at import time, because
//! `ValidationError` derives from both `K8sBootstrapError` and `ValueError`,
//! and `ConnectionError` from both `TransportError` and the builtin
//! `ConnectionError`, which `create_exception!` cannot express. Their
//! attributes exist on the class (as `None`) and are set on each instance,
//! so stubtest and `getattr` both see them.

use std::error::Error as StdError;

use k8s_bootstrap_core::apply::FailureKind;
use k8s_bootstrap_core::error::{ErrorKind, describe};
use k8s_bootstrap_core::spec::Problem;
use k8s_bootstrap_core::transport::TransportError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyDict;

use crate::convert::{to_plain, to_py};

/// Any error of the core (or a bad argument, as a core `Problem`, or an
/// I/O error) on its way to becoming a Python exception.
#[derive(Debug)]
pub struct Error(Box<dyn StdError + Send + Sync>);

impl<E: StdError + Send + Sync + 'static> From<E> for Error {
    fn from(e: E) -> Self {
        Error(Box::new(e))
    }
}

/// A bad argument or value: a `ValidationError` naming it.
pub fn invalid(path: impl Into<String>, value: impl std::fmt::Display, rule: impl Into<String>) -> Error {
    Problem::new(path, value, rule).into()
}

const CLASSES: &std::ffi::CStr = cr#"
import builtins

class K8sBootstrapError(Exception):
    """Base class of every error raised by k8s_bootstrap."""

class ValidationError(K8sBootstrapError, ValueError):
    """A value breaks a rule of the core (a spec field, a builder setting, a PKI input, an argument).

    Attributes: ``path`` (field path such as ``hosts[1].address``), ``value`` (the
    offending value as text; for a YAML parse error, the YAML line), ``rule``, ``fix``
    (suggested fix or None), ``line``/``column`` (1-based position in the YAML, or None)
    and ``problems`` (every Problem found; the attributes above describe the first one)."""
    path = value = rule = fix = line = column = problems = None

class PkiError(K8sBootstrapError):
    """The PKI cannot do what was asked with the existing files: an expiring CA (never replaced
    silently), a leaf to issue without the CA key, a PKI folder open to others, or a crypto failure."""

class LockedError(K8sBootstrapError):
    """Another run holds the cluster's lock (its PKI folder's, or a host's): nothing was done.
    The message names that run (user@host, since, pid, command). Attribute ``host``: the host, or None."""
    host = None

class RenderError(K8sBootstrapError):
    """A template of the core failed to render. Attribute ``host``: the host, or None."""
    host = None

class TransportError(K8sBootstrapError):
    """Acting on a host failed. Attribute ``host``: the host (None for invalid transport input)."""
    host = None

class HostKeyError(TransportError):
    """The host key is unknown, differs from the recorded or pinned one, or is refused; never retried.

    Attributes: ``fingerprint`` (offered key, ``SHA256:...``), ``expected`` (the known_hosts
    line or pinned fingerprint, None when the key is unknown), ``known_hosts`` (path or None)."""
    fingerprint = expected = known_hosts = None

class AuthenticationError(TransportError):
    """No offered key was accepted. Attributes: ``user``, ``tried`` (what was tried, never secrets)."""
    user = tried = None

class ConnectionError(TransportError, builtins.ConnectionError):
    """The connection could not be made, timed out, or broke. Also a builtin ConnectionError.

    Attributes: ``reason``, ``timeout`` (seconds, for a connect timeout, else None)."""
    reason = timeout = None

class CommandError(TransportError):
    """A command on a host failed or timed out.

    Attributes: ``command``, ``exit_code`` (None when killed by a signal or timed out),
    ``stderr`` (its last lines), ``timeout`` (seconds, when it timed out, else None)."""
    command = exit_code = stderr = timeout = None
"#;

static MADE: PyOnceLock<Py<PyDict>> = PyOnceLock::new();

/// The namespace of the exception classes, made once per interpreter.
pub fn classes(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let ns = MADE.get_or_try_init(py, || {
        let ns = PyDict::new(py);
        ns.set_item("__name__", "k8s_bootstrap")?;
        py.run(CLASSES, Some(&ns), None)?;
        Ok::<_, PyErr>(ns.unbind())
    })?;
    Ok(ns.bind(py).clone())
}

/// The class of a host failure's kind.
fn host_class(kind: FailureKind) -> &'static str {
    match kind {
        FailureKind::HostKey => "HostKeyError",
        FailureKind::Auth => "AuthenticationError",
        FailureKind::Connect => "ConnectionError",
        FailureKind::Command => "CommandError",
        FailureKind::Locked => "LockedError",
        _ => "TransportError",
    }
}

/// The class of an error kind.
fn class_of(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Invalid => "ValidationError",
        ErrorKind::Pki => "PkiError",
        ErrorKind::Render => "RenderError",
        ErrorKind::Locked => "LockedError",
        ErrorKind::Host(k) => host_class(k),
        _ => "K8sBootstrapError",
    }
}

/// An exception of class `name` with message `msg` and these attributes.
fn raise(py: Python<'_>, name: &str, msg: String, attrs: &Bound<'_, PyDict>) -> PyResult<PyErr> {
    let inst = classes(py)?.as_any().get_item(name)?.call1((msg,))?;
    for (k, v) in attrs.iter() {
        inst.setattr(k.extract::<String>()?, v)?;
    }
    Ok(PyErr::from_value(inst))
}

fn to_py_err(py: Python<'_>, e: Error) -> PyResult<PyErr> {
    let Some(info) = describe(&*e.0 as &(dyn StdError + 'static)) else {
        return Ok(match e.0.downcast::<std::io::Error>() {
            // Python's own OSError subclasses (FileNotFoundError, ...).
            Ok(io) => PyErr::from(*io),
            Err(other) => raise(py, "K8sBootstrapError", other.to_string(), &PyDict::new(py))?,
        });
    };
    let attrs = PyDict::new(py);
    if info.kind == ErrorKind::Invalid {
        let first = info.problems.first();
        attrs.set_item("path", first.map(|p| &p.path))?;
        attrs.set_item("value", first.map(|p| &p.value))?;
        attrs.set_item("rule", first.map(|p| &p.rule))?;
        attrs.set_item("fix", first.and_then(|p| p.fix.as_ref()))?;
        attrs.set_item("line", first.and_then(|p| p.location).map(|l| l.0))?;
        attrs.set_item("column", first.and_then(|p| p.location).map(|l| l.1))?;
        attrs.set_item("problems", to_py(py, &info.problems)?)?;
    } else {
        attrs.update(to_plain(py, &info.details)?.cast::<pyo3::types::PyMapping>()?)?;
    }
    raise(py, class_of(info.kind), info.message, &attrs)
}

impl From<Error> for PyErr {
    fn from(e: Error) -> PyErr {
        Python::attach(|py| to_py_err(py, e).unwrap_or_else(|err| err))
    }
}

/// The exception for a host's `Failure` record of a report: the class of
/// its kind, with only ``host`` set (a report keeps the error as text).
/// `others`: further failed hosts, counted in the message.
pub fn failure_err(py: Python<'_>, failure: &Bound<'_, PyAny>, others: usize) -> PyResult<PyErr> {
    let get = |k: &str| failure.getattr(k);
    let host: String = get("host")?.extract()?;
    let mut msg = format!("{host}: {} failed at {}: {}", get("step")?, get("stage")?, get("error")?);
    if let Some(log) = get("log")?.extract::<Option<String>>()? {
        msg.push('\n');
        msg.push_str(&log);
    }
    if others > 0 {
        msg.push_str(&format!("\n(and {others} more failed host{})", if others == 1 { "" } else { "s" }));
    }
    let kind: String = get("kind")?.extract()?;
    let kinds = [FailureKind::HostKey, FailureKind::Auth, FailureKind::Connect, FailureKind::Command, FailureKind::Locked];
    let name = kinds.into_iter().find(|k| k.as_str() == kind).map_or("TransportError", host_class);
    let attrs = PyDict::new(py);
    attrs.set_item("host", host)?;
    raise(py, name, msg, &attrs)
}

/// A run stopped by a cluster-wide gate (``Report.aborted``): a K8sBootstrapError.
pub fn aborted_err(py: Python<'_>, why: &str) -> PyResult<PyErr> {
    raise(py, "K8sBootstrapError", format!("aborted: {why}"), &PyDict::new(py))
}

/// A sample core [`TransportError`] of `kind`, so that the tests can check
/// the mapping before anything raises one.
pub fn sample_transport_error(kind: &str) -> Option<TransportError> {
    use std::time::Duration;
    let host = "etcd01".to_string();
    let s = |v: &str| v.to_string();
    Some(match kind {
        "connect" => TransportError::Connect { host, reason: s("connection refused") },
        "connect-timeout" => TransportError::ConnectTimeout { host, timeout: Duration::from_secs(10) },
        "ssh" => TransportError::Ssh { host, reason: s("connection lost") },
        "auth" => TransportError::Auth { host, user: s("root"), tried: s("~/.ssh/id_ed25519") },
        "host-key-unknown" => TransportError::HostKeyUnknown {
            host,
            addr: s("192.168.1.30"),
            port: 22,
            fingerprint: s("SHA256:abc"),
            known_hosts: "/root/.ssh/known_hosts".into(),
        },
        "host-key-mismatch" => TransportError::HostKeyMismatch { host, fingerprint: s("SHA256:abc"), expected: s("SHA256:def") },
        "command-failed" => TransportError::CommandFailed {
            host,
            command: s("systemctl start etcd"),
            code: Some(1),
            stderr_tail: s("Job for etcd.service failed"),
        },
        "timeout" => TransportError::Timeout { host, command: s("sleep 100"), timeout: Duration::from_secs(5) },
        "transfer" => TransportError::Transfer { host, path: s("/opt/etcd/cfg/etcd"), reason: s("disk full") },
        "invalid-input" => TransportError::InvalidInput { reason: s("bad key") },
        _ => return None,
    })
}
