//! `Option`, sequences, sets and maps.
//!
//! RESP2 has no map or set type: `HGETALL` answers a flat `[field, value, field, value]` array,
//! `ZRANGE ... WITHSCORES` a flat `[member, score, ...]` array and `SMEMBERS` an array, where
//! RESP3 answers a map, an array of `[member, score]` pairs and a set. The conversions here read
//! both, so that code written against one protocol keeps working on the other:
//!
//! * a map into a sequence gives its keys and values in turn, the RESP2 layout;
//! * key-value targets (`HashMap`, `BTreeMap`, `Vec<(K, V)>`) read a map, a flat array of even
//!   length, or an array whose every element is a pair (a two-element array or one-entry map);
//!   an array holding only pairs is always read as the nested form;
//! * a null is an empty collection (`LPOP key count` on a missing key answers null); read an
//!   `Option<Vec<T>>` to tell the two apart.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::hash::{BuildHasher, Hash};

use resp_core::Frame;

use super::{ConversionError, FromValue, unwrap_attributes};

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(frame: Frame) -> Result<Self, ConversionError> {
        let frame = unwrap_attributes(frame);
        if frame.is_null() {
            Ok(None)
        } else {
            T::from_value(frame).map(Some)
        }
    }
}

/// The default `vec_from_value`: element by element, a map flattened into keys and values.
pub(super) fn elements<T: FromValue>(frame: Frame) -> Result<Vec<T>, ConversionError> {
    match unwrap_attributes(frame) {
        Frame::Array(items) | Frame::Set(items) | Frame::Push(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, item)| T::from_value(item).map_err(|e| e.within(format_args!("element {i}"))))
            .collect(),
        Frame::Map(entries) => {
            let mut out = Vec::with_capacity(entries.len() * 2);
            for (i, (key, value)) in entries.into_iter().enumerate() {
                out.push(
                    T::from_value(key)
                        .map_err(|e| e.within(format_args!("the key of entry {i}")))?,
                );
                out.push(
                    T::from_value(value)
                        .map_err(|e| e.within(format_args!("the value of entry {i}")))?,
                );
            }
            Ok(out)
        }
        null if null.is_null() => Ok(Vec::new()),
        other => Err(ConversionError::new("a collection", &other)),
    }
}

fn pair<K: FromValue, V: FromValue>(
    key: Frame,
    value: Frame,
    index: usize,
) -> Result<(K, V), ConversionError> {
    let key = K::from_value(key).map_err(|e| e.within(format_args!("the key of entry {index}")))?;
    let value =
        V::from_value(value).map_err(|e| e.within(format_args!("the value of entry {index}")))?;
    Ok((key, value))
}

/// Whether an element of an array is itself one key-value pair (the RESP3 nested layout).
fn is_pair(frame: &Frame) -> bool {
    match frame.without_attributes() {
        Frame::Array(items) | Frame::Set(items) | Frame::Push(items) => items.len() == 2,
        Frame::Map(entries) => entries.len() == 1,
        _ => false,
    }
}

const PAIRS: &str = "key-value pairs";

/// Key-value pairs from a map, a flat array or an array of pairs.
pub(super) fn pairs<K: FromValue, V: FromValue>(
    frame: Frame,
) -> Result<Vec<(K, V)>, ConversionError> {
    match unwrap_attributes(frame) {
        Frame::Map(entries) => entries
            .into_iter()
            .enumerate()
            .map(|(i, (k, v))| pair(k, v, i))
            .collect(),
        Frame::Array(items) | Frame::Set(items) | Frame::Push(items) => {
            if items.iter().all(is_pair) {
                return items
                    .into_iter()
                    .enumerate()
                    .map(|(i, item)| {
                        <(K, V)>::from_value(item).map_err(|e| e.within(format_args!("entry {i}")))
                    })
                    .collect();
            }
            if items.len() % 2 != 0 {
                return Err(ConversionError::custom(
                    PAIRS,
                    format!("array of {} elements, an odd number", items.len()),
                ));
            }
            let mut out = Vec::with_capacity(items.len() / 2);
            let mut items = items.into_iter();
            while let (Some(key), Some(value)) = (items.next(), items.next()) {
                out.push(pair(key, value, out.len())?);
            }
            Ok(out)
        }
        null if null.is_null() => Ok(Vec::new()),
        other => Err(ConversionError::new(PAIRS, &other)),
    }
}

