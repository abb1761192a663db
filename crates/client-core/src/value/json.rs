//! `Json<T>`: a string reply holding a JSON document.

use std::any::type_name;

use resp_core::Frame;
use serde::de::DeserializeOwned;

use super::{ConversionError, FromValue, describe, unwrap_attributes};

/// A string reply holding JSON, parsed into `T`: values an application stored as JSON text, or
/// the replies of `JSON.GET` (RedisJSON, Valkey JSON).
///
/// ```
/// use client_core::FromValue;
/// use client_core::value::Json;
/// use resp_core::Frame;
///
/// #[derive(serde::Deserialize)]
/// struct User {
///     name: String,
///     tags: Vec<String>,
/// }
///
/// let reply = Frame::BulkString(r#"{"name":"ada","tags":["admin"]}"#.into());
/// let Json(user) = Json::<User>::from_value(reply).unwrap();
/// assert_eq!(user.name, "ada");
/// assert_eq!(user.tags, ["admin"]);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Json<T>(pub T);

impl<T> Json<T> {
    /// The parsed value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Json<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> std::ops::DerefMut for Json<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

const EXPECTED: &str = "a JSON document";

impl<T: DeserializeOwned> FromValue for Json<T> {
    /// Reads a simple, bulk or verbatim string; a null is an error (read `Option<Json<T>>`).
    fn from_value(frame: Frame) -> Result<Self, ConversionError> {
        let frame = unwrap_attributes(frame);
        let Some(text) = frame.string_payload() else {
            return Err(ConversionError::new(EXPECTED, &frame));
        };
        serde_json::from_slice(text).map(Json).map_err(|e| {
            let what = describe(&frame);
            ConversionError::custom(
                EXPECTED,
                format!("{what} that is not {}: {e}", type_name::<T>()),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Point {
        x: i32,
        y: i32,
    }

    #[test]
    fn json_text_becomes_the_type() {
        let reply = Frame::BulkString(r#"{"x":1,"y":-2}"#.into());
        assert_eq!(
            Json::<Point>::from_value(reply),
            Ok(Json(Point { x: 1, y: -2 }))
        );
        let list = Frame::SimpleString("[1,2,3]".into());
        assert_eq!(
            Json::<Vec<u8>>::from_value(list).unwrap().into_inner(),
            [1, 2, 3]
        );
        let map = Frame::BulkString(r#"{"a":true}"#.into());
        assert!(Json::<HashMap<String, bool>>::from_value(map).unwrap()["a"]);
    }

    #[test]
    fn nulls_are_options() {
        assert_eq!(
            Option::<Json<Point>>::from_value(Frame::NullBulkString),
            Ok(None)
        );
        let e = Json::<Point>::from_value(Frame::NullBulkString).unwrap_err();
        assert_eq!(
            e.to_string(),
            "cannot convert the reply into a JSON document: got null bulk string"
        );
    }

    #[test]
    fn bad_json_says_why() {
        let e = Json::<Point>::from_value(Frame::BulkString(r#"{"x":1}"#.into())).unwrap_err();
        let message = e.to_string();
        let start = r#"cannot convert the reply into a JSON document: got bulk string "{\"x\":1}""#;
        assert!(message.starts_with(start), "{message}");
        assert!(
            message.contains("Point") && message.contains("missing field `y`"),
            "{message}"
        );
        assert!(Json::<Point>::from_value(Frame::Integer(3)).is_err());
    }
}
