//! Type conversion only. Core values become Python objects through their
//! serde form ([`to_py`]): a struct the binding has a data class for
//! ([`crate::records`]) becomes that class, with every field of the core
//! type, the rest dicts, lists, str, int, float, bool, bytes and None.
//! Python objects become core values through `serde_json::Value`, with the
//! field path and value of a bad one ([`extract`]).

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyMapping, PyString, PyTuple};
use pyo3::IntoPyObjectExt;
use serde::de::DeserializeOwned;
use serde::{Serialize, ser};
use serde_json::{Map, Number, Value};
use time::OffsetDateTime;

use crate::error::{Error, invalid};

/// `v` as Python objects, the structs with a data class as that class.
pub fn to_py<'py, T: Serialize + ?Sized>(py: Python<'py>, v: &T) -> PyResult<Bound<'py, PyAny>> {
    Ok(v.serialize(Ser { py, records: true })?)
}

/// `v` as plain Python objects: the core's JSON form (`--output json`).
pub fn to_plain<'py, T: Serialize + ?Sized>(py: Python<'py>, v: &T) -> PyResult<Bound<'py, PyAny>> {
    Ok(v.serialize(Ser { py, records: false })?)
}

/// A serializer into Python objects. With `records`, a struct that has a
/// data class becomes one, with the fields serde skips as `None`, so that
/// every field of the core type is an attribute.
#[derive(Clone, Copy)]
struct Ser<'py> {
    py: Python<'py>,
    records: bool,
}

type R<'py> = Result<Bound<'py, PyAny>, SerError>;

/// An error while converting into Python (a Python error, or serde's).
#[derive(Debug)]
pub struct SerError(PyErr);

impl std::fmt::Display for SerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}
impl std::error::Error for SerError {}
impl ser::Error for SerError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        SerError(PyTypeError::new_err(msg.to_string()))
    }
}
impl From<PyErr> for SerError {
    fn from(e: PyErr) -> Self {
        SerError(e)
    }
}
impl From<SerError> for PyErr {
    fn from(e: SerError) -> Self {
        e.0
    }
}

macro_rules! scalars {
    ($($f:ident: $t:ty),*) => {$(
        fn $f(self, v: $t) -> R<'py> {
            Ok(v.into_bound_py_any(self.py)?)
        }
    )*};
}

impl<'py> Ser<'py> {
    fn compound(self, kind: Kind, variant: Option<&'static str>) -> Compound<'py> {
        Compound { ser: self, kind, variant, items: Vec::new(), dict: PyDict::new(self.py), key: None }
    }
}

impl<'py> ser::Serializer for Ser<'py> {
    type Ok = Bound<'py, PyAny>;
    type Error = SerError;
    type SerializeSeq = Compound<'py>;
    type SerializeTuple = Compound<'py>;
    type SerializeTupleStruct = Compound<'py>;
    type SerializeTupleVariant = Compound<'py>;
    type SerializeMap = Compound<'py>;
    type SerializeStruct = Compound<'py>;
    type SerializeStructVariant = Compound<'py>;

    scalars!(serialize_bool: bool, serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
        serialize_u8: u8, serialize_u16: u16, serialize_u32: u32, serialize_u64: u64, serialize_f32: f32,
        serialize_f64: f64, serialize_str: &str);
    fn serialize_char(self, v: char) -> R<'py> {
        self.serialize_str(&v.to_string())
    }
    fn serialize_bytes(self, v: &[u8]) -> R<'py> {
        Ok(PyBytes::new(self.py, v).into_any())
    }
    fn serialize_none(self) -> R<'py> {
        Ok(self.py.None().into_bound(self.py))
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> R<'py> {
        v.serialize(self)
    }
    fn serialize_unit(self) -> R<'py> {
        self.serialize_none()
    }
    fn serialize_unit_struct(self, _: &'static str) -> R<'py> {
        self.serialize_none()
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> R<'py> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, v: &T) -> R<'py> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(self, _: &'static str, _: u32, variant: &'static str, v: &T) -> R<'py> {
        let d = PyDict::new(self.py);
        d.set_item(variant, v.serialize(self)?)?;
        Ok(d.into_any())
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Compound<'py>, SerError> {
        Ok(self.compound(Kind::List, None))
    }
    fn serialize_tuple(self, _: usize) -> Result<Compound<'py>, SerError> {
        Ok(self.compound(if self.records { Kind::Tuple } else { Kind::List }, None))
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Compound<'py>, SerError> {
        Ok(self.compound(Kind::List, None))
    }
    fn serialize_tuple_variant(self, _: &'static str, _: u32, variant: &'static str, _: usize) -> Result<Compound<'py>, SerError> {
        Ok(self.compound(Kind::List, Some(variant)))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Compound<'py>, SerError> {
        Ok(self.compound(Kind::Dict(None), None))
    }
    fn serialize_struct(self, name: &'static str, _: usize) -> Result<Compound<'py>, SerError> {
        let record = (self.records && crate::records::is_record(name)).then_some(name);
        Ok(self.compound(Kind::Dict(record), None))
    }
    fn serialize_struct_variant(self, _: &'static str, _: u32, variant: &'static str, _: usize) -> Result<Compound<'py>, SerError> {
        Ok(self.compound(Kind::Dict(None), Some(variant)))
    }
}

