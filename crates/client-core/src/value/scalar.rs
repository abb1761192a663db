//! Numbers, booleans and `()`.
//!
//! Redis sends numbers in several shapes: RESP integers, RESP3 doubles and big numbers, and,
//! very often, decimal text in a bulk string (`INCRBYFLOAT`, `ZSCORE` in RESP2, `HGET` of a
//! counter). The numeric conversions accept all of them as long as the value is exact: text
//! must be a whole decimal for an integer type, a double must have no fraction, and a value out
//! of the target's range is an error rather than a wrapped or saturated number.

use resp_core::Frame;

use super::{ConversionError, FromValue, describe, unwrap_attributes};

/// A double with no fraction, as an integer, if it is within `i128`'s range.
fn integral(x: f64) -> Option<i128> {
    // 2^127, exactly representable; `as` would saturate silently at the bounds.
    const BOUND: f64 = 170_141_183_460_469_231_731_687_303_715_884_105_728.0;
    (x.is_finite() && x.fract() == 0.0 && (-BOUND..BOUND).contains(&x)).then_some(x as i128)
}

fn text(bytes: &[u8]) -> Option<&str> {
    std::str::from_utf8(bytes).ok()
}

/// The integer a reply holds exactly, if it holds one.
fn integer_of(frame: &Frame) -> Option<i128> {
    match frame {
        Frame::Integer(n) => Some(i128::from(*n)),
        Frame::Boolean(b) => Some(i128::from(*b)),
        Frame::Double(x) => integral(*x),
        Frame::BigNumber(t) => text(t)?.parse().ok(),
        other => text(other.string_payload()?)?.parse().ok(),
    }
}

fn out_of_range(expected: &'static str, frame: &Frame) -> ConversionError {
    ConversionError::custom(expected, format!("{}, out of range", describe(frame)))
}

macro_rules! integers {
    ($($t:ty),*) => {$(
        impl FromValue for $t {
            fn from_value(frame: Frame) -> Result<Self, ConversionError> {
                integer(frame, stringify!($t))
            }
        }
    )*};
}

fn integer<T: TryFrom<i128>>(frame: Frame, expected: &'static str) -> Result<T, ConversionError> {
    let frame = unwrap_attributes(frame);
    let wide = integer_of(&frame).ok_or_else(|| ConversionError::new(expected, &frame))?;
    T::try_from(wide).map_err(|_| out_of_range(expected, &frame))
}

integers!(i8, i16, i32, i64, i128, isize, u16, u32, u64, usize);

impl FromValue for u8 {
    fn from_value(frame: Frame) -> Result<Self, ConversionError> {
        integer(frame, "u8")
    }

    /// `Vec<u8>` is bytes: a string reply's payload. An array of small integers works too.
    fn vec_from_value(frame: Frame) -> Result<Vec<Self>, ConversionError> {
        super::text::byte_vec(frame)
    }
}

impl FromValue for u128 {
    fn from_value(frame: Frame) -> Result<Self, ConversionError> {
        let frame = unwrap_attributes(frame);
        // Text above i128::MAX is still a u128.
        if let Frame::BigNumber(t) | Frame::BulkString(t) | Frame::SimpleString(t) = &frame
            && let Some(n) = text(t).and_then(|t| t.parse().ok())
        {
            return Ok(n);
        }
        integer(frame, "u128")
    }
}

/// The number a reply holds, if it holds one.
fn float_of(frame: &Frame) -> Option<f64> {
    match frame {
        Frame::Double(x) => Some(*x),
        Frame::Integer(n) => Some(*n as f64),
        Frame::BigNumber(t) => parse_float(text(t)?),
        other => parse_float(text(other.string_payload()?)?),
    }
}

/// Decimal text as Redis writes it, `inf`, `-inf` and `nan` included (Rust's parser also takes
/// `infinity` and any case).
fn parse_float(text: &str) -> Option<f64> {
    // Rust reads "nan" but not a signed "-nan", which C's printf may produce.
    if text.eq_ignore_ascii_case("-nan") || text.eq_ignore_ascii_case("+nan") {
        return Some(f64::NAN);
    }
    text.parse().ok()
}

