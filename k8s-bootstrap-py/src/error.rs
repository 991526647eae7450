//! The Python exceptions and the one mapping from core errors to them.
//!
//! Like polars' `error.rs`: every core error type converts into [`Error`],
//! and `From<Error> for PyErr` is the only place that picks a Python class.
//!
//! The classes are made with `type(name, bases, namespace)` at import time,
//! because `ValidationError` derives from both `K8sBootstrapError` and
//! `ValueError`, and `ConnectionError` from both `TransportError` and the
//! builtin `ConnectionError`, which `create_exception!` cannot express.
//! Their attributes exist on the class (as `None`) and are set on each
//! instance, so stubtest and `getattr` both see them.

use std::error::Error as StdError;

use k8s_bootstrap_core::apply::{self as core_apply, Failure, FailureKind, OpenError, PkiDirError, ReleaseError};
use k8s_bootstrap_core::spec::{Problem as CoreProblem, SpecError};
use k8s_bootstrap_core::transport::TransportError;
use k8s_bootstrap_core::{docker, etcd, flannel, hostprep, pki, render};
use pyo3::IntoPyObjectExt;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};

use crate::spec::Problem;

/// Every error the binding raises, before it becomes a Python exception.
#[derive(Debug)]
pub enum Error {
    /// Reading or validating a spec.
    Spec(SpecError),
    /// Rendering a spec.
    Render(render::Error),
    /// The PKI.
    Pki(pki::Error),
    /// The etcd builder.
    Etcd(etcd::Error),
    /// The flannel builder.
    Flannel(flannel::Error),
    /// The docker builder.
    Docker(docker::Error),
    /// The host preparation builder.
    HostPrep(hostprep::Error),
    /// Acting on a host.
    Transport(TransportError),
    /// A Python value that does not convert into the core type asked for
    /// (wrong type, unknown field): the field path, the value and why.
    Convert {
        /// Field path, like `members[0].address`.
        path: String,
        /// The value as given, as text.
        value: String,
        /// What is wrong.
        rule: String,
    },
    /// Reading a file.
    Io(std::io::Error),
    /// Getting ready to act on the hosts: the PKI folder, release tarballs,
    /// the spec's render.
    Open(Box<OpenError>),
}

macro_rules! from_core {
    ($($variant:ident($t:ty)),* $(,)?) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Self {
                Error::$variant(e)
            }
        }
    )*};
}
from_core!(
    Spec(SpecError),
    Render(render::Error),
    Pki(pki::Error),
    Etcd(etcd::Error),
    Flannel(flannel::Error),
    Docker(docker::Error),
    HostPrep(hostprep::Error),
    Transport(TransportError),
    Io(std::io::Error),
);

impl From<OpenError> for Error {
    fn from(e: OpenError) -> Self {
        Error::Open(Box::new(e))
    }
}


/// The exception classes, made once per interpreter.
pub(crate) struct Classes {
    pub base: Py<PyType>,
    pub validation: Py<PyType>,
    pub pki: Py<PyType>,
    pub render: Py<PyType>,
    pub transport: Py<PyType>,
    pub host_key: Py<PyType>,
    pub auth: Py<PyType>,
    pub connection: Py<PyType>,
    pub command: Py<PyType>,
}

static CLASSES: PyOnceLock<Classes> = PyOnceLock::new();

fn make_class<'py>(
    py: Python<'py>,
    name: &str,
    bases: &[&Bound<'py, PyAny>],
    doc: &str,
    attrs: &[&str],
) -> PyResult<Py<PyType>> {
    let ns = PyDict::new(py);
    ns.set_item("__module__", "k8s_bootstrap")?;
    ns.set_item("__doc__", doc)?;
    for a in attrs {
        ns.set_item(*a, py.None())?;
    }
    let bases = PyTuple::new(py, bases)?;
    let ty = py.import("builtins")?.getattr("type")?.call1((name, bases, ns))?;
    Ok(ty.cast_into::<PyType>()?.unbind())
}