/// What a compound value becomes: a list, a tuple, or a dict (the data
/// class of the core struct named, if any).
enum Kind {
    List,
    Tuple,
    Dict(Option<&'static str>),
}

/// A sequence, map or struct being serialized (of an enum variant: then
/// wrapped in `{variant: value}`, serde's externally tagged form).
pub struct Compound<'py> {
    ser: Ser<'py>,
    kind: Kind,
    variant: Option<&'static str>,
    items: Vec<Bound<'py, PyAny>>,
    dict: Bound<'py, PyDict>,
    key: Option<Bound<'py, PyAny>>,
}

impl<'py> Compound<'py> {
    fn push<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), SerError> {
        self.items.push(v.serialize(self.ser)?);
        Ok(())
    }
    fn field<T: Serialize + ?Sized>(&mut self, key: &'static str, v: &T) -> Result<(), SerError> {
        Ok(self.dict.set_item(key, v.serialize(self.ser)?)?)
    }
    fn finish(self) -> R<'py> {
        let py = self.ser.py;
        let value = match self.kind {
            Kind::List => PyList::new(py, self.items)?.into_any(),
            Kind::Tuple => PyTuple::new(py, self.items)?.into_any(),
            Kind::Dict(Some(name)) => crate::records::make(py, name, self.dict)?,
            Kind::Dict(None) => self.dict.into_any(),
        };
        let Some(variant) = self.variant else { return Ok(value) };
        let d = PyDict::new(py);
        d.set_item(variant, value)?;
        Ok(d.into_any())
    }
}

macro_rules! compound {
    ($($tr:ident { $($body:tt)* })*) => {$(
        impl<'py> ser::$tr for Compound<'py> {
            type Ok = Bound<'py, PyAny>;
            type Error = SerError;
            $($body)*
            fn end(self) -> R<'py> {
                self.finish()
            }
        }
    )*};
}

compound! {
    SerializeSeq {
        fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), SerError> { self.push(v) }
    }
    SerializeTuple {
        fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), SerError> { self.push(v) }
    }
    SerializeTupleStruct {
        fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), SerError> { self.push(v) }
    }
    SerializeTupleVariant {
        fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), SerError> { self.push(v) }
    }
    SerializeMap {
        fn serialize_key<T: Serialize + ?Sized>(&mut self, k: &T) -> Result<(), SerError> {
            self.key = Some(k.serialize(Ser { records: false, ..self.ser })?);
            Ok(())
        }
        fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), SerError> {
            let key = self.key.take().ok_or_else(|| <SerError as ser::Error>::custom("a map value without its key"))?;
            Ok(self.dict.set_item(key, v.serialize(self.ser)?)?)
        }
    }
    SerializeStruct {
        fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, v: &T) -> Result<(), SerError> { self.field(key, v) }
        /// A field serde leaves out (`skip_serializing_if`): `None` on a data class.
        fn skip_field(&mut self, key: &'static str) -> Result<(), SerError> {
            if matches!(self.kind, Kind::Dict(Some(_))) {
                self.dict.set_item(key, self.ser.py.None())?;
            }
            Ok(())
        }
    }
    SerializeStructVariant {
        fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, v: &T) -> Result<(), SerError> { self.field(key, v) }
    }
}

fn type_error(path: &str, obj: &Bound<'_, PyAny>) -> PyErr {
    let ty = obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into());
    let at = if path.is_empty() { String::new() } else { format!(" at {path}") };
    PyTypeError::new_err(format!("unsupported type {ty}{at}: expected dict, list, tuple, str, int, float, bool or None"))
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
        return Ok(match obj.extract::<i64>() {
            Ok(i) => Value::Number(i.into()),
            Err(_) => Value::Number(obj.extract::<u64>()?.into()),
        });
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        return Ok(Number::from_f64(f.value()).map(Value::Number).unwrap_or(Value::Null));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Value::String(s.to_cow()?.into_owned()));
    }
    if let Ok(m) = obj.cast::<PyMapping>() {
        let mut out = Map::new();
        for item in m.items()?.try_iter()? {
            let (k, v): (Bound<'_, PyAny>, Bound<'_, PyAny>) = item?.extract()?;
            let key: String = k.extract().map_err(|_| type_error(path, &k))?;
            let sub = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
            out.insert(key, from_py(&v, &sub)?);
        }
        return Ok(Value::Object(out));
    }
    if obj.cast::<PyList>().is_ok() || obj.cast::<PyTuple>().is_ok() {
        let items = obj.try_iter()?.enumerate().map(|(i, v)| from_py(&v?, &format!("{path}[{i}]")));
        return Ok(Value::Array(items.collect::<PyResult<_>>()?));
    }
    Err(type_error(path, obj))
}

/// A JSON value as a core type; errors name the field path under `prefix`
/// and show the value there.
pub fn from_value<T: DeserializeOwned>(value: Value, prefix: &str) -> Result<T, Error> {
    let shown = value.clone();
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = match (prefix, e.path().to_string().as_str()) {
            ("", p) => p.to_string(),
            (pre, ".") => pre.to_string(),
            (pre, p) if p.starts_with('[') => format!("{pre}{p}"),
            (pre, p) => format!("{pre}.{p}"),
        };
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
