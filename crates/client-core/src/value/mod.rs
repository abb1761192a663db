//! Converting reply frames into Rust types.
//!
//! The caller of a typed command picks the reply type (`client.get::<Option<String>>("k")`),
//! and [`FromValue`] turns the reply [`Frame`] into it. The conversions are written so that the
//! same Rust type works whichever protocol the connection speaks: a RESP3 map and a RESP2 flat
//! `[k, v, k, v]` array both become a `HashMap`, a RESP3 double and a RESP2 bulk string `"3.5"`
//! both become an `f64`.
//!
//! What each implementation accepts:
//!
//! - **Integers** (`i8`..`i128`, `u8`..`u128`, `isize`, `usize`): an integer; decimal text in a
//!   simple, bulk or verbatim string; a big number; a double with no fraction; a boolean as 1
//!   or 0. A value out of the type's range is an error, never wrapped or saturated.
//! - **`f32`, `f64`**: a double, an integer, a big number, or decimal text including `inf`,
//!   `-inf` and `nan`.
//! - **`bool`**: a boolean; an integer (0 is false, any other value true); the text `1` or `0`;
//!   the status `OK` (true) and a null (false), which is how `SET ... NX` answers.
//! - **`String`**: a simple, bulk or verbatim string, checked to be UTF-8; an integer, double or
//!   big number as its decimal text. A null is an error: read an `Option<String>`.
//! - **`Vec<u8>`, [`Bytes`](bytes::Bytes)**: the same as `String` without the UTF-8 check;
//!   `Bytes` takes the payload out of the frame without copying. `Vec<u8>` also reads an array
//!   of small integers.
//! - **`()`**: any reply that is not an error.
//! - **`Option<T>`**: any of the three nulls as `None`, anything else as `T`.
//! - **`Vec<T>`, `VecDeque<T>`, `HashSet<T>`, `BTreeSet<T>`**: an array, set or push, element by
//!   element; a map as its keys and values in turn (the RESP2 layout of the same data); a null
//!   as empty.
//! - **`HashMap<K, V>`, `BTreeMap<K, V>`, `Vec<(K, V)>`**: a map, or an array of key-value
//!   pairs, either flat (`[k, v, k, v]`, RESP2) or nested (`[[k, v], [k, v]]`); a null as
//!   empty.
//! - **Tuples** of 1 to 12 elements: an array, set or push of exactly that length; a 2-tuple
//!   also reads a map of one entry.
//! - **[`Frame`]**: the reply as it is, attributes and errors included.
//!
//! Every conversion but [`Frame`]'s looks through RESP3 attributes. An error reply that reaches
//! a conversion (the request layer normally fails the request before that) is a
//! [`ConversionError`] that quotes the server's message.
//!
//! With the `serde` feature, `Json<T>` parses a string reply holding JSON into any
//! `Deserialize` type, and `Serde<T>` deserializes the reply's own structure (a map into a
//! struct, an array into a sequence, ...).

mod collection;
mod scalar;
mod text;
mod tuple;

#[cfg(feature = "serde")]
mod deserializer;
#[cfg(feature = "serde")]
mod json;

use resp_core::Frame;

#[cfg(feature = "serde")]
pub use self::deserializer::{FrameDeserializer, Serde};
#[cfg(feature = "serde")]
pub use self::json::Json;

/// A type a reply can be converted into.
///
/// Error replies normally never reach `from_value`: the request fails with the server's error
/// before conversion. Nulls convert into `Option::None`, and are an error for most other types.
/// The [module documentation](self) lists what each implementation accepts.
///
/// Implement it for your own types by converting through the existing implementations:
///
/// ```
/// use client_core::{ConversionError, FromValue};
/// use resp_core::Frame;
///
/// struct Celsius(f64);
///
/// impl FromValue for Celsius {
///     fn from_value(frame: Frame) -> Result<Self, ConversionError> {
///         f64::from_value(frame).map(Celsius)
///     }
/// }
///
/// let t = Celsius::from_value(Frame::BulkString("21.5".into())).unwrap();
/// assert_eq!(t.0, 21.5);
/// ```
pub trait FromValue: Sized {
    /// Converts a reply.
    ///
    /// # Errors
    ///
    /// [`ConversionError`] when the reply's type or content does not fit.
    fn from_value(frame: Frame) -> Result<Self, ConversionError>;

    /// Converts a reply into a `Vec<Self>`; this is what `Vec<T>`, the sets and the maps call.
    ///
    /// The default reads an array, set or push element by element, a map as its keys and values
    /// in turn (the layout RESP2 uses for the same data), and a null as an empty vector. Element
    /// types that read a whole reply their own way override it: `u8`, so that `Vec<u8>` takes a
    /// string's bytes, and 2-tuples, so that `Vec<(K, V)>` takes a map's entries or a RESP2
    /// array of pairs. Other types rarely need to.
    ///
    /// # Errors
    ///
    /// [`ConversionError`] when the reply is not a collection or an element does not fit.
    fn vec_from_value(frame: Frame) -> Result<Vec<Self>, ConversionError> {
        collection::elements(frame)
    }
}

/// A reply did not have the shape the caller asked for.
///
/// Its message names the target type and describes the reply:
/// `cannot convert the reply into i64: got bulk string "abc"`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot convert the reply into {expected}: got {found}")]
#[non_exhaustive]
pub struct ConversionError {
    /// What the target type needed, e.g. `"i64"` or `"a map"`.
    pub expected: &'static str,
    /// What the reply was: its RESP type, for short scalars its value, and where in the reply
    /// the offending element sits.
    pub found: String,
}

/// Strings and error texts longer than this are described by their length, not quoted.
const QUOTE_LIMIT: usize = 40;

