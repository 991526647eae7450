//! `k8s_bootstrap`: thin Python bindings over k8s-bootstrap-core.

use pyo3::prelude::*;

/// The k8s_bootstrap Python module.
#[pymodule]
fn k8s_bootstrap(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
