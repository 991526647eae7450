//! Type conversion only: Python objects <-> `serde_json::Value` <-> core
//! types (through their serde impls), and datetimes.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyMapping, PyString, PyTuple};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Number, Value};
use time::OffsetDateTime;

use crate::error::Error;

/// A JSON value as Python objects (dict, list, str, int, float, bool, None).
pub fn to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else {
                PyFloat::new(py, n.as_f64().unwrap_or(f64::NAN)).into_any()
            }
        }
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(a) => {
            let l = PyList::empty(py);
            for x in a {
                l.append(to_py(py, x)?)?;
            }
            l.into_any()
        }
        Value::Object(m) => {
            let d = PyDict::new(py);
            for (k, x) in m {
                d.set_item(k, to_py(py, x)?)?;
            }
            d.into_any()
        }
    })
}

fn type_error(path: &str, obj: &Bound<'_, PyAny>) -> PyErr {
    let ty = obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into());
    let at = if path.is_empty() { String::new() } else { format!(" at {path}") };
    PyTypeError::new_err(format!(
        "unsupported type {ty}{at}: expected dict, list, tuple, str, int, float, bool or None"
    ))
}

/// A Python object made of dicts (str keys), lists, tuples, str, int,
/// float, bool and None as a JSON value; `path` names it in errors.
pub fn from_py(obj: &Bound<'_, PyAny>, path: &str) -> PyResult<Value> {
    if obj.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if obj.cast::<PyInt>().is_ok() {
        if let Ok(i) = obj.extract::<i64>() {
            return Ok(Value::Number(i.into()));
        }
        let u: u64 = obj.extract()?;
        return Ok(Value::Number(u.into()));
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        return Ok(Number::from_f64(f.value()).map(Value::Number).unwrap_or(Value::Null));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Value::String(s.to_cow()?.into_owned()));
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        let mut m = Map::new();
        for (k, v) in d.iter() {
            let key: String = k.extract().map_err(|_| type_error(path, &k))?;
            let sub = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
            m.insert(key, from_py(&v, &sub)?);
        }
        return Ok(Value::Object(m));
    }
    if obj.cast::<PyList>().is_ok() || obj.cast::<PyTuple>().is_ok() {
        let mut a = Vec::new();
        for (i, v) in obj.try_iter()?.enumerate() {
            a.push(from_py(&v?, &format!("{path}[{i}]"))?);
        }
        return Ok(Value::Array(a));
    }
    if let Ok(m) = obj.cast::<PyMapping>() {
        let d = PyDict::new(obj.py());
        for item in m.items()?.try_iter()? {
            let (k, v): (Bound<'_, PyAny>, Bound<'_, PyAny>) = item?.extract()?;
            d.set_item(k, v)?;
        }
        return from_py(d.as_any(), path);
    }
    Err(type_error(path, obj))
}

/// A core value as Python objects (through its serde form).
pub fn ser_to_py<'py, T: Serialize>(py: Python<'py>, v: &T) -> PyResult<Bound<'py, PyAny>> {
    let value = serde_json::to_value(v).map_err(|e| PyTypeError::new_err(e.to_string()))?;
    to_py(py, &value)
}

/// A JSON value as a core type; errors name the field path under `prefix`.
pub fn from_value<T: DeserializeOwned>(value: Value, prefix: &str) -> Result<T, Error> {
    let shown = value.clone();
    serde_path_to_error::deserialize(value).map_err(|e| {
        let inner = e.path().to_string();
        let path = match (prefix, inner.as_str()) {
            ("", p) => p.to_string(),
            (pre, ".") => pre.to_string(),
            (pre, p) if p.starts_with('[') => format!("{pre}{p}"),
            (pre, p) => format!("{pre}.{p}"),
        };
        let value = lookup(&shown, e.path()).map(|v| v.to_string()).unwrap_or_default();
        Error::Convert { path, value, rule: e.into_inner().to_string() }
    })
}

/// The part of `v` that `path` points at, to show it in an error.
fn lookup<'a>(v: &'a Value, path: &serde_path_to_error::Path) -> Option<&'a Value> {
    use serde_path_to_error::Segment;
    let mut cur = v;
    for seg in path.iter() {
        cur = match seg {
            Segment::Seq { index } => cur.get(*index)?,
            Segment::Map { key } | Segment::Enum { variant: key } => cur.get(key.as_str())?,
            Segment::Unknown => return Some(cur),
        };
    }
    Some(cur)
}

/// A Python object as a core type (`path` names the argument in errors).
pub fn extract<T: DeserializeOwned>(obj: &Bound<'_, PyAny>, path: &str) -> PyResult<T> {
    Ok(from_value(from_py(obj, path)?, path)?)
}

/// `base` with the given fields replaced (each converted through serde):
/// the keyword arguments of a builder's constructor, applied to the core
/// builder's own default so that the defaults live in the core only.
pub fn overlay<T: Serialize + DeserializeOwned>(base: T, fields: &[(&str, Option<Bound<'_, PyAny>>)]) -> PyResult<T> {
    if fields.iter().all(|(_, v)| v.is_none()) {
        return Ok(base);
    }
    let mut v = serde_json::to_value(&base).map_err(|e| PyTypeError::new_err(e.to_string()))?;
    if let Value::Object(m) = &mut v {
        for (k, val) in fields {
            if let Some(val) = val {
                m.insert((*k).to_string(), from_py(val, k)?);
            }
        }
    }
    Ok(from_value(v, "")?)
}

/// A `datetime.datetime` (aware, UTC) of an instant.
pub fn datetime<'py>(py: Python<'py>, t: OffsetDateTime) -> PyResult<Bound<'py, PyAny>> {
    let dt = py.import("datetime")?;
    let utc = dt.getattr("timezone")?.getattr("utc")?;
    dt.getattr("datetime")?.call_method1("fromtimestamp", (t.unix_timestamp(), utc))
}

/// An instant from a `datetime.datetime` (through `.timestamp()`: a naive
/// datetime is taken as local time); `None` is now.
pub fn instant(now: Option<&Bound<'_, PyAny>>) -> PyResult<OffsetDateTime> {
    match now {
        None => Ok(OffsetDateTime::now_utc()),
        Some(d) => {
            let ts: f64 = d.call_method0("timestamp")?.extract()?;
            OffsetDateTime::from_unix_timestamp(ts.floor() as i64)
                .map_err(|e| pyo3::exceptions::PyValueError::new_err(format!("now: {e}")))
        }
    }
}

/// `None` or the quoted string, for reprs.
pub fn opt_repr(s: Option<&str>) -> String {
    s.map_or_else(|| "None".to_string(), |s| format!("{s:?}"))
}

/// Python's `OSError(errno, strerror, filename)`, which picks the subclass
/// (`FileNotFoundError`, `PermissionError`, ...) from the errno.
pub fn os_error(py: Python<'_>, e: std::io::Error, path: &std::path::Path) -> PyErr {
    let made = py.import("builtins").and_then(|b| {
        b.getattr("OSError")?.call1((e.raw_os_error().unwrap_or(0), e.to_string(), path.display().to_string()))
    });
    match made {
        Ok(inst) => PyErr::from_value(inst),
        Err(err) => err,
    }
}
