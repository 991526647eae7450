//! `CertBundle` and what it returns: `Issued`, `BundleFile`, `CertAction`, `CertInfo`.

use std::collections::BTreeMap;

use k8s_bootstrap_core::pki as core;
use k8s_bootstrap_core::spec::Version;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyType};

use crate::convert::{self, extract};
use crate::error::Error;
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
    let Some(o) = obj.filter(|o| !o.is_none()) else { return Ok(None) };
    let v: Version = extract(o, field)?;
    Ok(Some(v.major_minor()))
}

fn files_map(files: &Bound<'_, PyAny>) -> PyResult<BTreeMap<String, Vec<u8>>> {
    let mut m = BTreeMap::new();
    for item in files.call_method0("items")?.try_iter()? {
        let (k, v): (String, Vec<u8>) = item?.extract()?;
        m.insert(k, v);
    }
    Ok(m)
}

#[pymethods]
impl CertBundle {
    #[new]
    #[pyo3(signature = (
        *,
        members = None,
        ca_subject = None,
        ca_validity_days = None,
        leaf_validity_days = None,
        renew_before_days = None,
        key_algorithm = None,
        extra_sans = None,
        admin_client = None,
        flannel_client = None,
        layout = None,
        tutorial_server_subject = None,
        existing_ca_cert = None,
        existing_ca_key = None,
        replace_expiring_ca = None,
        etcd_version = None,
        flannel_version = None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        members: Option<Bound<'_, PyAny>>,
        ca_subject: Option<Bound<'_, PyAny>>,
        ca_validity_days: Option<i64>,
        leaf_validity_days: Option<i64>,
        renew_before_days: Option<i64>,
        key_algorithm: Option<&str>,
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
        let mut b = core::CertBundle::builder();
        if let Some(m) = members {
            let ms: Vec<core::EtcdMember> = extract(&m, "members")?;
            b = b.members(ms);
        }
        if let Some(s) = ca_subject {
            b = b.ca_subject(extract(&s, "ca_subject")?);
        }
        if let Some(d) = ca_validity_days {
            b = b.ca_validity_days(d);
        }
        if let Some(d) = leaf_validity_days {
            b = b.leaf_validity_days(d);
        }
        if let Some(d) = renew_before_days {
            b = b.renew_before_days(d);
        }
        if let Some(a) = key_algorithm {
            b = b.key_algorithm(a.parse().map_err(Error::from)?);
        }
        for s in extra_sans.unwrap_or_default() {
            b = b.extra_san(s);
        }
        if let Some(y) = admin_client {
            b = b.admin_client(y);
        }
        if let Some(y) = flannel_client {
            b = b.flannel_client(y);
        }
        if let Some(l) = layout {
            b = b.layout(extract(&l, "layout")?);
        }
        if let Some(s) = tutorial_server_subject {
            b = b.tutorial_server_subject(extract(&s, "tutorial_server_subject")?);
        }
        if let Some(c) = existing_ca_cert {
            b = b.existing_ca(c, existing_ca_key);
        } else if existing_ca_key.is_some() {
            return Err(Error::Convert {
                path: "existing_ca_key".into(),
                value: "<private key>".into(),
                rule: "a CA key needs its certificate (existing_ca_cert)".into(),
            }
            .into());
        }
        if let Some(y) = replace_expiring_ca {
            b = b.replace_expiring_ca(y);
        }
        let etcd = version(etcd_version.as_ref(), "etcd_version")?;
        let flannel = version(flannel_version.as_ref(), "flannel_version")?;
        if etcd.is_some() || flannel.is_some() {
            b = b.target_versions(etcd, flannel);
        }
        let inner = py.detach(|| b.build()).map_err(Error::from)?;
        Ok(CertBundle { inner })
    }

    /// The bundle a cluster spec needs: every etcd host is a member (its
    /// name and address), with the spec's ``pki`` settings and versions.
    /// Raises ``ValidationError`` (paths under ``pki.``).
    #[classmethod]
    fn for_cluster(_cls: &Bound<'_, PyType>, py: Python<'_>, spec: &ClusterSpec) -> PyResult<Self> {
        let inner = py.detach(|| core::CertBundle::for_cluster(&spec.inner)).map_err(Error::from)?;
        Ok(CertBundle { inner })
    }

    /// Warnings found while validating (key algorithm vs versions, even member count).
    #[getter]
    fn warnings(&self) -> Vec<String> {
        self.inner.warnings().to_vec()
    }

    /// The layout: ``per-member`` or ``tutorial``.
    #[getter]
    fn layout(&self) -> String {
        serde_json::to_value(self.inner.layout()).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
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
    fn generate(&self, py: Python<'_>) -> PyResult<Issued> {
        let issued = py.detach(|| self.inner.generate()).map_err(Error::from)?;
        Issued::new(py, issued)
    }

    /// Brings existing files (``{relative path: bytes}``, as
    /// ``Issued.as_existing()`` returns) to what the bundle asks for at
    /// ``now`` (an aware ``datetime``; None: now): what is still right is kept
    /// byte for byte, the rest re-issued, and ``actions`` says why. A CA is
    /// never replaced silently (``PkiError``).
    #[pyo3(signature = (existing, *, now = None))]
    fn reconcile(&self, py: Python<'_>, existing: &Bound<'_, PyAny>, now: Option<&Bound<'_, PyAny>>) -> PyResult<Issued> {
        let map = files_map(existing)?;
        let now = convert::instant(now)?;
        let issued = py.detach(|| self.inner.reconcile(&map, now)).map_err(Error::from)?;
        Issued::new(py, issued)
    }

    /// Reads every certificate of a bundle (every ``*.pem`` that is not a
    /// ``*-key.pem``), sorted by path, as of ``now`` (None: now).
    #[classmethod]
    #[pyo3(signature = (files, *, now = None))]
    fn inspect(_cls: &Bound<'_, PyType>, py: Python<'_>, files: &Bound<'_, PyAny>, now: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<CertInfo>> {
        let map = files_map(files)?;
        let now = convert::instant(now)?;
        let infos = core::inspect(&map, now).map_err(Error::from)?;
        infos.into_iter().map(|i| CertInfo::new(py, i)).collect()
    }

    fn __repr__(&self) -> String {
        format!("CertBundle(wanted={:?}, key_algorithm={:?})", self.wanted(), self.key_algorithm())
    }
}

