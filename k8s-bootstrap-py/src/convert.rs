//! Type conversion only. Core values become Python objects through their
//! serde form with `pythonize` ([`to_py`]): a struct the binding has a data
//! class for ([`crate::records`]) becomes that class, the rest dicts, lists,
//! tuples, str, int, float, bool, bytes and None. Python objects become core
//! values through `serde_json::Value`, with the field path and value of a
//! bad one ([`extract`]).
//!
//! pythonize (not a Serializer of our own): it is the maintained serde
//! bridge for pyo3 and hands us each struct's name, which is all the data
//! classes need; the fields serde skips are filled in by `records::make`.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyMapping, PyString};
use pythonize::{PythonizeNamedMappingType, PythonizeTypes};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use time::OffsetDateTime;

use crate::error::{Error, invalid};

/// The key under which a struct's dict names its data class until [`records`] makes it.
const RECORD: &str = "\0record";

/// pythonize's output types: plain dicts and lists, a struct with a data
/// class marked with its name.
struct Records;
impl PythonizeTypes for Records {
    type Map = PyDict;
    type NamedMap = Records;
    type List = PyList;
}
impl PythonizeNamedMappingType for Records {
    type Builder<'py> = Bound<'py, PyDict>;
    fn builder<'py>(py: Python<'py>, _: usize, name: &'static str) -> PyResult<Self::Builder<'py>> {
        let d = PyDict::new(py);
        if crate::records::is_record(name) {
            d.set_item(RECORD, name)?;
        }
        Ok(d)
    }
    fn push_field<'py>(d: &mut Self::Builder<'py>, name: Bound<'py, PyString>, value: Bound<'py, PyAny>) -> PyResult<()> {
        d.set_item(name, value)
    }
    fn finish<'py>(d: Self::Builder<'py>) -> PyResult<Bound<'py, PyMapping>> {
        Ok(d.into_mapping())
    }
}

/// `v` as Python objects, the structs with a data class as that class.
pub fn to_py<'py, T: Serialize + ?Sized>(py: Python<'py>, v: &T) -> PyResult<Bound<'py, PyAny>> {
    records(pythonize::pythonize_custom::<Records, _>(py, v)?)
}

/// The marked dicts in `v` (made by [`Records`]) as their data classes.
fn records(v: Bound<'_, PyAny>) -> PyResult<Bound<'_, PyAny>> {
    if let Ok(d) = v.cast::<PyDict>() {
        for (k, x) in d.items().extract::<Vec<(Bound<'_, PyAny>, Bound<'_, PyAny>)>>()? {
            d.set_item(k, records(x)?)?;
        }
        if let Some(name) = d.get_item(RECORD)? {
            d.del_item(RECORD)?;
            return crate::records::make(v.py(), &name.extract::<String>()?, d.clone());
        }
    } else if let Ok(l) = v.cast::<PyList>() {
        for (i, x) in l.iter().enumerate() {
            l.set_item(i, records(x)?)?;
        }
    }
    Ok(v)
}

/// `v` as plain Python objects: the core's JSON form (`--output json`).
pub fn to_plain<'py, T: Serialize + ?Sized>(py: Python<'py>, v: &T) -> PyResult<Bound<'py, PyAny>> {
    let json = serde_json::to_value(v).map_err(|e| PyTypeError::new_err(e.to_string()))?;
    Ok(pythonize::pythonize(py, &json)?)
}

/// A Python object made of dicts (str keys), lists, tuples, str, int,
/// float, bool and None as a JSON value; `prefix` names it in errors (a
/// `TypeError` naming the field path of anything else).
pub fn from_py(obj: &Bound<'_, PyAny>, prefix: &str) -> PyResult<Value> {
    serde_path_to_error::deserialize(&mut pythonize::Depythonizer::from_object(obj)).map_err(|e| {
        let at = join(prefix, e.path());
        PyTypeError::new_err(format!("{} at {at}: expected dict, list, tuple, str, int, float, bool or None", e.into_inner()))
    })
}

/// `prefix` and a path below it, as one field path.
fn join(prefix: &str, path: &serde_path_to_error::Path) -> String {
    match (prefix, path.to_string().as_str()) {
        ("", p) => p.to_string(),
        (pre, ".") => pre.to_string(),
        (pre, p) if p.starts_with('[') => format!("{pre}{p}"),
        (pre, p) => format!("{pre}.{p}"),
    }
}

/// A JSON value as a core type; errors name the field path under `prefix`
/// and show the value there.
pub fn from_value<T: DeserializeOwned>(value: Value, prefix: &str) -> Result<T, Error> {
    let shown = value.clone();
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = join(prefix, e.path());
        let value = lookup(&shown, e.path()).map(|v| v.to_string()).unwrap_or_default();
        invalid(path, value, e.into_inner().to_string())
    })
}

/// The part of `v` that `path` points at, to show it in an error.
fn lookup<'a>(v: &'a Value, path: &serde_path_to_error::Path) -> Option<&'a Value> {
    use serde_path_to_error::Segment;
    path.iter().try_fold(v, |cur, seg| match seg {
        Segment::Seq { index } => cur.get(*index),
        Segment::Map { key } | Segment::Enum { variant: key } => cur.get(key.as_str()),
        Segment::Unknown => Some(cur),
    })
}

/// A Python object as a core type (`path` names the argument in errors).
pub fn extract<T: DeserializeOwned>(obj: &Bound<'_, PyAny>, path: &str) -> PyResult<T> {
    Ok(from_value(from_py(obj, path)?, path)?)
}

/// `base` with the keyword arguments `kw` set on it (each through serde;
/// `None` keeps the base's value): a builder's constructor applied to the
/// core builder's own default, so that the keywords and their defaults are
/// the core type's fields. An unknown keyword is a `TypeError`, as Python's.
pub fn overlay<T: Serialize + DeserializeOwned>(base: T, kw: Option<&Bound<'_, PyDict>>, what: &str) -> PyResult<T> {
    let Some(kw) = kw.filter(|k| !k.is_empty()) else { return Ok(base) };
    let Value::Object(mut fields) = serde_json::to_value(&base).map_err(|e| PyTypeError::new_err(e.to_string()))? else {
        return Err(PyTypeError::new_err(format!("{what} has no fields")));
    };
    for (k, v) in kw.iter() {
        let key: String = k.extract()?;
        if !fields.contains_key(&key) {
            return Err(PyTypeError::new_err(format!("{what}() got an unexpected keyword argument '{key}'")));
        }
        if !v.is_none() {
            fields.insert(key.clone(), from_py(&v, &key)?);
        }
    }
    Ok(from_value(Value::Object(fields), "")?)
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
    let Some(d) = now else { return Ok(OffsetDateTime::now_utc()) };
    let ts: f64 = d.call_method0("timestamp")?.extract()?;
    OffsetDateTime::from_unix_timestamp(ts.floor() as i64).map_err(|e| PyValueError::new_err(format!("now: {e}")))
}

/// Reads a file as text; a failure is Python's `OSError(errno, strerror,
/// filename)`, which picks the subclass (`FileNotFoundError`, ...).
pub fn read_text(py: Python<'_>, path: &std::path::Path) -> PyResult<String> {
    std::fs::read_to_string(path).map_err(|e| {
        let made = py.import("builtins").and_then(|b| {
            b.getattr("OSError")?.call1((e.raw_os_error().unwrap_or(0), e.to_string(), path.display().to_string()))
        });
        made.map(PyErr::from_value).unwrap_or_else(|err| err)
    })
}
