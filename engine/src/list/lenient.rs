//! Liberal reading of values other clients wrote (PROTOCOL.md "Document",
//! "Reading"): a client in another language writes the documented keys with
//! its own library's defaults, and the reader accepts every shape it can
//! make sense of instead of skipping it silently.
//!
//! - A string may be a scalar string or a Text object (JS Automerge 2's
//!   default for strings).
//! - An integer may be an int, uint, counter or timestamp; a float with an
//!   integral value, or a decimal string, is read too and reported.
//! - A time below 10^11 is in seconds (10^11 ms is March 1973; 10^11 s is
//!   the year 5138), and is read as milliseconds.
//!
//! What cannot be read is reported through [`Warnings`], bounded, so `show`
//! can say why a list looks emptier than its history.

use automerge::{Automerge, ObjId, ObjType, ReadDoc, ScalarValue, Value, ValueRef};

/// Times below this are seconds, not milliseconds (see the module docs).
pub const SECONDS_BELOW: i64 = 100_000_000_000;

/// Most warnings kept for one read; one more line says how many were left out.
pub const MAX_WARNINGS: usize = 20;

/// A unix time as milliseconds, whether it was written in milliseconds (as
/// this project does) or seconds (JS Automerge's default change time).
pub fn time_ms(t: i64) -> i64 {
    if t != 0 && t.unsigned_abs() < SECONDS_BELOW as u64 {
        t.saturating_mul(1000)
    } else {
        t
    }
}

/// Warnings about shapes the reader could not (fully) read, bounded.
#[derive(Debug, Default, Clone)]
pub(crate) struct Warnings {
    kept: Vec<String>,
    dropped: usize,
}

impl Warnings {
    /// Note one anomaly.
    pub fn push(&mut self, text: String) {
        if self.kept.len() < MAX_WARNINGS {
            self.kept.push(text);
        } else {
            self.dropped += 1;
        }
    }

    /// The warnings, with a last line counting those left out.
    pub fn into_vec(mut self) -> Vec<String> {
        if self.dropped > 0 {
            self.kept
                .push(format!("… and {} more warnings like these", self.dropped));
        }
        self.kept
    }
}

