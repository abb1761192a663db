//! Converting reply frames into Rust types.

use resp_core::Frame;

/// A type a reply can be converted into.
///
/// Error replies never reach `from_value`: the request fails with the server's error before
/// conversion. Nulls convert into `Option::None`, and are an error for other types.
pub trait FromValue: Sized {
    /// Converts a reply.
    ///
    /// # Errors
    ///
    /// [`ConversionError`] when the reply's type or content does not fit.
    fn from_value(frame: Frame) -> Result<Self, ConversionError>;
}

/// A reply did not have the shape the caller asked for.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot convert the reply into {expected}: got {found}")]
pub struct ConversionError {
    /// What the target type needed, e.g. `"an integer"` or `"i64"`.
    pub expected: &'static str,
    /// What the reply was: its RESP type, and for short scalars its value.
    pub found: String,
}

impl ConversionError {
    /// An error for `frame`, which did not fit `expected`.
    pub fn new(expected: &'static str, frame: &Frame) -> Self {
        let found = match frame {
            Frame::SimpleString(text) | Frame::BulkString(text) if text.len() <= 40 => {
                format!("{} {:?}", frame.type_name(), String::from_utf8_lossy(text))
            }
            Frame::Integer(n) => format!("integer {n}"),
            Frame::Double(x) => format!("double {x}"),
            Frame::Boolean(b) => format!("boolean {b}"),
            Frame::Array(items) | Frame::Set(items) | Frame::Push(items) => {
                format!("{} of {} elements", frame.type_name(), items.len())
            }
            Frame::Map(pairs) => format!("map of {} entries", pairs.len()),
            other => other.type_name().to_string(),
        };
        Self { expected, found }
    }
}

impl FromValue for Frame {
    fn from_value(frame: Frame) -> Result<Self, ConversionError> {
        Ok(frame)
    }
}
