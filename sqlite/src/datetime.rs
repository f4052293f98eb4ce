//! The default date/datetime adapters and the `"date"`/`"timestamp"` converters that
//! Python's `sqlite3.dbapi2` registers at import (spec §1.1). Deprecated since Python 3.12
//! (each use warns there), so pydbm makes them opt-in: call [`register_default_datetime`].

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::value::{register_adapter, register_converter, Object, Value};
use crate::warning::{warn, WarningCategory};

/// `datetime.date` (naive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Date {
    /// 1..=9999.
    pub year: i32,
    /// 1..=12.
    pub month: u32,
    /// 1..=days in month.
    pub day: u32,
}

/// `datetime.datetime` (naive, no tzinfo).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime {
    /// The date part.
    pub date: Date,
    /// 0..=23.
    pub hour: u32,
    /// 0..=59.
    pub minute: u32,
    /// 0..=59.
    pub second: u32,
    /// 0..=999999.
    pub microsecond: u32,
}

fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl Date {
    /// `datetime.date(y, m, d)` with Python's ValueError texts for bad fields.
    pub fn new(year: i32, month: u32, day: u32) -> Result<Date> {
        if !(1..=9999).contains(&year) {
            return Err(Error::value(format!("year {year} is out of range")));
        }
        if !(1..=12).contains(&month) {
            return Err(Error::value("month must be in 1..12"));
        }
        if day < 1 || day > days_in_month(year, month) {
            return Err(Error::value("day is out of range for month"));
        }
        Ok(Date { year, month, day })
    }

    /// `date.isoformat()`: `YYYY-MM-DD`.
    pub fn isoformat(&self) -> String {
        format!("{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl DateTime {
    /// `datetime.datetime(...)` with Python's ValueError texts for bad fields.
    pub fn new(
        date: Date,
        hour: u32,
        minute: u32,
        second: u32,
        microsecond: u32,
    ) -> Result<DateTime> {
        if hour > 23 {
            return Err(Error::value("hour must be in 0..23"));
        }
        if minute > 59 {
            return Err(Error::value("minute must be in 0..59"));
        }
        if second > 59 {
            return Err(Error::value("second must be in 0..59"));
        }
        if microsecond > 999_999 {
            return Err(Error::value("microsecond must be in 0..999999"));
        }
        Ok(DateTime {
            date,
            hour,
            minute,
            second,
            microsecond,
        })
    }

    /// `datetime.isoformat(" ")`: `YYYY-MM-DD HH:MM:SS[.ffffff]` (fraction only when
    /// non-zero).
    pub fn isoformat(&self) -> String {
        let mut s = format!(
            "{} {:02}:{:02}:{:02}",
            self.date.isoformat(),
            self.hour,
            self.minute,
            self.second
        );
        if self.microsecond != 0 {
            s.push_str(&format!(".{:06}", self.microsecond));
        }
        s
    }
}

impl Object for Date {
    fn type_name(&self) -> &str {
        "date"
    }
    fn eq_object(&self, other: &dyn Object) -> bool {
        (other as &dyn std::any::Any).downcast_ref::<Date>() == Some(self)
    }
}

impl Object for DateTime {
    fn type_name(&self) -> &str {
        "datetime"
    }
    fn eq_object(&self, other: &dyn Object) -> bool {
        (other as &dyn std::any::Any).downcast_ref::<DateTime>() == Some(self)
    }
}

fn int(b: &[u8]) -> Result<i64> {
    let s = std::str::from_utf8(b).map_err(|_| Error::value("invalid literal for int()"))?;
    s.trim()
        .parse::<i64>()
        .map_err(|_| Error::value(format!("invalid literal for int() with base 10: {s:?}")))
}

fn field(v: i64) -> Result<u32> {
    u32::try_from(v).map_err(|_| Error::value("field out of range"))
}

/// Python's `convert_date`: `b"YYYY-MM-DD"` → [`Date`].
pub fn convert_date(b: &[u8]) -> Result<Date> {
    let parts: Vec<&[u8]> = b.split(|&c| c == b'-').collect();
    if parts.len() != 3 {
        return Err(Error::value(format!(
            "expected 3 arguments, got {}",
            parts.len()
        )));
    }
    let year = i32::try_from(int(parts[0])?).map_err(|_| Error::value("year is out of range"))?;
    Date::new(year, field(int(parts[1])?)?, field(int(parts[2])?)?)
}

/// Python's `convert_timestamp`: `b"YYYY-MM-DD HH:MM:SS[.f…]"` → [`DateTime`]; the
/// fraction is padded or cut to 6 digits.
pub fn convert_timestamp(b: &[u8]) -> Result<DateTime> {
    let parts: Vec<&[u8]> = b.split(|&c| c == b' ').collect();
    if parts.len() != 2 {
        return Err(Error::value(format!(
            "not enough values to unpack (expected 2, got {})",
            parts.len()
        )));
    }
    let date = convert_date(parts[0])?;
    let mut t = parts[1].splitn(2, |&c| c == b'.');
    let hms: Vec<&[u8]> = t.next().unwrap_or(b"").split(|&c| c == b':').collect();
    if hms.len() != 3 {
        return Err(Error::value("expected HH:MM:SS"));
    }
    let micro = match t.next() {
        Some(frac) => {
            let s = std::str::from_utf8(frac).map_err(|_| Error::value("bad fraction"))?;
            let mut digits: String = s.chars().take(6).collect();
            while digits.chars().count() < 6 {
                digits.push('0');
            }
            field(int(digits.as_bytes())?)?
        }
        None => 0,
    };
    DateTime::new(
        date,
        field(int(hms[0])?)?,
        field(int(hms[1])?)?,
        field(int(hms[2])?)?,
        micro,
    )
}

/// The body of the `sqlite_datetime` fuzz target: `data` through the default `"date"`
/// and `"timestamp"` converters; a value that converts prints (`isoformat`) to text that
/// converts back to it. Errors are fine; panics are bugs.
#[cfg(any(test, feature = "fuzzing"))]
pub fn fuzz_converters(data: &[u8]) {
    if let Ok(d) = convert_date(data) {
        assert_eq!(
            convert_date(d.isoformat().as_bytes()).expect("an isoformat date converts"),
            d
        );
    }
    if let Ok(t) = convert_timestamp(data) {
        let text = t.isoformat();
        assert_eq!(
            convert_timestamp(text.as_bytes()).expect("an isoformat timestamp converts"),
            t,
            "{text}"
        );
    }
}

/// The DeprecationWarning text CPython 3.12+ emits on each use of the default `what`
/// (`"date adapter"`, `"datetime adapter"`, `"date converter"`, `"timestamp converter"`).
fn deprecated(what: &str) -> Result<()> {
    warn(
        WarningCategory::DeprecationWarning,
        format!(
            "The default {what} is deprecated as of Python 3.12; see the sqlite3 documentation for suggested replacement recipes"
        ),
    )
}

/// Registers what `sqlite3.dbapi2` registers at import: adapters for [`Date`] and
/// [`DateTime`] (ISO text) and the converters `"date"` and `"timestamp"` (which return
/// `Value::Object` of those types). Deprecated in Python 3.12+; opt-in here. Like
/// CPython 3.12+, every use emits a DeprecationWarning ([`crate::warning`]) before it
/// adapts or converts (under [`crate::WarningAction::Error`] it fails instead).
pub fn register_default_datetime() {
    register_adapter(|d: &Date| {
        deprecated("date adapter")?;
        Ok(Value::Text(d.isoformat()))
    });
    register_adapter(|d: &DateTime| {
        deprecated("datetime adapter")?;
        Ok(Value::Text(d.isoformat()))
    });
    register_converter("date", |b| {
        deprecated("date converter")?;
        Ok(Value::Object(Arc::new(convert_date(b)?)))
    });
    register_converter("timestamp", |b| {
        deprecated("timestamp converter")?;
        Ok(Value::Object(Arc::new(convert_timestamp(b)?)))
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{connect, ConnectOptions, PARSE_DECLTYPES};

    #[test]
    fn round_trip_like_python_defaults() {
        register_default_datetime();
        let c = connect(
            ":memory:",
            &ConnectOptions {
                detect_types: PARSE_DECLTYPES,
                ..Default::default()
            },
        )
        .unwrap();
        c.execute("create table t(d date, ts timestamp)", ())
            .unwrap();
        let d = Date::new(2024, 2, 29).unwrap();
        let ts = DateTime::new(d, 13, 5, 9, 120).unwrap();
        c.execute(
            "insert into t values (?, ?)",
            vec![Value::Object(Arc::new(d)), Value::Object(Arc::new(ts))],
        )
        .unwrap();
        // The stored text is Python's isoformat / isoformat(" ").
        let raw = c
            .execute("select cast(d as text), cast(ts as text) from t", ())
            .unwrap()
            .fetchone()
            .unwrap()
            .unwrap();
        assert_eq!(raw.repr(), "('2024-02-29', '2024-02-29 13:05:09.000120')");
        let back = c
            .execute("select d, ts from t", ())
            .unwrap()
            .fetchone()
            .unwrap()
            .unwrap();
        let vals = back.as_tuple().unwrap();
        assert_eq!(vals[0], Value::Object(Arc::new(d)));
        assert_eq!(vals[1], Value::Object(Arc::new(ts)));
        // Fraction padded/cut to 6 digits, as convert_timestamp does.
        assert_eq!(
            convert_timestamp(b"2024-01-02 03:04:05.5")
                .unwrap()
                .microsecond,
            500_000
        );
        assert_eq!(
            convert_timestamp(b"2024-01-02 03:04:05.1234567")
                .unwrap()
                .microsecond,
            123_456
        );
        assert_eq!(
            convert_date(b"2023-02-29").unwrap_err().message,
            "day is out of range for month"
        );
    }
}