impl FromValue for f64 {
    fn from_value(frame: Frame) -> Result<Self, ConversionError> {
        let frame = unwrap_attributes(frame);
        float_of(&frame).ok_or_else(|| ConversionError::new("f64", &frame))
    }
}

impl FromValue for f32 {
    /// Rounds to the nearest `f32`; values beyond its range become infinities.
    fn from_value(frame: Frame) -> Result<Self, ConversionError> {
        let frame = unwrap_attributes(frame);
        float_of(&frame)
            .map(|x| x as Self)
            .ok_or_else(|| ConversionError::new("f32", &frame))
    }
}

impl FromValue for bool {
    /// Lenient on purpose, so that one type reads the usual yes/no replies of both protocols:
    /// RESP3 booleans; integers (`EXPIRE`'s 1/0, `SISMEMBER`; any nonzero count is true); `OK`
    /// (true) and null (false), which is how `SET ... NX` answers; the text `1` and `0`. A Lua
    /// `false` is a null in RESP2 and `#f` in RESP3, and both read as false.
    fn from_value(frame: Frame) -> Result<Self, ConversionError> {
        match unwrap_attributes(frame) {
            Frame::Boolean(b) => Ok(b),
            Frame::Integer(n) => Ok(n != 0),
            Frame::Null | Frame::NullBulkString | Frame::NullArray => Ok(false),
            Frame::SimpleString(t) if &t[..] == b"OK" => Ok(true),
            Frame::SimpleString(t) | Frame::BulkString(t) if &t[..] == b"1" => Ok(true),
            Frame::SimpleString(t) | Frame::BulkString(t) if &t[..] == b"0" => Ok(false),
            other => Err(ConversionError::new("bool", &other)),
        }
    }
}

/// What `()` refuses: an error reply, attributes or not.
fn unit_refusal(frame: &Frame) -> Option<ConversionError> {
    let frame = frame.without_attributes();
    frame.is_error().then(|| ConversionError::new("()", frame))
}

impl FromValue for () {
    /// Accepts any reply but an error reply, for commands whose answer is not needed.
    fn from_value(frame: Frame) -> Result<Self, ConversionError> {
        unit_refusal(&frame).map_or(Ok(()), Err)
    }

