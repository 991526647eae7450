//! The data classes: each holds the fields of a core value as
//! [`convert::to_py`](crate::convert::to_py) made them from its serde form,
//! read as attributes, so every field of the core type (one added later
//! too) is an attribute in Python. A class adds only what Python needs
//! besides (a method, a field such as a failure's `host`).

use pyo3::prelude::*;
use std::sync::OnceLock;

use pyo3::PyClass;
use pyo3::pyclass_init::PyClassInitializer;
use pyo3::exceptions::PyAttributeError;
use pyo3::types::{PyBytes, PyDict, PyList};

/// The base of the data classes: the fields, and the core's JSON form of
/// the value when it has one (for `to_dict`).
#[pyclass(module = "k8s_bootstrap", name = "_Record", subclass, frozen)]
pub struct Record {
    fields: Py<PyDict>,
    json: OnceLock<Py<PyAny>>,
}

#[pymethods]
impl Record {
    fn __getattr__(&self, py: Python<'_>, name: &str) -> PyResult<Py<PyAny>> {
        let v = self.fields.bind(py).get_item(name)?.ok_or_else(|| PyAttributeError::new_err(name.to_string()))?;
        // Containers are copies: a record stays as it was made.
        Ok(if v.cast::<PyList>().is_ok() || v.cast::<PyDict>().is_ok() { v.call_method0("copy")?.unbind() } else { v.unbind() })
    }
    fn __dir__(slf: &Bound<'_, Self>) -> PyResult<Vec<String>> {
        let mut names: Vec<String> = slf.get_type().dir()?.extract()?;
        names.extend(slf.get().fields.bind(slf.py()).keys().extract::<Vec<String>>()?);
        Ok(names)
    }
    fn __eq__(slf: &Bound<'_, Self>, other: &Bound<'_, PyAny>) -> PyResult<bool> {
        match other.cast::<Record>() {
            Ok(o) if o.get_type().is(slf.get_type()) => slf.get().fields.bind(slf.py()).eq(o.get().fields.bind(slf.py())),
            _ => Ok(false),
        }
    }
    /// `Change(stage='files', what='...', diff=None)`: scalars as they are,
    /// bytes and containers by their size.
    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let py = slf.py();
        let mut parts = Vec::new();
        for (k, v) in slf.get().fields.bind(py).iter() {
            let shown = if let Ok(b) = v.cast::<PyBytes>() {
                format!("<{} bytes>", b.as_bytes().len())
            } else if v.cast::<PyList>().is_ok() || v.cast::<PyDict>().is_ok() {
                format!("<{} items>", v.len()?)
            } else {
                v.repr()?.to_string()
            };
            parts.push(format!("{k}={shown}"));
        }
        Ok(format!("{}({})", slf.get_type().name()?, parts.join(", ")))
    }
}

/// The fields of record `obj`, to complete them while it is being made.
pub fn fields<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
    Ok(obj.cast::<Record>()?.get().fields.bind(obj.py()).clone())
}

/// Sets the core's JSON form of record `obj` (for its `to_dict`), once.
pub fn set_json(obj: &Bound<'_, PyAny>, json: Bound<'_, PyAny>) -> PyResult<()> {
    let _ = obj.cast::<Record>()?.get().json.set(json.unbind());
    Ok(())
}

/// The core's JSON form of record `obj`, a new copy.
fn json<'py>(obj: &Bound<'py, Record>) -> PyResult<Bound<'py, PyAny>> {
    let py = obj.py();
    let plain = obj.get().json.get().map_or_else(|| PyDict::new(py).into_any(), |p| p.bind(py).clone());
    py.import("copy")?.call_method1("deepcopy", (plain,))
}

/// A new record of class `T` (state `value`) with these fields.
pub fn new<'py, T: PyClass<BaseType = Record>>(py: Python<'py>, value: T, fields: Bound<'py, PyDict>) -> PyResult<Bound<'py, PyAny>> {
    let base = Record { fields: fields.unbind(), json: OnceLock::new() };
    Ok(Bound::new(py, PyClassInitializer::from(base).add_subclass(value))?.into_any())
}