/// One file of a bundle: ``path`` relative to the bundle root, ``content``
/// (PEM bytes), ``mode`` (0o600 for keys, 0o644 for certificates) and
/// ``secret`` (whether it holds a private key; its repr never shows it).
#[pyclass(module = "k8s_bootstrap", frozen)]
pub struct BundleFile {
    /// Path relative to the bundle root (``ca.pem``, ``etcd01-server-key.pem``).
    #[pyo3(get)]
    path: String,
    /// The bytes (PEM text).
    #[pyo3(get)]
    content: Py<PyBytes>,
    /// Unix permission bits: 0o600 for keys, 0o644 for certificates.
    #[pyo3(get)]
    mode: u32,
    /// Whether this file holds a private key (never print or log it).
    #[pyo3(get)]
    secret: bool,
}

#[pymethods]
impl BundleFile {
    fn __repr__(&self, py: Python<'_>) -> String {
        let what = if self.secret { "<redacted private key>".to_string() } else { format!("{} bytes", self.content.bind(py).as_bytes().len()) };
        format!("BundleFile({:?}, mode=0o{:o}, {what})", self.path, self.mode)
    }
}

/// What happened to one certificate: ``change`` is ``kept``, ``issued``
/// (with a ``reason``) or ``imported``.
#[pyclass(module = "k8s_bootstrap", frozen)]
pub struct CertAction {
    /// The certificate, as its file stem (``ca``, ``etcd01-server``, ...).
    #[pyo3(get)]
    id: String,
    /// ``kept``, ``issued`` or ``imported``.
    #[pyo3(get)]
    change: &'static str,
    /// Why it was issued (``absent``, ``SANs differ: ...``); None otherwise.
    #[pyo3(get)]
    reason: Option<String>,
    /// Its notAfter (an aware UTC ``datetime``).
    #[pyo3(get)]
    not_after: Py<PyAny>,
}

#[pymethods]
impl CertAction {
    fn __repr__(&self) -> String {
        match &self.reason {
            Some(r) => format!("CertAction({:?}, {:?}, reason={r:?})", self.id, self.change),
            None => format!("CertAction({:?}, {:?})", self.id, self.change),
        }
    }
}

/// The result of ``generate`` or ``reconcile``: the ``files`` to write and a
/// report (``actions``) of what was kept or issued and why.
#[pyclass(module = "k8s_bootstrap", frozen)]
pub struct Issued {
    files: Py<PyDict>,
    /// One entry per certificate, CA first.
    #[pyo3(get)]
    actions: Vec<Py<CertAction>>,
    /// Warnings (validation warnings, a CA subject that differs, ...).
    #[pyo3(get)]
    warnings: Vec<String>,
    /// Existing files that belong to no certificate of the bundle (not in ``files``).
    #[pyo3(get)]
    unmanaged: Vec<String>,
    /// The core value, for the plan/apply engine (issue 6) to take as it is.
    #[allow(dead_code)]
    pub(crate) inner: core::Issued,
}

