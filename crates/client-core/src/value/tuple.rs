//! Tuples: a fixed-length array whose elements have different types, such as `BLPOP`'s
//! `[key, value]` or `SCAN`'s `[cursor, keys]`.

use resp_core::Frame;

use super::{ConversionError, FromValue, collection, unwrap_attributes};

/// The elements of an array, set or push of exactly `len` elements.
fn exact(frame: Frame, len: usize, expected: &'static str) -> Result<Vec<Frame>, ConversionError> {
    match unwrap_attributes(frame) {
        Frame::Array(items) | Frame::Set(items) | Frame::Push(items) if items.len() == len => {
            Ok(items)
        }
        other => Err(ConversionError::new(expected, &other)),
    }
}

/// Converts the next element; `index` counts the elements taken so far.
fn next<T: FromValue>(
    items: &mut impl Iterator<Item = Frame>,
    index: &mut usize,
) -> Result<T, ConversionError> {
    let at = *index;
    *index += 1;
    // The length was checked, so the element is there; a null would only fail conversion.
    let frame = items.next().unwrap_or(Frame::Null);
    T::from_value(frame).map_err(|e| e.within(format_args!("element {at}")))
}

macro_rules! tuples {
    ($($len:literal => ($($name:ident),+);)+) => {$(
        impl<$($name: FromValue),+> FromValue for ($($name,)+) {
            fn from_value(frame: Frame) -> Result<Self, ConversionError> {
                let mut items = exact(frame, $len, concat!("a tuple of ", $len))?.into_iter();
                let mut index = 0;
                Ok(($(next::<$name>(&mut items, &mut index)?,)+))
            }
        }
    )+};
}

tuples! {
    1 => (A);
    3 => (A, B, C);
    4 => (A, B, C, D);
    5 => (A, B, C, D, E);
    6 => (A, B, C, D, E, F);
    7 => (A, B, C, D, E, F, G);
    8 => (A, B, C, D, E, F, G, H);
    9 => (A, B, C, D, E, F, G, H, I);
    10 => (A, B, C, D, E, F, G, H, I, J);
    11 => (A, B, C, D, E, F, G, H, I, J, K);
    12 => (A, B, C, D, E, F, G, H, I, J, K, L);
}

impl<A: FromValue, B: FromValue> FromValue for (A, B) {
    /// From an array of two elements, or from a map of one entry.
    fn from_value(frame: Frame) -> Result<Self, ConversionError> {
        let items = match unwrap_attributes(frame) {
            Frame::Map(mut entries) if entries.len() == 1 => {
                let (key, value) = entries.remove(0);
                vec![key, value]
            }
            other => exact(other, 2, "a tuple of 2")?,
        };
        let mut items = items.into_iter();
        let mut index = 0;
        Ok((next(&mut items, &mut index)?, next(&mut items, &mut index)?))
    }

    /// Pairs read a map's entries, a RESP2 flat `[k, v, k, v]` array, or an array of pairs.
    fn vec_from_value(frame: Frame) -> Result<Vec<Self>, ConversionError> {
        collection::pairs(frame)
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn bulk(text: &str) -> Frame {
        Frame::BulkString(Bytes::copy_from_slice(text.as_bytes()))
    }

    #[test]
    fn tuples_take_arrays_of_their_length() {
        let blpop = Frame::Array(vec![bulk("queue"), bulk("job")]);
        assert_eq!(
            <(String, String)>::from_value(blpop),
            Ok(("queue".into(), "job".into()))
        );
        let scan = Frame::Array(vec![bulk("17"), Frame::Array(vec![bulk("k1"), bulk("k2")])]);
        assert_eq!(
            <(u64, Vec<String>)>::from_value(scan),
            Ok((17, vec!["k1".into(), "k2".into()]))
        );
        assert_eq!(
            <(i64,)>::from_value(Frame::Array(vec![Frame::Integer(1)])),
            Ok((1,))
        );
        let three = Frame::Set(vec![Frame::Integer(1), bulk("x"), Frame::Null]);
        assert_eq!(
            <(i64, String, Option<i64>)>::from_value(three),
            Ok((1, "x".into(), None))
        );
    }

    #[test]
    fn twelve_elements_is_the_largest_tuple() {
        let frame = Frame::Array((0..12).map(Frame::Integer).collect());
        type Twelve = (i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, u8);
        let t = Twelve::from_value(frame).unwrap();
        assert_eq!((t.0, t.11), (0, 11));
    }

    #[test]
    fn a_one_entry_map_is_a_pair() {
        let map = Frame::Map(vec![(bulk("stream"), Frame::Integer(3))]);
        assert_eq!(<(String, i64)>::from_value(map), Ok(("stream".into(), 3)));
        let two = Frame::Map(vec![(bulk("a"), bulk("b")), (bulk("c"), bulk("d"))]);
        assert!(<(String, String)>::from_value(two).is_err());
    }

    #[test]
    fn wrong_lengths_and_elements_are_reported() {
        let two = Frame::Array(vec![Frame::Integer(1), Frame::Integer(2)]);
        assert_eq!(
            <(i64, i64, i64)>::from_value(two).unwrap_err().to_string(),
            "cannot convert the reply into a tuple of 3: got array of 2 elements"
        );
        let bad = Frame::Array(vec![Frame::Integer(1), bulk("x")]);
        assert_eq!(
            <(i64, i64)>::from_value(bad).unwrap_err().to_string(),
            r#"cannot convert the reply into i64: got bulk string "x", in element 1"#
        );
        assert!(
            <(String, String)>::from_value(Frame::NullArray).is_err(),
            "use an Option"
        );
        assert_eq!(
            Option::<(String, String)>::from_value(Frame::NullArray),
            Ok(None)
        );
    }
}