/// "a string", "a map", … for a warning.
pub(crate) fn kind(v: &ValueRef<'_>) -> &'static str {
    match v {
        ValueRef::Object(ObjType::Map) | ValueRef::Object(ObjType::Table) => "a map",
        ValueRef::Object(ObjType::List) => "a list",
        ValueRef::Object(ObjType::Text) => "a text",
        ValueRef::Scalar(s) => scalar_kind(&ScalarValue::from(s.clone())),
    }
}

/// [`kind`] for an owned value.
pub(crate) fn value_kind(v: &Value<'_>) -> &'static str {
    match v {
        Value::Object(ObjType::Map) | Value::Object(ObjType::Table) => "a map",
        Value::Object(ObjType::List) => "a list",
        Value::Object(ObjType::Text) => "a text",
        Value::Scalar(s) => scalar_kind(s.as_ref()),
    }
}

fn scalar_kind(s: &ScalarValue) -> &'static str {
    match s {
        ScalarValue::Str(_) => "a string",
        ScalarValue::Int(_) | ScalarValue::Uint(_) => "an integer",
        ScalarValue::F64(_) => "a float",
        ScalarValue::Counter(_) => "a counter",
        ScalarValue::Timestamp(_) => "a timestamp",
        ScalarValue::Boolean(_) => "a boolean",
        ScalarValue::Null => "null",
        ScalarValue::Bytes(_) => "bytes",
        _ => "an unknown scalar",
    }
}

/// The string held by a map entry: a scalar string, or a Text object's
/// content. `id` is the entry's object id (used for Text).
pub(crate) fn entry_str(doc: &Automerge, value: &ValueRef<'_>, id: &ObjId) -> Option<String> {
    match value {
        ValueRef::Scalar(s) => match ScalarValue::from(s.clone()) {
            ScalarValue::Str(s) => Some(s.to_string()),
            _ => None,
        },
        ValueRef::Object(ObjType::Text) => doc.text(id).ok(),
        ValueRef::Object(_) => None,
    }
}

/// [`entry_str`] for a value from `get` / `get_all`.
pub(crate) fn value_str(doc: &Automerge, value: &Value<'_>, id: &ObjId) -> Option<String> {
    match value {
        Value::Scalar(s) => match s.as_ref() {
            ScalarValue::Str(s) => Some(s.to_string()),
            _ => None,
        },
        Value::Object(ObjType::Text) => doc.text(id).ok(),
        Value::Object(_) => None,
    }
}

/// An integer read from a scalar: `Ok` for the documented integer types,
/// `Err(Some(n))` for a value read liberally (a float or a decimal string:
/// the caller reports it), `Err(None)` for no number at all.
pub(crate) fn int_of(s: &ScalarValue) -> Result<i64, Option<i64>> {
    match s {
        ScalarValue::Int(i) => Ok(*i),
        ScalarValue::Uint(u) => Ok(i64::try_from(*u).unwrap_or(i64::MAX)),
        ScalarValue::Timestamp(t) => Ok(*t),
        ScalarValue::Counter(c) => Ok(i64::from(c)),
        // An integral float is what JS writes for a number computed as one.
        ScalarValue::F64(f) if f.is_finite() && f.fract() == 0.0 && f.abs() < 9.0e18 => {
            Ok(*f as i64)
        }
        ScalarValue::F64(f) if f.is_finite() && f.abs() < 9.0e18 => Err(Some(f.trunc() as i64)),
        ScalarValue::Str(s) => Err(s.trim().parse::<i64>().ok()),
        _ => Err(None),
    }
}

/// The integer of a map entry, reporting anything read liberally or not at
/// all (as `what`) to `warn`; 0 when unreadable.
pub(crate) fn entry_int(value: &ValueRef<'_>, what: &str, warn: &mut Vec<String>) -> i64 {
    match value {
        ValueRef::Scalar(s) => num(&ScalarValue::from(s.clone()), what, warn),
        ValueRef::Object(_) => {
            warn.push(format!(
                "{what} is {}, not a number: read as 0",
                kind(value)
            ));
            0
        }
    }
}

/// [`entry_int`] for a scalar.
pub(crate) fn num(s: &ScalarValue, what: &str, warn: &mut Vec<String>) -> i64 {
    match int_of(s) {
        Ok(n) => n,
        Err(Some(n)) => {
            warn.push(format!("{what} is {} ({s}), read as {n}", scalar_kind(s)));
            n
        }
        Err(None) => {
            warn.push(format!(
                "{what} is {} ({s}), not a number: read as 0",
                scalar_kind(s)
            ));
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_read_liberally() {
        assert_eq!(int_of(&ScalarValue::Int(-3)), Ok(-3));
        assert_eq!(int_of(&ScalarValue::Uint(u64::MAX)), Ok(i64::MAX));
        assert_eq!(int_of(&ScalarValue::counter(4)), Ok(4));
        assert_eq!(int_of(&ScalarValue::F64(2.0)), Ok(2));
        assert_eq!(int_of(&ScalarValue::F64(2.5)), Err(Some(2)));
        assert_eq!(int_of(&ScalarValue::F64(f64::NAN)), Err(None));
        assert_eq!(int_of(&ScalarValue::F64(1e300)), Err(None));
        assert_eq!(int_of(&ScalarValue::Str(" 7 ".into())), Err(Some(7)));
        assert_eq!(int_of(&ScalarValue::Str("x".into())), Err(None));
        assert_eq!(int_of(&ScalarValue::Boolean(true)), Err(None));
    }

    #[test]
    fn seconds_become_milliseconds() {
        assert_eq!(time_ms(1_700_000_000), 1_700_000_000_000);
        assert_eq!(time_ms(1_700_000_000_000), 1_700_000_000_000);
        assert_eq!(time_ms(0), 0);
        assert_eq!(time_ms(i64::MIN), i64::MIN);
        assert_eq!(time_ms(-5), -5000);
    }
}
