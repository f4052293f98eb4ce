//! `sqlite3.Row` (spec §1.6): a tuple whose items can also be found by column name.

use std::sync::Arc;

use crate::error::{Error, ErrorKind, Result};
use crate::value::{Tuple, Value};

/// A result row with its column names.
///
/// Index by position (negative counts from the end) with [`Row::get`], by name with
/// [`Row::by_name`] (ASCII case-insensitive, first match wins). Two rows are equal when
/// their column names and their values are equal (a `Row` never equals a tuple).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    columns: Arc<[String]>,
    values: Tuple,
}

impl Row {
    /// A row over `columns` (shared by every row of one result) and `values`.
    pub fn new(columns: Arc<[String]>, values: impl Into<Tuple>) -> Row {
        Row {
            columns,
            values: values.into(),
        }
    }

    /// `row[i]`; negative `i` counts from the end. Out of range: Python's
    /// `IndexError: tuple index out of range`.
    pub fn get(&self, i: isize) -> Result<&Value> {
        let n = self.values.len() as isize;
        let j = if i < 0 { i + n } else { i };
        if j < 0 || j >= n {
            return Err(Error::new(
                ErrorKind::IndexError,
                "tuple index out of range",
            ));
        }
        Ok(&self.values[j as usize])
    }

    /// `row['name']`: the first column whose name equals `name` ignoring ASCII case
    /// (non-ASCII letters must match exactly). Missing: `IndexError: No item with that key`.
    pub fn by_name(&self, name: &str) -> Result<&Value> {
        self.columns
            .iter()
            .position(|c| c.eq_ignore_ascii_case(name))
            .map(|i| &self.values[i])
            .ok_or_else(|| Error::new(ErrorKind::IndexError, "No item with that key"))
    }

    /// `row[a:b]` with Python's clamping (negative bounds count from the end).
    pub fn slice(&self, start: isize, stop: isize) -> Vec<Value> {
        let n = self.values.len() as isize;
        let clamp = |x: isize| {
            let x = if x < 0 { x + n } else { x };
            x.clamp(0, n) as usize
        };
        let (a, b) = (clamp(start), clamp(stop));
        if a >= b {
            Vec::new()
        } else {
            self.values[a..b].to_vec()
        }
    }

    /// `row.keys()`: the column names as given.
    pub fn keys(&self) -> Vec<String> {
        self.columns.to_vec()
    }

    /// `len(row)`.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether the row has no columns.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// `tuple(row)`.
    pub fn values(&self) -> &[Value] {
        &self.values
    }

    /// `tuple(row)` as a [`Tuple`] sharing this row's values.
    pub fn to_tuple(&self) -> Tuple {
        self.values.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> Row {
        Row::new(
            Arc::from(vec![
                "Foo".to_string(),
                "bar".into(),
                "foo".into(),
                "É".into(),
            ]),
            vec![Value::Int(1), Value::Int(2), Value::Int(3), Value::Int(4)],
        )
    }

    #[test]
    fn lookup_like_python() {
        // spec §1.6: select 1 as Foo, 2 as bar, 3 as foo → r['foo'] == 1
        let r = row();
        assert_eq!(r.by_name("foo").unwrap(), &Value::Int(1));
        assert_eq!(r.by_name("BAR").unwrap(), &Value::Int(2));
        assert_eq!(r.by_name("É").unwrap(), &Value::Int(4));
        assert_eq!(r.by_name("é").unwrap_err().message, "No item with that key");
        assert_eq!(r.get(-1).unwrap(), &Value::Int(4));
        assert_eq!(r.get(4).unwrap_err().message, "tuple index out of range");
        assert_eq!(r.slice(1, -1), vec![Value::Int(2), Value::Int(3)]);
        assert_eq!(r.keys(), vec!["Foo", "bar", "foo", "É"]);
        let other = Row::new(Arc::from(vec!["x".to_string()]), vec![Value::Int(1)]);
        assert_ne!(r, other);
        assert_eq!(r, row());
    }
}
