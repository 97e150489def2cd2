//! Python values ↔ `serde_json::Value`: how node data, search results, reports and Chef JSON
//! cross the boundary.
//!
//! Hand-written because `pythonize` (the serde bridge) does not yet support the pyo3 release
//! this crate uses; the mapping is the plain JSON one:
//!
//! | Python                          | JSON                       |
//! |---------------------------------|----------------------------|
//! | `None`                          | `null`                     |
//! | `bool`                          | `true` / `false`           |
//! | `int` (fits i64 or u64)         | number                     |
//! | `float` (finite)                | number                     |
//! | `str`                           | string                     |
//! | `list`, `tuple`                 | array                      |
//! | `dict` with `str` keys          | object (insertion order)   |
//!
//! Anything else (bytes, sets, NaN, non-string keys, huge ints) is a `TypeError`/`ValueError`
//! naming the JSON path of the offending value, e.g. `$.override.ports[2]`.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde_json::{Map, Number, Value};

/// Converts a Python value to JSON; errors name the JSON path of the value that does not fit.
pub fn py_to_json(obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    to_json_at(obj, &mut String::from("$"))
}

fn to_json_at(obj: &Bound<'_, PyAny>, path: &mut String) -> PyResult<Value> {
    if obj.is_none() {
        return Ok(Value::Null);
    }
    // bool before int: Python's bool is an int subclass.
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if obj.is_instance_of::<PyInt>() {
        if let Ok(i) = obj.extract::<i64>() {
            return Ok(Value::from(i));
        }
        if let Ok(u) = obj.extract::<u64>() {
            return Ok(Value::from(u));
        }
        return Err(PyValueError::new_err(format!(
            "{path}: integer {obj} does not fit in 64 bits"
        )));
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        let v = f.value();
        return Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| PyValueError::new_err(format!("{path}: {v} is not a JSON number")));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Value::String(s.to_cow()?.into_owned()));
    }
    if let Ok(dict) = obj.cast::<PyDict>() {
        let mut map = Map::with_capacity(dict.len());
        for (key, value) in dict.iter() {
            let Ok(key) = key.cast::<PyString>() else {
                return Err(PyTypeError::new_err(format!(
                    "{path}: JSON object keys must be str, not {}",
                    key.get_type().name()?
                )));
            };
            let key = key.to_cow()?.into_owned();
            let len = path.len();
            path.push('.');
            path.push_str(&key);
            let value = to_json_at(&value, path)?;
            path.truncate(len);
            map.insert(key, value);
        }
        return Ok(Value::Object(map));
    }
    if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        let mut items = Vec::new();
        for (i, item) in obj.try_iter()?.enumerate() {
            let len = path.len();
            path.push_str(&format!("[{i}]"));
            items.push(to_json_at(&item?, path)?);
            path.truncate(len);
        }
        return Ok(Value::Array(items));
    }
    Err(PyTypeError::new_err(format!(
        "{path}: {} is not JSON serializable",
        obj.get_type().name()?
    )))
}

/// Converts JSON to the matching Python value (objects become `dict`s in document order).
pub fn json_to_py<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else {
                // Without serde_json's arbitrary_precision every number is one of the three.
                n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any()
            }
        }
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(json_to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, v) in map {
                dict.set_item(k, json_to_py(py, v)?)?;
            }
            dict.into_any()
        }
    })
}

/// A JSON value on its way to Python: the result type of coroutines (`*_async`), which convert
/// their result only once they hold the GIL again.
#[derive(Debug, Clone, PartialEq)]
pub struct Json(pub Value);

impl<'py> IntoPyObject<'py> for Json {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Self::Output> {
        json_to_py(py, &self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips_json_through_python() {
        Python::initialize();
        Python::attach(|py| {
            let value = json!({
                "name": "web-1",
                "zeta": 1,
                "alpha": [true, null, -3, 18446744073709551615u64, 1.5, "x"],
                "automatic": {"ec2": {"instance_id": "i-0123"}}
            });
            let obj = json_to_py(py, &value).unwrap();
            let keys: Vec<String> = obj.cast::<PyDict>().unwrap().keys().extract().unwrap();
            assert_eq!(keys, ["name", "zeta", "alpha", "automatic"]);
            assert_eq!(py_to_json(&obj).unwrap(), value);
        });
    }

    #[test]
    fn errors_name_the_json_path() {
        Python::initialize();
        Python::attach(|py| {
            let obj = py.eval(c"{'a': {'b': [1, 2, {3}]}}", None, None).unwrap();
            let err = py_to_json(&obj).unwrap_err();
            assert!(err.is_instance_of::<PyTypeError>(py));
            assert!(err.to_string().contains("$.a.b[2]"), "{err}");

            let nan = py.eval(c"{'x': float('nan')}", None, None).unwrap();
            let err = py_to_json(&nan).unwrap_err();
            assert!(err.is_instance_of::<PyValueError>(py));
            assert!(err.to_string().contains("$.x"), "{err}");

            let key = py.eval(c"{1: 'a'}", None, None).unwrap();
            assert!(
                py_to_json(&key)
                    .unwrap_err()
                    .to_string()
                    .contains("keys must be str")
            );

            let big = py.eval(c"[2**70]", None, None).unwrap();
            assert!(py_to_json(&big).unwrap_err().to_string().contains("$[0]"));
        });
    }
}