impl ConversionError {
    /// An error for `frame`, which did not fit `expected`.
    pub fn new(expected: &'static str, frame: &Frame) -> Self {
        Self {
            expected,
            found: describe(frame),
        }
    }

    /// An error with a description of the reply written by the caller, for conversions that
    /// fail on content rather than type (`"integer 300, out of range"`).
    pub fn custom(expected: &'static str, found: impl Into<String>) -> Self {
        Self {
            expected,
            found: found.into(),
        }
    }

    /// Whether the reply was an error reply from the server rather than a reply of the wrong
    /// shape.
    pub fn is_server_error(&self) -> bool {
        self.found.starts_with(SERVER_ERROR)
    }

    /// Adds where the offending reply sat in its parent, e.g. `element 3`.
    pub(crate) fn within(mut self, place: impl std::fmt::Display) -> Self {
        use std::fmt::Write;
        // Cannot fail: writing into a String.
        let _ = write!(self.found, ", in {place}");
        self
    }
}

const SERVER_ERROR: &str = "server error ";

/// A short description of a frame for error messages: its RESP type and, when short, its value.
pub(crate) fn describe(frame: &Frame) -> String {
    let quoted = |kind: &str, text: &[u8]| {
        if text.len() <= QUOTE_LIMIT {
            format!("{kind} {:?}", String::from_utf8_lossy(text))
        } else {
            format!("{kind} of {} bytes", text.len())
        }
    };
    match frame {
        Frame::SimpleString(text) | Frame::BulkString(text) => quoted(frame.type_name(), text),
        Frame::VerbatimString(verbatim) => quoted("verbatim string", &verbatim.text),
        Frame::BigNumber(text) => quoted("big number", text),
        // The message of an error is what the user needs, so it is quoted whole up to a bound.
        Frame::SimpleError(text) | Frame::BulkError(text) => {
            let shown = &text[..text.len().min(200)];
            let more = if shown.len() < text.len() { "..." } else { "" };
            format!("{SERVER_ERROR}{:?}{more}", String::from_utf8_lossy(shown))
        }
        Frame::Integer(n) => format!("integer {n}"),
        Frame::Double(x) => format!("double {x}"),
        Frame::Boolean(b) => format!("boolean {b}"),
        Frame::Array(items) | Frame::Set(items) | Frame::Push(items) => {
            let plural = if items.len() == 1 { "" } else { "s" };
            format!("{} of {} element{plural}", frame.type_name(), items.len())
        }
        Frame::Map(pairs) => {
            let plural = if pairs.len() == 1 { "y" } else { "ies" };
            format!("map of {} entr{plural}", pairs.len())
        }
        Frame::Attributed { frame, .. } => describe(frame),
        other => other.type_name().to_string(),
    }
}

/// The frame without its RESP3 attributes, which no typed conversion needs. Every conversion
/// starts here, and almost no reply has attributes: inlined, the common case is one test.
#[inline]
pub(crate) fn unwrap_attributes(frame: Frame) -> Frame {
    match frame {
        Frame::Attributed { .. } => strip_attributes(frame),
        frame => frame,
    }
}

#[cold]
fn strip_attributes(mut frame: Frame) -> Frame {
    while let Frame::Attributed { frame: inner, .. } = frame {
        frame = *inner;
    }
    frame
}

impl FromValue for Frame {
    fn from_value(frame: Frame) -> Result<Self, ConversionError> {
        Ok(frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_target_and_describe_the_reply() {
        let e = ConversionError::new("i64", &Frame::BulkString("abc".into()));
        assert_eq!(
            e.to_string(),
            r#"cannot convert the reply into i64: got bulk string "abc""#
        );
        let long = Frame::BulkString(vec![b'x'; 100].into());
        assert_eq!(describe(&long), "bulk string of 100 bytes");
        assert_eq!(
            describe(&Frame::Array(vec![Frame::Null])),
            "array of 1 element"
        );
        assert_eq!(describe(&Frame::Map(Vec::new())), "map of 0 entries");
        assert_eq!(describe(&Frame::NullBulkString), "null bulk string");
        assert_eq!(describe(&Frame::Double(2.5)), "double 2.5");
        assert_eq!(
            describe(&Frame::BigNumber("123".into())),
            r#"big number "123""#
        );
    }

    #[test]
    fn server_errors_are_quoted_and_recognisable() {
        let frame = Frame::SimpleError("WRONGTYPE Operation against a key".into());
        let e = ConversionError::new("i64", &frame);
        assert!(e.is_server_error());
        assert_eq!(
            e.to_string(),
            "cannot convert the reply into i64: got server error \
             \"WRONGTYPE Operation against a key\""
        );
        let bulk = Frame::BulkError(vec![b'e'; 300].into());
        let found = ConversionError::new("i64", &bulk).found;
        assert!(found.ends_with("...") && found.len() < 230, "{found}");
        assert!(!ConversionError::new("i64", &Frame::Null).is_server_error());
    }

    #[test]
    fn context_reads_innermost_first() {
        let e = ConversionError::new("i64", &Frame::Null)
            .within("element 2")
            .within("element 0");
        assert_eq!(e.found, "null, in element 2, in element 0");
    }

    #[test]
    fn attributes_are_unwrapped_at_any_depth() {
        let wrapped = Frame::Attributed {
            attributes: Vec::new(),
            frame: Box::new(Frame::Attributed {
                attributes: Vec::new(),
                frame: Box::new(Frame::Integer(5)),
            }),
        };
        assert_eq!(describe(&wrapped), "integer 5");
        assert_eq!(unwrap_attributes(wrapped), Frame::Integer(5));
    }

    #[test]
    fn frame_is_kept_as_it_is() {
        let e = Frame::SimpleError("ERR x".into());
        assert_eq!(Frame::from_value(e.clone()), Ok(e));
    }
}