pub(crate) fn classes(py: Python<'_>) -> PyResult<&Classes> {
    CLASSES.get_or_try_init(py, || {
        let builtins = py.import("builtins")?;
        let exception = builtins.getattr("Exception")?;
        let value_error = builtins.getattr("ValueError")?;
        let builtin_connection = builtins.getattr("ConnectionError")?;
        let base = make_class(
            py,
            "K8sBootstrapError",
            &[&exception],
            "Base class of every error raised by k8s_bootstrap.",
            &[],
        )?;
        let b = base.bind(py).as_any().clone();
        let validation = make_class(
            py,
            "ValidationError",
            &[&b, &value_error],
            "A value breaks a rule of the core (a spec field, a builder setting, a PKI input).\n\n\
             Attributes: ``path`` (field path such as ``hosts[1].address``), ``value`` (the\n\
             offending value as text; for a YAML parse error, the YAML line), ``rule``, ``fix``\n\
             (suggested fix or None), ``line``/``column`` (1-based position in the YAML, or None)\n\
             and ``problems`` (every Problem found; the attributes above describe the first one).",
            &["path", "value", "rule", "fix", "line", "column", "problems"],
        )?;
        let pki = make_class(
            py,
            "PkiError",
            &[&b],
            "The PKI cannot do what was asked with the existing files: an expiring CA (never replaced\n\
             silently), a leaf to issue without the CA key, or a crypto library failure.",
            &[],
        )?;
        let render = make_class(
            py,
            "RenderError",
            &[&b],
            "A template of the core failed to render. Attribute ``host``: the host, or None.",
            &["host"],
        )?;
        let transport = make_class(
            py,
            "TransportError",
            &[&b],
            "Acting on a host failed. Attribute ``host``: the host (None for invalid transport input).",
            &["host"],
        )?;
        let t = transport.bind(py).as_any().clone();
        let host_key = make_class(
            py,
            "HostKeyError",
            &[&t],
            "The host key is unknown or differs from the recorded or pinned one; never retried.\n\n\
             Attributes: ``fingerprint`` (offered key, ``SHA256:...``), ``expected`` (the known_hosts\n\
             line or pinned fingerprint, None when the key is unknown), ``known_hosts`` (path or None).",
            &["fingerprint", "expected", "known_hosts"],
        )?;
        let auth = make_class(
            py,
            "AuthenticationError",
            &[&t],
            "No offered key was accepted. Attributes: ``user``, ``tried`` (what was tried, never secrets).",
            &["user", "tried"],
        )?;
        let connection = make_class(
            py,
            "ConnectionError",
            &[&t, &builtin_connection],
            "The connection could not be made, timed out, or broke. Also a builtin ConnectionError.\n\n\
             Attributes: ``reason``, ``timeout`` (seconds, for a connect timeout, else None).",
            &["reason", "timeout"],
        )?;
        let command = make_class(
            py,
            "CommandError",
            &[&t],
            "A command on a host failed or timed out.\n\n\
             Attributes: ``command``, ``exit_code`` (None when killed by a signal or timed out),\n\
             ``stderr`` (its last lines), ``timeout`` (seconds, when it timed out, else None).",
            &["command", "exit_code", "stderr", "timeout"],
        )?;
        Ok::<_, PyErr>(Classes { base, validation, pki, render, transport, host_key, auth, connection, command })
    })
}

/// The message of an error with its causes, `outer: inner: ...`.
fn chain(e: &dyn StdError) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = c.source();
    }
    s
}

fn raise(py: Python<'_>, cls: &Py<PyType>, msg: String, attrs: &[(&str, Bound<'_, PyAny>)]) -> PyResult<PyErr> {
    let inst = cls.bind(py).call1((msg,))?;
    for (k, v) in attrs {
        inst.setattr(*k, v)?;
    }
    Ok(PyErr::from_value(inst))
}

fn obj<'py, T>(py: Python<'py>, v: T) -> PyResult<Bound<'py, PyAny>>
where
    T: IntoPyObject<'py>,
{
    v.into_bound_py_any(py)
}

/// A ValidationError for `problems` (the first one fills the attributes).
fn validation(py: Python<'_>, msg: String, problems: &[CoreProblem], line: Option<usize>, column: Option<usize>) -> PyResult<PyErr> {
    let c = classes(py)?;
    let first = problems.first();
    let list: Vec<Problem> = problems.iter().cloned().map(Problem::from).collect();
    raise(
        py,
        &c.validation,
        msg,
        &[
            ("path", obj(py, first.map(|p| p.path.clone()))?),
            ("value", obj(py, first.map(|p| p.value.clone()))?),
            ("rule", obj(py, first.map(|p| p.rule.clone()))?),
            ("fix", obj(py, first.and_then(|p| p.fix.clone()))?),
            ("line", obj(py, line)?),
            ("column", obj(py, column)?),
            ("problems", obj(py, list)?),
        ],
    )
}

