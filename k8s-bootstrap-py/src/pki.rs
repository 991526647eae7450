//! `CertBundle` and what it returns: `Issued` with its `BundleFile`s and
//! `CertAction`s, and `CertInfo`.

use std::collections::BTreeMap;

use k8s_bootstrap_core::pki as core;
use k8s_bootstrap_core::spec::Version;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyType};

use crate::convert::{self, datetime, extract, to_py};
use crate::error::Error;
use crate::records::{self, BundleFile, CertAction, Record, fields};
use crate::spec::ClusterSpec;

/// The TLS PKI of a cluster: a CA, per etcd member a server and a peer
/// certificate, an etcd admin and a flanneld client certificate (or, with
/// ``layout="tutorial"``, the tutorial's four files). Every argument is
/// keyword-only; None takes the Rust builder's default (RSA 2048, CA
/// ``CN=etcd CA`` for 3650 days, leaves for 365 days, renewal 30 days
/// before expiry, per-member layout, admin and flanneld clients).
///
/// ``members`` is a list of ``{"name": "etcd01", "addresses": ["192.168.1.30"]}``;
/// subjects are dicts with ``common_name`` and optional ``organization``,
/// ``organizational_unit``, ``country``, ``state``, ``locality``. Every input
/// is checked here: a bad one raises ``ValidationError`` naming the field.
#[pyclass(module = "k8s_bootstrap", frozen)]
pub struct CertBundle {
    inner: core::CertBundle,
}

fn version(obj: Option<&Bound<'_, PyAny>>, field: &str) -> PyResult<Option<(u32, u32)>> {
    obj.filter(|o| !o.is_none()).map(|o| Ok(extract::<Version>(o, field)?.major_minor())).transpose()
}

/// A keyword argument as a core type (None: not given).
fn get<T: serde::de::DeserializeOwned>(o: Option<Bound<'_, PyAny>>, field: &str) -> PyResult<Option<T>> {
    o.map(|o| extract(&o, field)).transpose()
}

fn files_map(files: &Bound<'_, PyAny>) -> PyResult<BTreeMap<String, Vec<u8>>> {
    files.call_method0("items")?.try_iter()?.map(|item| item?.extract()).collect()
}

/// `b.$method(value)` for each keyword given.
macro_rules! set {
    ($b:ident, $($method:ident($v:expr)),* $(,)?) => {$(
        if let Some(v) = $v {
            $b = $b.$method(v);
        }
    )*};
}

