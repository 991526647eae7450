//! `k8s_bootstrap`: thin Python bindings over k8s-bootstrap-core.
//!
//! No logic of its own: every rule lives in the core; this crate converts
//! types (`convert.rs`, through the core types' serde impls) and errors
//! (`error.rs`, one mapping from core error kinds to Python exceptions).
//!
//! `Cluster` (`cluster.rs`) acts on the hosts: `plan`/`apply`/`status`/
//! `reset` over the core's engine, blocking with the GIL released or as
//! asyncio awaitables; its results are in `report.rs`.

use pyo3::prelude::*;

mod builders;
mod cluster;
mod convert;
mod error;
mod pki;
mod render;
mod report;
mod spec;

/// Maps a sample core transport error of ``kind`` to its Python exception
/// and returns it (not raised). For the tests of the mapping only.
#[pyfunction]
fn _transport_error_sample(py: Python<'_>, kind: &str) -> PyResult<Py<PyAny>> {
    let e = error::sample_transport_error(kind)
        .ok_or_else(|| pyo3::exceptions::PyValueError::new_err(format!("unknown kind {kind:?}")))?;
    let err: PyErr = error::Error::from(e).into();
    Ok(err.into_value(py).into_any())
}

/// Bring up etcd, flannel and docker with a TLS PKI: typed cluster specs,
/// rendered files and commands, and the certificate bundle, from Python.
#[pymodule]
fn k8s_bootstrap(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<spec::ClusterSpec>()?;
    m.add_class::<spec::Problem>()?;
    m.add_class::<render::RenderedCluster>()?;
    m.add_class::<render::HostRender>()?;
    m.add_class::<render::RenderedFile>()?;
    m.add_class::<render::Command>()?;
    m.add_class::<render::HostCert>()?;
    m.add_class::<pki::CertBundle>()?;
    m.add_class::<pki::Issued>()?;
    m.add_class::<pki::BundleFile>()?;
    m.add_class::<pki::CertAction>()?;
    m.add_class::<pki::CertInfo>()?;
    m.add_class::<builders::EtcdCluster>()?;
    m.add_class::<builders::FlannelConfig>()?;
    m.add_class::<builders::DockerUnit>()?;
    m.add_class::<builders::HostPrep>()?;
    m.add_class::<cluster::Cluster>()?;
    m.add_class::<report::Report>()?;
    m.add_class::<report::HostReport>()?;
    m.add_class::<report::Change>()?;
    m.add_class::<report::Failure>()?;
    m.add_class::<report::ClusterStatus>()?;
    m.add_class::<report::HostStatus>()?;
    m.add_class::<report::EtcdMemberStatus>()?;
    m.add_class::<report::DockerBridge>()?;
    let c = error::classes(py)?;
    for (name, cls) in [
        ("K8sBootstrapError", &c.base),
        ("ValidationError", &c.validation),
        ("PkiError", &c.pki),
        ("RenderError", &c.render),
        ("TransportError", &c.transport),
        ("HostKeyError", &c.host_key),
        ("AuthenticationError", &c.auth),
        ("ConnectionError", &c.connection),
        ("CommandError", &c.command),
    ] {
        m.add(name, cls.clone_ref(py))?;
    }
    m.add_function(wrap_pyfunction!(_transport_error_sample, m)?)?;
    // The renders behave as read-only mappings: make isinstance agree.
    let mapping = py.import("collections.abc")?.getattr("Mapping")?;
    mapping.call_method1("register", (py.get_type::<render::RenderedCluster>(),))?;
    mapping.call_method1("register", (py.get_type::<render::HostRender>(),))?;
    let all: Vec<String> = m
        .dict()
        .keys()
        .iter()
        .filter_map(|k| k.extract::<String>().ok())
        .filter(|k| !k.starts_with('_') || k == "__version__")
        .collect();
    m.add("__all__", all)?;
    Ok(())
}