fn invalid_builder(py: Python<'_>, msg: String, problems: &[CoreProblem]) -> PyResult<PyErr> {
    validation(py, msg, problems, None, None)
}

fn map_transport(py: Python<'_>, e: &TransportError, msg: String) -> PyResult<PyErr> {
    let c = classes(py)?;
    let none = || py.None().into_bound(py);
    Ok(match e {
        TransportError::Connect { host, reason } | TransportError::Ssh { host, reason } => raise(
            py,
            &c.connection,
            msg,
            &[("host", obj(py, host)?), ("reason", obj(py, reason)?), ("timeout", none())],
        )?,
        TransportError::ConnectTimeout { host, timeout } => raise(
            py,
            &c.connection,
            msg,
            &[("host", obj(py, host)?), ("reason", obj(py, "connect timed out")?), ("timeout", obj(py, timeout.as_secs_f64())?)],
        )?,
        TransportError::Auth { host, user, tried } => {
            raise(py, &c.auth, msg, &[("host", obj(py, host)?), ("user", obj(py, user)?), ("tried", obj(py, tried)?)])?
        }
        TransportError::HostKeyUnknown { host, fingerprint, known_hosts, .. } => raise(
            py,
            &c.host_key,
            msg,
            &[
                ("host", obj(py, host)?),
                ("fingerprint", obj(py, fingerprint)?),
                ("expected", none()),
                ("known_hosts", obj(py, known_hosts.display().to_string())?),
            ],
        )?,
        TransportError::HostKeyMismatch { host, fingerprint, expected } => raise(
            py,
            &c.host_key,
            msg,
            &[
                ("host", obj(py, host)?),
                ("fingerprint", obj(py, fingerprint)?),
                ("expected", obj(py, expected)?),
                ("known_hosts", none()),
            ],
        )?,
        TransportError::CommandFailed { host, command, code, stderr_tail } => raise(
            py,
            &c.command,
            msg,
            &[
                ("host", obj(py, host)?),
                ("command", obj(py, command)?),
                ("exit_code", obj(py, *code)?),
                ("stderr", obj(py, stderr_tail)?),
                ("timeout", none()),
            ],
        )?,
        TransportError::Timeout { host, command, timeout } => raise(
            py,
            &c.command,
            msg,
            &[
                ("host", obj(py, host)?),
                ("command", obj(py, command)?),
                ("exit_code", none()),
                ("stderr", obj(py, "")?),
                ("timeout", obj(py, timeout.as_secs_f64())?),
            ],
        )?,
        TransportError::Transfer { host, .. } | TransportError::Io { host, .. } => {
            raise(py, &c.transport, msg, &[("host", obj(py, host)?)])?
        }
        // InvalidInput, and variants added to the core later.
        _ => raise(py, &c.transport, msg, &[("host", none())])?,
    })
}