/// Declares the data classes: `Name` (made by [`new`]) or `Name = "Core"`
/// (also made for every value of the core struct `Core` by `to_py`), with
/// the fields serde skips when None (`skip_serializing_if`), which
/// pythonize leaves out: they are `None` here, so that every field of the
/// core type is an attribute.
macro_rules! records {
    ($($(#[$doc:meta])* $name:ident $(= $core:literal [$($skipped:ident),*])?;)*) => {
        $(
            $(#[$doc])*
            #[pyclass(module = "k8s_bootstrap", extends = Record, frozen)]
            pub struct $name;
        )*
        /// Whether the core struct `name` has a data class.
        pub fn is_record(name: &str) -> bool {
            [$($($core,)?)*].contains(&name)
        }
        /// The data class of core struct `name` with these fields.
        pub fn make<'py>(py: Python<'py>, name: &str, fields: Bound<'py, PyDict>) -> PyResult<Bound<'py, PyAny>> {
            $($(if name == $core {
                $(if !fields.contains(stringify!($skipped))? { fields.set_item(stringify!($skipped), py.None())?; })*
                return new(py, $name, fields);
            })?)*
            Ok(fields.into_any())
        }
        /// Adds every data class to the module.
        pub fn add_classes(m: &Bound<'_, PyModule>) -> PyResult<()> {
            $(m.add_class::<$name>()?;)*
            Ok(())
        }
    };
}

records! {
    /// One rule a value breaks (or a risky setting, for a warning): ``path``,
    /// ``value``, ``rule``, ``fix`` and ``location`` (line, column) in the YAML.
    Problem = "Problem" [];
    /// One change a host made (apply, reset) or would make (plan, with a ``diff``).
    Change = "ChangeRecord" [diff];
    /// Why a host failed: ``host``, ``stage``, ``step``, ``kind`` (``host-key``,
    /// ``auth``, ``connect``, ``command``, ``transfer``, ``other``), ``error``, ``log``.
    Failure = "Failure" [log];
    /// The report of one host: ``changes``, ``unchanged``, ``notes``, ``failed``, ``ok``, ``stage_ms``.
    HostReport = "HostReport" [failed];
    /// The report of ``plan``, ``apply`` or ``reset``: per host (``hosts``), ``ok``,
    /// ``change_count``, ``failures``, ``aborted``, ``warnings``, ...
    Report = "Report" [aborted];
    /// A problem preflight found before anything changed: ``host``, ``check`` (the
    /// name ``waive=`` takes), ``found``, ``fix``, ``waived``.
    Finding = "Finding" [];
    /// The state of a cluster, as ``status()`` reads it: per host (``hosts``), etcd's
    /// endpoints and members, ``etcd_healthy``, flannel's config read back, ``problems``.
    ClusterStatus = "ClusterStatus" [flannel_config];
    /// The state of one host: ``reachable`` (or the ``error``), ``units``, ``docker_bridge``.
    HostStatus = "HostStatus" [error, docker_bridge];
    /// One etcd endpoint's health.
    EtcdMemberStatus = "EtcdMemberStatus" [];
    /// docker0 against flannel's subnet file on a host (``matches``).
    DockerBridge = "DockerBridge" [];
    /// What ``Cluster.snapshot`` saved: ``member``, ``path``, ``bytes``, ``sha256``, ``revision``, ``total_keys``.
    SnapshotInfo = "SnapshotInfo" [];
    /// What ``Cluster.restore`` did: ``revision``, ``total_keys``, ``token``, ``members``, ``kept`` (old data, per member).
    RestoreReport = "RestoreReport" [];
    /// What a certificate says about itself (like ``kubeadm certs check-expiration``).
    CertInfo = "CertInfo" [];
    /// What happened to one certificate: ``change`` ``kept``, ``issued`` (with a ``reason``) or ``imported``.
    CertAction;
    /// A certificate a host needs (``id``: its file stem) and where it goes; the CA's key stays home.
    HostCert;
    /// One file of a bundle: ``content`` (PEM bytes), ``mode``, ``secret`` (a private key: never print it).
    BundleFile;
    /// An etcd membership change (``Cluster.add_member``, ``remove_member``): ``action``, the
    /// new ``spec`` and its ``yaml``, the ``apply`` and ``cleanup`` reports, ``ok``.
    MemberChange;
}

#[pymethods]
impl Problem {
    /// ``path = value: rule (fix: ...)``.
    fn __str__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let p: k8s_bootstrap_core::spec::Problem = crate::convert::extract(fields(slf.as_any())?.as_any(), "")?;
        Ok(p.to_string())
    }
}

#[pymethods]
impl Failure {
    /// The exception this failure maps to, not raised: ``HostKeyError``,
    /// ``AuthenticationError``, ``ConnectionError``, ``CommandError`` by
    /// ``kind``, else ``TransportError``; only its ``host`` attribute is set.
    fn exception(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        Ok(crate::error::failure_err(slf.py(), slf.as_any(), 0)?.into_value(slf.py()).into_any())
    }
}


#[pymethods]
impl Report {
    /// Returns None when ``ok``; otherwise raises the first failed host's
    /// exception (see ``Failure.exception``; the message counts the other
    /// failed hosts), or ``K8sBootstrapError`` for an aborted run.
    fn raise_for_failure(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let f = fields(slf.as_any())?;
        let failures = f.get_item("failures")?.map(|l| l.extract::<Vec<Bound<'_, PyAny>>>()).transpose()?.unwrap_or_default();
        if let Some(first) = failures.first() {
            return Err(crate::error::failure_err(py, first, failures.len() - 1)?);
        }
        match f.get_item("aborted")?.filter(|a| !a.is_none()) {
            Some(why) => Err(crate::error::aborted_err(py, &why.extract::<String>()?)?),
            None => Ok(()),
        }
    }
    /// The report as a dict: the core's JSON form, as ``k8s-bootstrap apply --output json`` prints it.
    fn to_dict<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        json(slf.as_super())
    }
}

/// ``to_dict()`` on these data classes: the core's JSON form, as the
/// command named prints it with ``--output json``.
macro_rules! to_dict {
    ($($cls:ident: $doc:literal;)*) => {$(
        #[pymethods]
        impl $cls {
            #[doc = $doc]
            fn to_dict<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
                json(slf.as_super())
            }
        }
    )*};
}

to_dict! {
    HostReport: "The host's report as a dict (the core's JSON form).";
    ClusterStatus: "The status as a dict: the core's JSON form, as ``k8s-bootstrap status --output json`` prints it.";
    SnapshotInfo: "As a dict: the core's JSON form, as ``k8s-bootstrap etcd snapshot --output json`` prints it.";
    RestoreReport: "As a dict: the core's JSON form, as ``k8s-bootstrap etcd restore --output json`` prints it.";
}
