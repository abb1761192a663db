//! `Serde<T>`: deserializing the structure of a reply (a map into a struct, an array into a
//! sequence, ...) with serde.
//!
//! The scalar hints go through the crate's own [`FromValue`] conversions, so a struct field of
//! type `u32` reads a RESP integer as well as the bulk string `"36"` that `HGETALL` answers, and
//! a struct reads a RESP3 map as well as a RESP2 flat `[field, value, ...]` array.

use std::any::type_name;

use resp_core::Frame;
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, EnumAccess, IntoDeserializer, MapAccess, SeqAccess,
    VariantAccess, Visitor,
};

use super::{ConversionError, FromValue, collection, unwrap_attributes};

/// What an error raised by serde itself (a missing field, an unknown variant) says was
/// expected; [`Serde`] replaces it with the target type's name.
const REQUESTED: &str = "the requested type";

impl de::Error for ConversionError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        Self::custom(REQUESTED, msg.to_string())
    }
}

/// A reply deserialized with serde, for `T: Deserialize`.
///
/// Maps and RESP2 flat key-value arrays read into structs and maps; arrays, sets and pushes
/// into sequences and tuples; strings into strings, bytes and enum unit variants; a one-entry
/// map into an enum variant with data; nulls into `None` and `()`. Numbers and booleans read the
/// same replies as their [`FromValue`] conversions, text included. A map read as a sequence
/// gives `[key, value]` pairs.
///
/// ```
/// use client_core::FromValue;
/// use client_core::value::Serde;
/// use resp_core::Frame;
///
/// #[derive(serde::Deserialize)]
/// struct User {
///     name: String,
///     age: u32,
///     email: Option<String>,
/// }
///
/// // HGETALL user:1 over RESP2: a flat array of bulk strings.
/// let reply = Frame::Array(vec![
///     Frame::BulkString("name".into()),
///     Frame::BulkString("ada".into()),
///     Frame::BulkString("age".into()),
///     Frame::BulkString("36".into()),
/// ]);
/// let Serde(user) = Serde::<User>::from_value(reply).unwrap();
/// assert_eq!((user.name.as_str(), user.age, user.email), ("ada", 36, None));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Serde<T>(pub T);

