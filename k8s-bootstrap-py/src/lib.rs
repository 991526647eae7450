//! `k8s_bootstrap`: thin Python bindings over k8s-bootstrap-core.
//!
//! No logic of its own: every default, rule and error classification lives
//! in the core. This crate converts types (`convert.rs`: core values through
//! their serde form into the data classes of `records.rs` or plain dicts,
//! Python values into core types), maps the core's error kinds to Python
//! exceptions (`error.rs`), and wraps the core's entry points: the spec
//! (`spec.rs`), its render (`render.rs`), the PKI (`pki.rs`), the builders
//! (`builders.rs`) and `Cluster` (`cluster.rs`: plan, apply, status, reset
//! and membership changes, blocking with the GIL released or as asyncio
//! awaitables).

use pyo3::prelude::*;

mod builders;
mod cluster;
mod convert;
mod error;
mod pki;
mod records;
mod render;
mod spec;

/// Maps a sample core transport error of ``kind`` to its Python exception
/// and returns it (not raised). For the tests of the mapping only.
#[pyfunction]
fn _transport_error_sample(py: Python<'_>, kind: &str) -> PyResult<Py<PyAny>> {
    let e = error::sample_transport_error(kind)
        .ok_or_else(|| pyo3::exceptions::PyValueError::new_err(format!("unknown kind {kind:?}")))?;
    Ok(PyErr::from(error::Error::from(e)).into_value(py).into_any())
}

/// Bring up etcd, flannel and docker with a TLS PKI: typed cluster specs,
/// rendered files and commands, and the certificate bundle, from Python.
#[pymodule]
fn k8s_bootstrap(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    // The core's defaults, which the signatures' defaults are.
    m.add("DEFAULT_CONCURRENCY", k8s_bootstrap_core::apply::ApplyOptions::DEFAULT_CONCURRENCY)?;
    m.add("DEFAULT_CONNECT_TIMEOUT", k8s_bootstrap_core::apply::ConnectOptions::DEFAULT_CONNECT_TIMEOUT.as_secs_f64())?;
    m.add_class::<spec::ClusterSpec>()?;
    m.add_class::<render::RenderedCluster>()?;
    m.add_class::<render::HostRender>()?;
    m.add_class::<render::RenderedFile>()?;
    m.add_class::<render::Command>()?;
    m.add_class::<pki::CertBundle>()?;
    m.add_class::<pki::Issued>()?;
    m.add_class::<builders::EtcdCluster>()?;
    m.add_class::<builders::FlannelConfig>()?;
    m.add_class::<builders::DockerUnit>()?;
    m.add_class::<builders::HostPrep>()?;
    m.add_class::<cluster::Cluster>()?;
    records::add_classes(m)?;
    for (name, cls) in error::classes(py)?.iter().filter(|(_, c)| c.is_instance_of::<pyo3::types::PyType>()) {
        m.add(name.cast_into::<pyo3::types::PyString>()?, cls)?;
    }
    m.add_function(wrap_pyfunction!(_transport_error_sample, m)?)?;
    m.add_function(wrap_pyfunction!(cluster::adopt, m)?)?;
    // The renders behave as read-only mappings: make isinstance agree.
    let mapping = py.import("collections.abc")?.getattr("Mapping")?;
    mapping.call_method1("register", (py.get_type::<render::Mapping>(),))?;
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