#[pymethods]
impl CertBundle {
    #[new]
    #[pyo3(signature = (*, members = None, ca_subject = None, ca_validity_days = None, leaf_validity_days = None,
        renew_before_days = None, key_algorithm = None, extra_sans = None, admin_client = None, flannel_client = None,
        layout = None, tutorial_server_subject = None, existing_ca_cert = None, existing_ca_key = None,
        replace_expiring_ca = None, etcd_version = None, flannel_version = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        members: Option<Bound<'_, PyAny>>,
        ca_subject: Option<Bound<'_, PyAny>>,
        ca_validity_days: Option<i64>,
        leaf_validity_days: Option<i64>,
        renew_before_days: Option<i64>,
        key_algorithm: Option<Bound<'_, PyAny>>,
        extra_sans: Option<Vec<String>>,
        admin_client: Option<bool>,
        flannel_client: Option<bool>,
        layout: Option<Bound<'_, PyAny>>,
        tutorial_server_subject: Option<Bound<'_, PyAny>>,
        existing_ca_cert: Option<String>,
        existing_ca_key: Option<String>,
        replace_expiring_ca: Option<bool>,
        etcd_version: Option<Bound<'_, PyAny>>,
        flannel_version: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let mut b = core::CertBundle::builder().existing_ca_parts(existing_ca_cert, existing_ca_key);
        set!(b,
            members(get::<Vec<core::EtcdMember>>(members, "members")?),
            ca_subject(get(ca_subject, "ca_subject")?),
            ca_validity_days(ca_validity_days),
            leaf_validity_days(leaf_validity_days),
            renew_before_days(renew_before_days),
            key_algorithm(get(key_algorithm, "key_algorithm")?),
            admin_client(admin_client),
            flannel_client(flannel_client),
            layout(get(layout, "layout")?),
            tutorial_server_subject(get(tutorial_server_subject, "tutorial_server_subject")?),
            replace_expiring_ca(replace_expiring_ca),
        );
        for s in extra_sans.unwrap_or_default() {
            b = b.extra_san(s);
        }
        let (etcd, flannel) = (version(etcd_version.as_ref(), "etcd_version")?, version(flannel_version.as_ref(), "flannel_version")?);
        if etcd.is_some() || flannel.is_some() {
            b = b.target_versions(etcd, flannel);
        }
        Ok(CertBundle { inner: py.detach(|| b.build()).map_err(Error::from)? })
    }

    /// The bundle a cluster spec needs: every etcd host is a member (its
    /// name and address), with the spec's ``pki`` settings and versions.
    /// Raises ``ValidationError`` (paths under ``pki.``).
    #[classmethod]
    fn for_cluster(_cls: &Bound<'_, PyType>, py: Python<'_>, spec: &ClusterSpec) -> PyResult<Self> {
        Ok(CertBundle { inner: py.detach(|| core::CertBundle::for_cluster(&spec.inner)).map_err(Error::from)? })
    }

    /// Warnings found while validating (key algorithm vs versions, even member count).
    #[getter]
    fn warnings(&self) -> Vec<String> {
        self.inner.warnings().to_vec()
    }

    /// The layout: ``per-member`` or ``tutorial``.
    #[getter]
    fn layout<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.inner.layout())
    }

    /// The key algorithm of generated keys (``rsa-2048``, ``ecdsa-p256``, ...).
    #[getter]
    fn key_algorithm(&self) -> &'static str {
        self.inner.key_algorithm().as_str()
    }

    /// Every certificate of the bundle, CA first, as file stems (``ca``,
    /// ``etcd01-server``, ``etcd01-peer``, ``admin``, ``flanneld``).
    fn wanted(&self) -> Vec<String> {
        self.inner.wanted().iter().map(|c| c.stem()).collect()
    }

    /// Generates every certificate from scratch (with an existing CA: every
    /// leaf). The GIL is released while keys are generated.
    fn generate<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let i = py.detach(|| self.inner.generate()).map_err(Error::from)?;
        issued(py, i)
    }

    /// Brings existing files (``{relative path: bytes}``, as
    /// ``Issued.as_existing()`` returns) to what the bundle asks for at
    /// ``now`` (an aware ``datetime``; None: now): what is still right is kept
    /// byte for byte, the rest re-issued, and ``actions`` says why. A CA is
    /// never replaced silently (``PkiError``).
    #[pyo3(signature = (existing, *, now = None))]
    fn reconcile<'py>(&self, py: Python<'py>, existing: &Bound<'_, PyAny>, now: Option<&Bound<'_, PyAny>>) -> PyResult<Bound<'py, PyAny>> {
        let (map, now) = (files_map(existing)?, convert::instant(now)?);
        let i = py.detach(|| self.inner.reconcile(&map, now)).map_err(Error::from)?;
        issued(py, i)
    }

    /// Reads every certificate of a bundle (every ``*.pem`` that is not a
    /// ``*-key.pem``), sorted by path, as of ``now`` (None: now).
    #[classmethod]
    #[pyo3(signature = (files, *, now = None))]
    fn inspect<'py>(_cls: &Bound<'_, PyType>, py: Python<'py>, files: &Bound<'_, PyAny>, now: Option<&Bound<'_, PyAny>>) -> PyResult<Bound<'py, PyAny>> {
        let infos = core::inspect(&files_map(files)?, convert::instant(now)?).map_err(Error::from)?;
        let list = to_py(py, &infos)?;
        for (info, rec) in infos.iter().zip(list.try_iter()?) {
            let f = fields(&rec?)?;
            f.set_item("not_before", datetime(py, info.not_before)?)?;
            f.set_item("not_after", datetime(py, info.not_after)?)?;
        }
        Ok(list)
    }

    fn __repr__(&self) -> String {
        format!("CertBundle(wanted={:?}, key_algorithm={:?})", self.wanted(), self.key_algorithm())
    }
}

/// The result of ``generate`` or ``reconcile``: the ``files`` to write (by
/// path relative to the bundle root, ``BundleFile``), ``actions`` (one
/// ``CertAction`` per certificate, CA first: what was kept or issued and
/// why), ``warnings`` and ``unmanaged`` (existing files that belong to no
/// certificate of the bundle, not in ``files``).
#[pyclass(module = "k8s_bootstrap", extends = Record, frozen)]
pub struct Issued;

/// A core `Issued` as an `Issued`.
fn issued(py: Python<'_>, i: core::Issued) -> PyResult<Bound<'_, PyAny>> {
    let files = PyDict::new(py);
    for f in &i.files {
        let d = PyDict::new(py);
        d.set_item("path", &f.path)?;
        d.set_item("content", PyBytes::new(py, &f.contents))?;
        d.set_item("mode", f.mode)?;
        d.set_item("secret", f.secret)?;
        files.set_item(&f.path, records::new(py, BundleFile, d)?)?;
    }
    let mut actions = Vec::new();
    for a in &i.actions {
        let d = to_py(py, a)?.cast_into::<PyDict>()?;
        d.set_item("id", a.id.stem())?;
        d.set_item("not_after", datetime(py, a.not_after)?)?;
        d.call_method1("setdefault", ("reason", py.None()))?;
        actions.push(records::new(py, CertAction, d)?);
    }
    let d = PyDict::new(py);
    d.set_item("files", files)?;
    d.set_item("actions", actions)?;
    d.set_item("warnings", &i.warnings)?;
    d.set_item("unmanaged", &i.unmanaged)?;
    records::new(py, Issued, d)
}

#[pymethods]
impl Issued {
    /// The files as ``{relative path: bytes}``, the form ``reconcile`` and
    /// ``inspect`` take.
    fn as_existing<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(slf.py());
        for (k, v) in fields(slf.as_any())?.get_item("files")?.into_iter().flat_map(|f| f.cast_into::<PyDict>()).flat_map(|f| f.iter()) {
            d.set_item(k, v.getattr("content")?)?;
        }
        Ok(d)
    }
    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        Ok(format!("Issued({} files, {} actions)", slf.getattr("files")?.len()?, slf.getattr("actions")?.len()?))
    }
}