    /// A pipeline of writes read as `Vec<()>`: its replies are only looked at for errors,
    /// in place, and then dropped together.
    fn vec_from_value(frame: Frame) -> Result<Vec<Self>, ConversionError> {
        match unwrap_attributes(frame) {
            Frame::Array(items) | Frame::Set(items) | Frame::Push(items) => {
                let refusal = items.iter().enumerate().find_map(|(i, item)| {
                    unit_refusal(item).map(|e| e.within(format_args!("element {i}")))
                });
                refusal.map_or_else(|| Ok(vec![(); items.len()]), Err)
            }
            other => super::collection::elements(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn bulk(text: &str) -> Frame {
        Frame::BulkString(Bytes::copy_from_slice(text.as_bytes()))
    }

    fn err<T: FromValue + std::fmt::Debug>(frame: Frame) -> String {
        T::from_value(frame)
            .expect_err("conversion should fail")
            .to_string()
    }

    #[test]
    fn integers_come_from_every_numeric_shape() {
        assert_eq!(i64::from_value(Frame::Integer(-7)), Ok(-7));
        assert_eq!(i64::from_value(bulk("42")), Ok(42));
        assert_eq!(i64::from_value(Frame::SimpleString("-3".into())), Ok(-3));
        assert_eq!(u16::from_value(Frame::Double(3.0)), Ok(3));
        assert_eq!(i32::from_value(Frame::Boolean(true)), Ok(1));
        assert_eq!(usize::from_value(Frame::BigNumber("12".into())), Ok(12));
        let verbatim = Frame::verbatim(*b"txt", "9");
        assert_eq!(i8::from_value(verbatim), Ok(9));
        assert_eq!(isize::from_value(Frame::Integer(5)), Ok(5));
        assert_eq!(u8::from_value(Frame::Integer(255)), Ok(255));
    }

    #[test]
    fn big_numbers_fill_the_wide_types_and_fit_narrow_ones() {
        let huge = "170141183460469231731687303715884105727";
        assert_eq!(
            i128::from_value(Frame::BigNumber(huge.into())),
            Ok(i128::MAX)
        );
        let above_i128 = "340282366920938463463374607431768211455";
        assert_eq!(
            u128::from_value(Frame::BigNumber(above_i128.into())),
            Ok(u128::MAX)
        );
        assert_eq!(u128::from_value(Frame::Integer(3)), Ok(3));
        assert_eq!(i64::from_value(Frame::BigNumber("-9000".into())), Ok(-9000));
        assert_eq!(
            err::<i64>(Frame::BigNumber(huge.into())),
            format!(r#"cannot convert the reply into i64: got big number "{huge}", out of range"#)
        );
    }

    #[test]
    fn integers_are_exact_or_an_error() {
        assert_eq!(
            err::<i64>(bulk("abc")),
            r#"cannot convert the reply into i64: got bulk string "abc""#
        );
        assert_eq!(
            err::<i64>(bulk("1.5")),
            r#"cannot convert the reply into i64: got bulk string "1.5""#
        );
        assert_eq!(
            err::<i64>(Frame::Double(1.5)),
            "cannot convert the reply into i64: got double 1.5"
        );
        assert_eq!(
            err::<i64>(Frame::Double(f64::INFINITY)),
            "cannot convert the reply into i64: got double inf"
        );
        assert_eq!(
            err::<u8>(Frame::Integer(300)),
            "cannot convert the reply into u8: got integer 300, out of range"
        );
        assert_eq!(
            err::<u64>(Frame::Integer(-1)),
            "cannot convert the reply into u64: got integer -1, out of range"
        );
        assert_eq!(
            err::<i64>(Frame::Null),
            "cannot convert the reply into i64: got null"
        );
        assert_eq!(
            err::<i64>(bulk(" 1")),
            r#"cannot convert the reply into i64: got bulk string " 1""#
        );
        assert!(err::<i64>(Frame::Array(vec![])).ends_with("got array of 0 elements"));
    }

    #[test]
    fn floats_read_doubles_integers_and_redis_text() {
        assert_eq!(f64::from_value(Frame::Double(2.5)), Ok(2.5));
        assert_eq!(f64::from_value(Frame::Integer(-4)), Ok(-4.0));
        assert_eq!(f64::from_value(bulk("3.5")), Ok(3.5), "INCRBYFLOAT's reply");
        assert_eq!(f64::from_value(bulk("inf")), Ok(f64::INFINITY));
        assert_eq!(f64::from_value(bulk("-inf")), Ok(f64::NEG_INFINITY));
        assert_eq!(f64::from_value(bulk("1e3")), Ok(1000.0));
        assert!(f64::from_value(bulk("nan")).unwrap().is_nan());
        assert!(f64::from_value(bulk("-nan")).unwrap().is_nan());
        assert!(f64::from_value(Frame::Double(f64::NAN)).unwrap().is_nan());
        assert_eq!(
            f64::from_value(Frame::BigNumber("12345".into())),
            Ok(12345.0)
        );
        assert_eq!(f32::from_value(bulk("0.5")), Ok(0.5));
        assert_eq!(
            err::<f64>(bulk("x1")),
            r#"cannot convert the reply into f64: got bulk string "x1""#
        );
        assert_eq!(
            err::<f32>(Frame::Boolean(true)),
            "cannot convert the reply into f32: got boolean true"
        );
    }

    #[test]
    fn booleans_read_the_yes_no_replies_of_both_protocols() {
        assert_eq!(bool::from_value(Frame::Boolean(false)), Ok(false));
        assert_eq!(bool::from_value(Frame::Integer(1)), Ok(true));
        assert_eq!(bool::from_value(Frame::Integer(0)), Ok(false));
        assert_eq!(
            bool::from_value(Frame::Integer(3)),
            Ok(true),
            "a nonzero count"
        );
        assert_eq!(
            bool::from_value(Frame::SimpleString("OK".into())),
            Ok(true),
            "SET NX done"
        );
        assert_eq!(
            bool::from_value(Frame::NullBulkString),
            Ok(false),
            "SET NX refused"
        );
        assert_eq!(
            bool::from_value(Frame::Null),
            Ok(false),
            "Lua false in RESP2"
        );
        assert_eq!(bool::from_value(bulk("1")), Ok(true));
        assert_eq!(bool::from_value(bulk("0")), Ok(false));
        assert_eq!(
            err::<bool>(bulk("yes")),
            r#"cannot convert the reply into bool: got bulk string "yes""#
        );
        assert!(err::<bool>(Frame::SimpleString("QUEUED".into())).contains("QUEUED"));
    }

    #[test]
    fn unit_takes_anything_but_an_error() {
        assert_eq!(<()>::from_value(Frame::SimpleString("OK".into())), Ok(()));
        assert_eq!(
            <()>::from_value(Frame::Array(vec![Frame::Integer(1)])),
            Ok(())
        );
        assert_eq!(<()>::from_value(Frame::Null), Ok(()));
        let e = <()>::from_value(Frame::SimpleError("ERR nope".into())).unwrap_err();
        assert!(e.is_server_error());
        assert_eq!(
            e.to_string(),
            r#"cannot convert the reply into (): got server error "ERR nope""#
        );
    }

    #[test]
    fn units_of_a_pipeline_read_as_element_by_element_would() {
        let attributed = |frame: Frame| Frame::Attributed {
            attributes: vec![],
            frame: Box::new(frame),
        };
        let replies = [
            Frame::Array(vec![Frame::SimpleString("OK".into()), Frame::Integer(2)]),
            Frame::Array(vec![
                Frame::SimpleString("OK".into()),
                Frame::Null,
                Frame::SimpleError("WRONGTYPE no".into()),
                Frame::BulkError("ERR later".into()),
            ]),
            Frame::Set(vec![attributed(Frame::BulkError("ERR inside".into()))]),
            attributed(Frame::Push(vec![Frame::Integer(1)])),
            Frame::Map(vec![(
                Frame::Integer(1),
                Frame::SimpleError("ERR v".into()),
            )]),
            Frame::Array(vec![]),
            Frame::Null,
            Frame::Integer(3),
        ];
        for reply in replies {
            let fast = <()>::vec_from_value(reply.clone());
            let general = super::super::collection::elements::<()>(reply.clone());
            assert_eq!(fast, general, "{reply:?}");
            if let Err(e) = fast {
                assert_eq!(e.is_server_error(), reply_has_error(&reply), "{reply:?}");
            }
        }
        let e = <()>::vec_from_value(Frame::Array(vec![
            Frame::Integer(1),
            Frame::SimpleError("ERR nope".into()),
        ]))
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"cannot convert the reply into (): got server error "ERR nope", in element 1"#
        );
    }

    fn reply_has_error(frame: &Frame) -> bool {
        match frame.without_attributes() {
            Frame::Array(items) | Frame::Set(items) | Frame::Push(items) => {
                items.iter().any(|i| i.without_attributes().is_error())
            }
            Frame::Map(entries) => entries.iter().any(|(_, v)| v.is_error()),
            _ => false,
        }
    }

    #[test]
    fn error_replies_say_they_were_server_errors() {
        let e = i64::from_value(Frame::BulkError("WRONGTYPE not a counter".into())).unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"cannot convert the reply into i64: got server error "WRONGTYPE not a counter""#
        );
    }

    #[test]
    fn attributes_are_looked_through() {
        let f = Frame::Attributed {
            attributes: vec![(bulk("key-popularity"), Frame::Double(0.1))],
            frame: Box::new(Frame::Integer(8)),
        };
        assert_eq!(i64::from_value(f.clone()), Ok(8));
        assert_eq!(f64::from_value(f.clone()), Ok(8.0));
        assert_eq!(bool::from_value(f), Ok(true));
    }
}