fn to_py_err(py: Python<'_>, e: Error) -> PyResult<PyErr> {
    match e {
        Error::Spec(SpecError::Parse { path, line, column, value, rule }) => {
            let msg = SpecError::Parse { path: path.clone(), line, column, value: value.clone(), rule: rule.clone() }.to_string();
            let p = CoreProblem::new(path, value.unwrap_or_default(), rule);
            validation(py, msg, &[p], line, column)
        }
        Error::Spec(e @ SpecError::Invalid { .. }) => {
            let msg = e.to_string();
            validation(py, msg, &e.problems(), None, None)
        }
        Error::Render(e) => {
            let msg = chain(&e);
            match e {
                render::Error::Spec(s) => to_py_err(py, Error::Spec(s)),
                render::Error::Etcd { host, source } => builder_err(py, msg, Some(host), Error::Etcd(source)),
                render::Error::Flannel { host, source } => builder_err(py, msg, Some(host), Error::Flannel(source)),
                render::Error::Docker { host, source } => builder_err(py, msg, Some(host), Error::Docker(source)),
                render::Error::HostPrep { host, source } => builder_err(py, msg, Some(host), Error::HostPrep(source)),
            }
        }
        e @ (Error::Etcd(_) | Error::Flannel(_) | Error::Docker(_) | Error::HostPrep(_)) => {
            let msg = match &e {
                Error::Etcd(x) => chain(x),
                Error::Flannel(x) => chain(x),
                Error::Docker(x) => chain(x),
                Error::HostPrep(x) => chain(x),
                _ => unreachable!("matched above"),
            };
            builder_err(py, msg, None, e)
        }
        Error::Pki(e) => pki_err(py, chain(&e), e),
        Error::Transport(e) => {
            let msg = e.to_string();
            map_transport(py, &e, msg)
        }
        Error::Open(e) => open_err(py, *e),
        Error::Convert { path, value, rule } => {
            let msg = format!("{path} = {value}: {rule}");
            invalid_builder(py, msg, &[CoreProblem::new(path, value, rule)])
        }
        // Python's own OSError subclasses (FileNotFoundError, ...).
        Error::Io(e) => Ok(PyErr::from(e)),
    }
}

/// A PKI error: bad inputs become a ValidationError, the rest a PkiError.
fn pki_err(py: Python<'_>, msg: String, e: pki::Error) -> PyResult<PyErr> {
    let c = classes(py)?;
    match e {
        pki::Error::InvalidField { field, value, reason } => invalid_builder(py, msg, &[CoreProblem::new(field, value, reason)]),
        pki::Error::BadPem { path, expected, reason } => {
            invalid_builder(py, msg, &[CoreProblem::new(path, "", format!("not a valid {expected}: {reason}"))])
        }
        pki::Error::NotACa { path } => {
            invalid_builder(py, msg, &[CoreProblem::new(path, "", "certificate is not a CA (basicConstraints CA:TRUE missing)")])
        }
        pki::Error::CaKeyMismatch { key_path, cert_path } => {
            invalid_builder(py, msg, &[CoreProblem::new(key_path, "", format!("does not match CA certificate {cert_path}"))])
        }
        pki::Error::Cfssl { file, field, reason } => invalid_builder(py, msg, &[CoreProblem::new(format!("{file}:{field}"), "", reason)]),
        // CaExpiring, CaKeyAbsent, Crypto, and variants added later.
        _ => raise(py, &c.pki, msg, &[]),
    }
}

/// An error of `apply::open`, mapped like the core error inside it.
fn open_err(py: Python<'_>, e: OpenError) -> PyResult<PyErr> {
    let c = classes(py)?;
    let msg = chain(&e);
    match e {
        OpenError::Pki { source: PkiDirError::Pki(p), .. } => pki_err(py, msg, p),
        OpenError::Pki { source: PkiDirError::Transport(t), .. } | OpenError::Releases(ReleaseError::Transport(t)) => {
            map_transport(py, &t, msg)
        }
        OpenError::Releases(ReleaseError::NotFound { field, path }) => {
            invalid_builder(py, msg, &[CoreProblem::new(field, path, "the file does not exist")])
        }
        OpenError::Releases(ReleaseError::Checksum { field, got, expected, .. }) => {
            invalid_builder(py, msg, &[CoreProblem::new(field, got, format!("sha256 differs from the spec's {expected}"))])
        }
        OpenError::Releases(ReleaseError::Archive { field, source_name, reason }) => {
            invalid_builder(py, msg, &[CoreProblem::new(field, source_name, reason)])
        }
        OpenError::Engine(core_apply::Error::Render(r)) => to_py_err(py, Error::Render(r)),
        OpenError::Engine(core_apply::Error::MissingCert { .. }) => raise(py, &c.pki, msg, &[]),
        // NoTransport (open gives every host one), and variants added later.
        _ => raise(py, &c.base, msg, &[]),
    }
}