impl<T> Serde<T> {
    /// The deserialized value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Serde<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> std::ops::DerefMut for Serde<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

impl<T: DeserializeOwned> FromValue for Serde<T> {
    fn from_value(frame: Frame) -> Result<Self, ConversionError> {
        T::deserialize(FrameDeserializer::new(frame))
            .map(Serde)
            .map_err(|mut e| {
                if e.expected == REQUESTED {
                    e.expected = type_name::<T>();
                }
                e
            })
    }
}

/// A serde [`Deserializer`](serde::Deserializer) over one reply frame; what [`Serde`] uses.
/// Use it directly to deserialize part of a reply inside your own [`FromValue`].
#[derive(Debug)]
pub struct FrameDeserializer {
    frame: Frame,
}

impl FrameDeserializer {
    /// A deserializer that consumes `frame`.
    pub fn new(frame: Frame) -> Self {
        Self { frame }
    }
}

/// Deserializer methods that convert with `FromValue` and hand the value to the visitor.
macro_rules! through_from_value {
    ($($method:ident => $visit:ident($t:ty);)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConversionError> {
            visitor.$visit(<$t>::from_value(self.frame)?)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for FrameDeserializer {
    type Error = ConversionError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConversionError> {
        // A string reply: a `String` if it is UTF-8, its bytes otherwise.
        let frame = match unwrap_attributes(self.frame).into_string_payload() {
            Ok(b) => {
                return match String::from_utf8(Vec::from(b)) {
                    Ok(text) => visitor.visit_string(text),
                    Err(e) => visitor.visit_byte_buf(e.into_bytes()),
                };
            }
            Err(frame) => frame,
        };
        match frame {
            Frame::Integer(n) => visitor.visit_i64(n),
            Frame::Double(x) => visitor.visit_f64(x),
            Frame::Boolean(b) => visitor.visit_bool(b),
            Frame::BigNumber(text) => {
                let frame = Frame::BigNumber(text);
                if let Ok(n) = i128::from_value(frame.clone()) {
                    visitor.visit_i128(n)
                } else if let Ok(n) = u128::from_value(frame.clone()) {
                    visitor.visit_u128(n)
                } else {
                    visitor.visit_string(String::from_value(frame)?)
                }
            }
            Frame::Array(items) | Frame::Set(items) | Frame::Push(items) => {
                visitor.visit_seq(Elements::new(items))
            }
            Frame::Map(entries) => visitor.visit_map(Entries::new(entries)),
            null if null.is_null() => visitor.visit_unit(),
            other => Err(ConversionError::new(REQUESTED, &other)),
        }
    }

    through_from_value! {
        deserialize_bool => visit_bool(bool);
        deserialize_i8 => visit_i8(i8);
        deserialize_i16 => visit_i16(i16);
        deserialize_i32 => visit_i32(i32);
        deserialize_i64 => visit_i64(i64);
        deserialize_i128 => visit_i128(i128);
        deserialize_u8 => visit_u8(u8);
        deserialize_u16 => visit_u16(u16);
        deserialize_u32 => visit_u32(u32);
        deserialize_u64 => visit_u64(u64);
        deserialize_u128 => visit_u128(u128);
        deserialize_f32 => visit_f32(f32);
        deserialize_f64 => visit_f64(f64);
        deserialize_str => visit_string(String);
        deserialize_string => visit_string(String);
        deserialize_identifier => visit_string(String);
        deserialize_bytes => visit_byte_buf(Vec<u8>);
        deserialize_byte_buf => visit_byte_buf(Vec<u8>);
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConversionError> {
        <()>::from_value(self.frame)?;
        visitor.visit_unit()
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConversionError> {
        let text = String::from_value(self.frame)?;
        let mut chars = text.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) => visitor.visit_char(c),
            _ => Err(ConversionError::custom(
                "a char",
                format!("the text {text:?}"),
            )),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConversionError> {
        let frame = unwrap_attributes(self.frame);
        if frame.is_null() {
            visitor.visit_none()
        } else {
            visitor.visit_some(Self::new(frame))
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ConversionError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ConversionError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConversionError> {
        match unwrap_attributes(self.frame) {
            Frame::Array(items) | Frame::Set(items) | Frame::Push(items) => {
                visitor.visit_seq(Elements::new(items))
            }
            Frame::Map(entries) => {
                let pairs = entries
                    .into_iter()
                    .map(|(k, v)| Frame::Array(vec![k, v]))
                    .collect();
                visitor.visit_seq(Elements::new(pairs))
            }
            null if null.is_null() => visitor.visit_seq(Elements::new(Vec::new())),
            other => Err(ConversionError::new("a sequence", &other)),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, ConversionError> {
        match unwrap_attributes(self.frame) {
            Frame::Map(mut entries) if len == 2 && entries.len() == 1 => {
                let (key, value) = entries.remove(0);
                visitor.visit_seq(Elements::new(vec![key, value]))
            }
            other => Self::new(other).deserialize_seq(visitor),
        }
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, ConversionError> {
        self.deserialize_tuple(len, visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConversionError> {
        // The same layouts as `HashMap`'s FromValue: a map, a flat array, an array of pairs.
        visitor.visit_map(Entries::new(collection::pairs::<Frame, Frame>(self.frame)?))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ConversionError> {
        self.deserialize_map(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ConversionError> {
        match unwrap_attributes(self.frame) {
            Frame::Map(mut entries) if entries.len() == 1 => {
                let (variant, value) = entries.remove(0);
                visitor.visit_enum(Variant { variant, value })
            }
            other => {
                let name: de::value::StringDeserializer<ConversionError> =
                    String::from_value(other)?.into_deserializer();
                visitor.visit_enum(name)
            }
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(
        self,
        visitor: V,
    ) -> Result<V::Value, ConversionError> {
        visitor.visit_unit()
    }
}

/// The elements of an array, set or push, handed out one by one.
struct Elements {
    items: std::vec::IntoIter<Frame>,
    index: usize,
}

impl Elements {
    fn new(items: Vec<Frame>) -> Self {
        Self {
            items: items.into_iter(),
            index: 0,
        }
    }
}

impl<'de> SeqAccess<'de> for Elements {
    type Error = ConversionError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, ConversionError> {
        let Some(item) = self.items.next() else {
            return Ok(None);
        };
        let index = self.index;
        self.index += 1;
        seed.deserialize(FrameDeserializer::new(item))
            .map(Some)
            .map_err(|e| e.within(format_args!("element {index}")))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

/// The entries of a map, handed out key then value.
struct Entries {
    entries: std::vec::IntoIter<(Frame, Frame)>,
    value: Option<Frame>,
    /// The current key as text, for error messages.
    key: String,
}

impl Entries {
    fn new(entries: Vec<(Frame, Frame)>) -> Self {
        Self {
            entries: entries.into_iter(),
            value: None,
            key: String::new(),
        }
    }
}

impl<'de> MapAccess<'de> for Entries {
    type Error = ConversionError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, ConversionError> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        self.key = key_text(&key);
        self.value = Some(value);
        seed.deserialize(FrameDeserializer::new(key))
            .map(Some)
            .map_err(|e| e.within(format_args!("the key {}", self.key)))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, ConversionError> {
        // serde calls next_key_seed first; a missing value reads as null.
        let value = self.value.take().unwrap_or(Frame::Null);
        seed.deserialize(FrameDeserializer::new(value))
            .map_err(|e| e.within(format_args!("the value of {}", self.key)))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

/// A map key for error messages: short text keys quoted, others described.
fn key_text(key: &Frame) -> String {
    let key = key.without_attributes();
    match key.string_payload() {
        Some(t) if t.len() <= 40 => format!("{:?}", String::from_utf8_lossy(t)),
        _ => super::describe(key),
    }
}

/// An enum variant given as a one-entry map: `{variant: value}`.
struct Variant {
    variant: Frame,
    value: Frame,
}

impl<'de> EnumAccess<'de> for Variant {
    type Error = ConversionError;
    type Variant = FrameDeserializer;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, FrameDeserializer), ConversionError> {
        let variant = seed.deserialize(FrameDeserializer::new(self.variant))?;
        Ok((variant, FrameDeserializer::new(self.value)))
    }
}

impl<'de> VariantAccess<'de> for FrameDeserializer {
    type Error = ConversionError;

    fn unit_variant(self) -> Result<(), ConversionError> {
        <()>::from_value(self.frame)
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<T::Value, ConversionError> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, ConversionError> {
        de::Deserializer::deserialize_tuple(self, len, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ConversionError> {
        de::Deserializer::deserialize_map(self, visitor)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use bytes::Bytes;
    use serde::Deserialize;

    use super::*;

    fn bulk(text: &str) -> Frame {
        Frame::BulkString(Bytes::copy_from_slice(text.as_bytes()))
    }

    fn serde<T: DeserializeOwned>(frame: Frame) -> Result<T, ConversionError> {
        Serde::<T>::from_value(frame).map(Serde::into_inner)
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct User {
        name: String,
        age: u32,
        admin: bool,
        email: Option<String>,
    }

    #[test]
    fn structs_read_a_resp3_map_and_a_resp2_flat_array_alike() {
        let resp2 = Frame::Array(vec![
            bulk("name"),
            bulk("ada"),
            bulk("age"),
            bulk("36"),
            bulk("admin"),
            bulk("1"),
        ]);
        let resp3 = Frame::Map(vec![
            (bulk("name"), bulk("ada")),
            (bulk("age"), Frame::Integer(36)),
            (bulk("admin"), Frame::Boolean(true)),
            (bulk("email"), Frame::Null),
        ]);
        let expected = User {
            name: "ada".into(),
            age: 36,
            admin: true,
            email: None,
        };
        assert_eq!(serde::<User>(resp2), Ok(expected));
        assert_eq!(serde::<User>(resp3).unwrap().age, 36);
    }

    #[test]
    fn errors_name_the_type_and_the_field() {
        let missing = Frame::Map(vec![(bulk("name"), bulk("ada"))]);
        let e = serde::<User>(missing).unwrap_err();
        assert!(e.expected.ends_with("User"), "{e}");
        assert_eq!(e.found, "missing field `age`");
        let bad = Frame::Map(vec![
            (bulk("name"), bulk("ada")),
            (bulk("age"), bulk("old")),
        ]);
        assert_eq!(
            serde::<User>(bad).unwrap_err().to_string(),
            r#"cannot convert the reply into u32: got bulk string "old", in the value of "age""#
        );
        let server = serde::<User>(Frame::SimpleError("ERR no".into())).unwrap_err();
        assert!(server.is_server_error(), "{server}");
    }

    #[test]
    fn sequences_tuples_and_nested_values() {
        let reply = Frame::Array(vec![
            Frame::Array(vec![bulk("1-0"), Frame::Array(vec![bulk("f"), bulk("v")])]),
            Frame::Array(vec![bulk("2-0"), Frame::Map(vec![(bulk("g"), bulk("w"))])]),
        ]);
        type Entries = Vec<(String, BTreeMap<String, String>)>;
        let entries = serde::<Entries>(reply).unwrap();
        assert_eq!(entries[0].1["f"], "v");
        assert_eq!(entries[1].1["g"], "w");
        let set = Frame::Set(vec![Frame::Integer(1), Frame::Integer(2)]);
        assert_eq!(serde::<Vec<i64>>(set), Ok(vec![1, 2]));
        assert_eq!(serde::<Vec<i64>>(Frame::NullArray), Ok(vec![]));
        let map = Frame::Map(vec![(bulk("a"), Frame::Integer(1))]);
        assert_eq!(
            serde::<Vec<(String, i64)>>(map.clone()),
            Ok(vec![("a".into(), 1)])
        );
        assert_eq!(serde::<(String, i64)>(map), Ok(("a".into(), 1)));
    }

    #[test]
    fn scalars_follow_from_value() {
        assert_eq!(serde::<f64>(bulk("2.5")), Ok(2.5));
        assert_eq!(serde::<i128>(Frame::BigNumber("-5".into())), Ok(-5));
        assert_eq!(serde::<char>(bulk("x")), Ok('x'));
        assert!(serde::<char>(bulk("xy")).is_err());
        assert_eq!(serde::<Option<u8>>(Frame::NullBulkString), Ok(None));
        assert_eq!(serde::<Option<u8>>(Frame::Integer(4)), Ok(Some(4)));
        assert_eq!(serde::<()>(Frame::SimpleString("OK".into())), Ok(()));
        assert_eq!(
            serde::<serde_bytes_like::Buf>(bulk("\u{0}a")).unwrap().0,
            b"\0a"
        );
    }

    #[test]
    fn newtypes_and_enums() {
        #[derive(Debug, Deserialize, PartialEq)]
        struct Id(u64);
        #[derive(Debug, Deserialize, PartialEq)]
        #[serde(rename_all = "lowercase")]
        enum Kind {
            String,
            Hash,
            Moved(u16),
            Point { x: i8, y: i8 },
        }
        assert_eq!(serde::<Id>(bulk("7")), Ok(Id(7)));
        assert_eq!(
            serde::<Kind>(Frame::SimpleString("hash".into())),
            Ok(Kind::Hash)
        );
        assert_eq!(serde::<Kind>(bulk("string")), Ok(Kind::String));
        let moved = Frame::Map(vec![(bulk("moved"), Frame::Integer(3999))]);
        assert_eq!(serde::<Kind>(moved), Ok(Kind::Moved(3999)));
        let point = Frame::Map(vec![(
            bulk("point"),
            Frame::Array(vec![bulk("x"), bulk("1"), bulk("y"), bulk("-1")]),
        )]);
        assert_eq!(serde::<Kind>(point), Ok(Kind::Point { x: 1, y: -1 }));
        let e = serde::<Kind>(bulk("zset")).unwrap_err();
        assert!(e.found.contains("unknown variant `zset`"), "{e}");
    }

    #[test]
    fn self_describing_values_use_deserialize_any() {
        let reply = Frame::Map(vec![
            (bulk("n"), Frame::Integer(1)),
            (bulk("x"), Frame::Double(0.5)),
            (
                bulk("list"),
                Frame::Array(vec![Frame::Boolean(true), Frame::Null]),
            ),
        ]);
        let value = serde::<serde_json::Value>(reply).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"n": 1, "x": 0.5, "list": [true, null]})
        );
        let untyped = serde::<HashMap<String, serde_json::Value>>(Frame::Array(vec![
            bulk("k"),
            Frame::BigNumber("12".into()),
        ]))
        .unwrap();
        assert_eq!(untyped["k"], serde_json::json!(12));
    }

    /// A byte buffer that asks for `deserialize_byte_buf`, as `serde_bytes` would.
    mod serde_bytes_like {
        pub(super) struct Buf(pub(super) Vec<u8>);

        impl<'de> serde::Deserialize<'de> for Buf {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl serde::de::Visitor<'_> for V {
                    type Value = Buf;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str("bytes")
                    }
                    fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Buf, E> {
                        Ok(Buf(v))
                    }
                }
                d.deserialize_byte_buf(V)
            }
        }
    }
}