impl Issued {
    fn new(py: Python<'_>, i: core::Issued) -> PyResult<Self> {
        let inner = i.clone();
        let files = PyDict::new(py);
        for f in i.files {
            let bf = BundleFile { content: PyBytes::new(py, &f.contents).unbind(), mode: f.mode, secret: f.secret, path: f.path };
            files.set_item(bf.path.clone(), Bound::new(py, bf)?)?;
        }
        let mut actions = Vec::new();
        for a in i.actions {
            let (change, reason) = match a.change {
                core::Change::Kept => ("kept", None),
                core::Change::Issued { reason } => ("issued", Some(reason)),
                core::Change::Imported => ("imported", None),
                #[allow(unreachable_patterns)]
                _ => ("other", None),
            };
            actions.push(Py::new(
                py,
                CertAction { id: a.id.stem(), change, reason, not_after: convert::datetime(py, a.not_after)?.unbind() },
            )?);
        }
        Ok(Issued { files: files.unbind(), actions, warnings: i.warnings, unmanaged: i.unmanaged, inner })
    }
}

#[pymethods]
impl Issued {
    /// Every file of the bundle by relative path (a new dict each time).
    #[getter]
    fn files<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.files.bind(py).copy()
    }
    /// The files as ``{relative path: bytes}``, the form ``reconcile`` and
    /// ``inspect`` take.
    fn as_existing<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (k, v) in self.files.bind(py).iter() {
            d.set_item(k, v.getattr("content")?)?;
        }
        Ok(d)
    }
    fn __repr__(&self, py: Python<'_>) -> String {
        format!("Issued({} files, {} actions)", self.files.bind(py).len(), self.actions.len())
    }
}

/// What a certificate says about itself (like ``kubeadm certs check-expiration``).
#[pyclass(module = "k8s_bootstrap", frozen)]
pub struct CertInfo {
    /// The file it was read from.
    #[pyo3(get)]
    path: String,
    /// Subject, one line (``C=CN, ST=Beijing, L=Beijing, CN=etcd CA``).
    #[pyo3(get)]
    subject: String,
    /// The subject's CN.
    #[pyo3(get)]
    common_name: String,
    /// Issuer, one line.
    #[pyo3(get)]
    issuer: String,
    /// Serial number, hex.
    #[pyo3(get)]
    serial: String,
    /// Whether it is a CA certificate.
    #[pyo3(get)]
    is_ca: bool,
    /// SANs: IP addresses and DNS names as text.
    #[pyo3(get)]
    sans: Vec<String>,
    /// Key usages (``digital-signature``, ``key-encipherment``, ...).
    #[pyo3(get)]
    key_usages: Vec<String>,
    /// Extended key usages (``server-auth``, ``client-auth``).
    #[pyo3(get)]
    ext_key_usages: Vec<String>,
    /// Key algorithm (``rsa-2048``, ``ecdsa-p256``, ``ed25519``, ...).
    #[pyo3(get)]
    key_algorithm: String,
    /// notBefore (aware UTC ``datetime``).
    #[pyo3(get)]
    not_before: Py<PyAny>,
    /// notAfter (aware UTC ``datetime``).
    #[pyo3(get)]
    not_after: Py<PyAny>,
    /// Whole days from the inspection time to notAfter (negative when expired).
    #[pyo3(get)]
    days_left: i64,
    /// Validity period in whole days.
    #[pyo3(get)]
    validity_days: i64,
}

impl CertInfo {
    fn new(py: Python<'_>, i: core::CertInfo) -> PyResult<Self> {
        Ok(CertInfo {
            not_before: convert::datetime(py, i.not_before)?.unbind(),
            not_after: convert::datetime(py, i.not_after)?.unbind(),
            path: i.path,
            subject: i.subject,
            common_name: i.common_name,
            issuer: i.issuer,
            serial: i.serial,
            is_ca: i.is_ca,
            sans: i.sans,
            key_usages: i.key_usages,
            ext_key_usages: i.ext_key_usages,
            key_algorithm: i.key_algorithm,
            days_left: i.days_left,
            validity_days: i.validity_days,
        })
    }
}

#[pymethods]
impl CertInfo {
    fn __repr__(&self) -> String {
        format!("CertInfo({:?}, subject={:?}, days_left={})", self.path, self.subject, self.days_left)
    }
}