impl<T: FromValue> FromValue for Vec<T> {
    fn from_value(frame: Frame) -> Result<Self, ConversionError> {
        T::vec_from_value(frame)
    }
}

impl<T: FromValue> FromValue for VecDeque<T> {
    fn from_value(frame: Frame) -> Result<Self, ConversionError> {
        T::vec_from_value(frame).map(Self::from)
    }
}

impl<T: FromValue + Eq + Hash, S: BuildHasher + Default> FromValue for HashSet<T, S> {
    fn from_value(frame: Frame) -> Result<Self, ConversionError> {
        Ok(T::vec_from_value(frame)?.into_iter().collect())
    }
}

impl<T: FromValue + Ord> FromValue for BTreeSet<T> {
    fn from_value(frame: Frame) -> Result<Self, ConversionError> {
        Ok(T::vec_from_value(frame)?.into_iter().collect())
    }
}

impl<K, V, S> FromValue for HashMap<K, V, S>
where
    K: FromValue + Eq + Hash,
    V: FromValue,
    S: BuildHasher + Default,
{
    /// A key that appears twice keeps its last value.
    fn from_value(frame: Frame) -> Result<Self, ConversionError> {
        Ok(pairs(frame)?.into_iter().collect())
    }
}

impl<K: FromValue + Ord, V: FromValue> FromValue for BTreeMap<K, V> {
    /// A key that appears twice keeps its last value.
    fn from_value(frame: Frame) -> Result<Self, ConversionError> {
        Ok(pairs(frame)?.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn bulk(text: &str) -> Frame {
        Frame::BulkString(Bytes::copy_from_slice(text.as_bytes()))
    }

    fn flat_hgetall() -> Frame {
        Frame::Array(vec![bulk("name"), bulk("ada"), bulk("age"), bulk("36")])
    }

    fn map_hgetall() -> Frame {
        Frame::Map(vec![(bulk("name"), bulk("ada")), (bulk("age"), bulk("36"))])
    }

    #[test]
    fn options_are_none_for_every_null() {
        for null in [Frame::Null, Frame::NullBulkString, Frame::NullArray] {
            assert_eq!(Option::<String>::from_value(null), Ok(None));
        }
        assert_eq!(Option::<i64>::from_value(Frame::Integer(3)), Ok(Some(3)));
        let attributed = Frame::Attributed {
            attributes: Vec::new(),
            frame: Box::new(Frame::NullBulkString),
        };
        assert_eq!(Option::<String>::from_value(attributed), Ok(None));
        assert!(
            Option::<i64>::from_value(bulk("x")).is_err(),
            "Some must still convert"
        );
    }

    #[test]
    fn sequences_read_arrays_sets_and_pushes() {
        let mget = Frame::Array(vec![bulk("a"), Frame::NullBulkString, bulk("c")]);
        assert_eq!(
            Vec::<Option<String>>::from_value(mget),
            Ok(vec![Some("a".into()), None, Some("c".into())])
        );
        let set = Frame::Set(vec![Frame::Integer(1), Frame::Integer(2)]);
        assert_eq!(Vec::<i64>::from_value(set.clone()), Ok(vec![1, 2]));
        assert_eq!(VecDeque::<i64>::from_value(set), Ok(VecDeque::from([1, 2])));
        let push = Frame::Push(vec![bulk("message"), bulk("ch")]);
        assert_eq!(
            Vec::<String>::from_value(push),
            Ok(vec!["message".into(), "ch".into()])
        );
        assert_eq!(Vec::<String>::from_value(Frame::NullArray), Ok(Vec::new()));
        assert_eq!(
            Option::<Vec<String>>::from_value(Frame::NullArray),
            Ok(None)
        );
    }

    #[test]
    fn a_map_into_a_sequence_is_the_resp2_flat_layout() {
        let from_map = Vec::<String>::from_value(map_hgetall()).unwrap();
        let from_array = Vec::<String>::from_value(flat_hgetall()).unwrap();
        assert_eq!(from_map, from_array);
        assert_eq!(from_map, ["name", "ada", "age", "36"]);
    }

    #[test]
    fn maps_read_a_resp3_map_and_a_resp2_flat_array_alike() {
        let resp3 = HashMap::<String, String>::from_value(map_hgetall()).unwrap();
        let resp2 = HashMap::<String, String>::from_value(flat_hgetall()).unwrap();
        assert_eq!(resp3, resp2);
        assert_eq!(resp3["age"], "36");
        let ordered = BTreeMap::<String, String>::from_value(flat_hgetall()).unwrap();
        assert_eq!(
            ordered,
            BTreeMap::<String, String>::from_value(map_hgetall()).unwrap()
        );
        let pairs2 = Vec::<(String, String)>::from_value(flat_hgetall()).unwrap();
        let pairs3 = Vec::<(String, String)>::from_value(map_hgetall()).unwrap();
        assert_eq!(pairs2, pairs3);
        assert_eq!(pairs2[0], ("name".into(), "ada".into()));
    }

    #[test]
    fn scored_members_read_flat_and_nested_alike() {
        // ZRANGE z 0 -1 WITHSCORES: flat bulk strings in RESP2, [member, double] pairs in RESP3.
        let resp2 = Frame::Array(vec![bulk("a"), bulk("1.5"), bulk("b"), bulk("2")]);
        let resp3 = Frame::Array(vec![
            Frame::Array(vec![bulk("a"), Frame::Double(1.5)]),
            Frame::Array(vec![bulk("b"), Frame::Double(2.0)]),
        ]);
        let expected = vec![("a".to_string(), 1.5), ("b".to_string(), 2.0)];
        assert_eq!(
            Vec::<(String, f64)>::from_value(resp2),
            Ok(expected.clone())
        );
        assert_eq!(Vec::<(String, f64)>::from_value(resp3), Ok(expected));
    }

    #[test]
    fn nested_values_keep_working_inside_maps() {
        // XREAD: RESP3 map of stream -> entries; RESP2 array of [stream, entries].
        let entries = || {
            Frame::Array(vec![Frame::Array(vec![
                bulk("1-0"),
                Frame::Array(vec![bulk("f"), bulk("v")]),
            ])])
        };
        type Reply = HashMap<String, Vec<(String, HashMap<String, String>)>>;
        let resp3 = Reply::from_value(Frame::Map(vec![(bulk("s"), entries())])).unwrap();
        let resp2 = Reply::from_value(Frame::Array(vec![Frame::Array(vec![bulk("s"), entries()])]))
            .unwrap();
        assert_eq!(resp3, resp2);
        assert_eq!(resp3["s"][0].1["f"], "v");
    }

    #[test]
    fn sets_read_sets_and_arrays() {
        let resp3 = Frame::Set(vec![bulk("x"), bulk("y"), bulk("x")]);
        let resp2 = Frame::Array(vec![bulk("y"), bulk("x")]);
        let a = HashSet::<String>::from_value(resp3).unwrap();
        assert_eq!(a, HashSet::<String>::from_value(resp2.clone()).unwrap());
        assert_eq!(a.len(), 2);
        assert_eq!(
            BTreeSet::<String>::from_value(resp2)
                .unwrap()
                .first()
                .unwrap(),
            "x"
        );
    }

    #[test]
    fn malformed_collections_say_where() {
        let odd = Frame::Array(vec![bulk("a"), bulk("1"), bulk("b")]);
        assert_eq!(
            HashMap::<String, i64>::from_value(odd)
                .unwrap_err()
                .to_string(),
            "cannot convert the reply into key-value pairs: got array of 3 elements, an odd number"
        );
        let bad_value = Frame::Map(vec![(bulk("a"), bulk("1")), (bulk("b"), bulk("x"))]);
        assert_eq!(
            HashMap::<String, i64>::from_value(bad_value)
                .unwrap_err()
                .to_string(),
            r#"cannot convert the reply into i64: got bulk string "x", in the value of entry 1"#
        );
        let bad_element = Frame::Array(vec![Frame::Integer(1), bulk("two")]);
        assert_eq!(
            Vec::<i64>::from_value(bad_element).unwrap_err().to_string(),
            r#"cannot convert the reply into i64: got bulk string "two", in element 1"#
        );
        assert_eq!(
            Vec::<i64>::from_value(Frame::Integer(1))
                .unwrap_err()
                .to_string(),
            "cannot convert the reply into a collection: got integer 1"
        );
        assert_eq!(
            HashMap::<String, String>::from_value(bulk("v"))
                .unwrap_err()
                .to_string(),
            r#"cannot convert the reply into key-value pairs: got bulk string "v""#
        );
        assert_eq!(
            HashMap::<String, String>::from_value(Frame::Null),
            Ok(HashMap::new())
        );
    }
}