/// The exception for a host's [`Failure`] in a report: the class of its
/// kind (``host-key`` -> HostKeyError, ``auth`` -> AuthenticationError,
/// ``connect`` -> ConnectionError, ``command`` -> CommandError, else
/// TransportError) with ``host`` set; the kind-specific attributes stay None
/// (a report keeps the error as text). `others`: further failed hosts.
pub(crate) fn failure_err(py: Python<'_>, host: &str, f: &Failure, others: usize) -> PyResult<PyErr> {
    let c = classes(py)?;
    let mut msg = format!("{host}: {} failed at {}: {}", f.step, f.stage, f.error);
    if let Some(log) = &f.log {
        msg.push('\n');
        msg.push_str(log);
    }
    if others > 0 {
        msg.push_str(&format!("\n(and {others} more failed host{})", if others == 1 { "" } else { "s" }));
    }
    let cls = match f.kind {
        FailureKind::HostKey => &c.host_key,
        FailureKind::Auth => &c.auth,
        FailureKind::Connect => &c.connection,
        FailureKind::Command => &c.command,
        _ => &c.transport,
    };
    raise(py, cls, msg, &[("host", obj(py, host)?)])
}

/// A run stopped by a cluster-wide gate (``Report.aborted``): a K8sBootstrapError.
pub(crate) fn aborted_err(py: Python<'_>, why: &str) -> PyResult<PyErr> {
    raise(py, &classes(py)?.base, format!("aborted: {why}"), &[])
}

/// A ValidationError for one argument of a call (`only`, `phase`, ...).
pub(crate) fn invalid_arg(path: &str, value: &str, rule: impl Into<String>) -> PyErr {
    let rule = rule.into();
    Error::Convert { path: path.to_string(), value: value.to_string(), rule }.into()
}

/// A builder error: its rule problems become a ValidationError, a
/// template failure a RenderError.
fn builder_err(py: Python<'_>, msg: String, host: Option<String>, e: Error) -> PyResult<PyErr> {
    let c = classes(py)?;
    let problems: Option<Vec<CoreProblem>> = match &e {
        Error::Etcd(etcd::Error::Invalid(p))
        | Error::Flannel(flannel::Error::Invalid(p))
        | Error::Docker(docker::Error::Invalid(p))
        | Error::HostPrep(hostprep::Error::Invalid(p)) => Some(p.clone()),
        Error::Etcd(etcd::Error::UnknownMember(name)) => {
            Some(vec![CoreProblem::new("name", name, "no etcd member has this name")])
        }
        _ => None,
    };
    match problems {
        Some(p) => invalid_builder(py, msg, &p),
        None => raise(py, &c.render, msg, &[("host", obj(py, host)?)]),
    }
}

impl From<Error> for PyErr {
    fn from(e: Error) -> PyErr {
        Python::attach(|py| to_py_err(py, e).unwrap_or_else(|err| err))
    }
}

/// Maps a sample core [`TransportError`] of `kind` to its Python exception,
/// so that the tests can check the mapping before anything raises one.
pub(crate) fn sample_transport_error(kind: &str) -> Option<TransportError> {
    use std::time::Duration;
    let host = "etcd01".to_string();
    Some(match kind {
        "connect" => TransportError::Connect { host, reason: "connection refused".into() },
        "connect-timeout" => TransportError::ConnectTimeout { host, timeout: Duration::from_secs(10) },
        "ssh" => TransportError::Ssh { host, reason: "connection lost".into() },
        "auth" => TransportError::Auth { host, user: "root".into(), tried: "~/.ssh/id_ed25519".into() },
        "host-key-unknown" => TransportError::HostKeyUnknown {
            host,
            addr: "192.168.1.30".into(),
            port: 22,
            fingerprint: "SHA256:abc".into(),
            known_hosts: "/root/.ssh/known_hosts".into(),
        },
        "host-key-mismatch" => {
            TransportError::HostKeyMismatch { host, fingerprint: "SHA256:abc".into(), expected: "SHA256:def".into() }
        }
        "command-failed" => TransportError::CommandFailed {
            host,
            command: "systemctl start etcd".into(),
            code: Some(1),
            stderr_tail: "Job for etcd.service failed".into(),
        },
        "timeout" => TransportError::Timeout { host, command: "sleep 100".into(), timeout: Duration::from_secs(5) },
        "transfer" => TransportError::Transfer { host, path: "/opt/etcd/cfg/etcd".into(), reason: "disk full".into() },
        "invalid-input" => TransportError::InvalidInput { reason: "bad key".into() },
        _ => return None,
    })
}
