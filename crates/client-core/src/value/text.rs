//! Strings and bytes.
//!
//! Simple, bulk and verbatim strings are text; so are numbers, as their decimal form, because
//! RESP2 sends many numbers as bulk strings and a `String` should read the same value from
//! either protocol. A null is not an empty string: read an `Option` when the key may be missing.

use bytes::Bytes;
use resp_core::Frame;

use super::{ConversionError, FromValue, collection, unwrap_attributes};

/// The payload of a string reply, or the decimal text of a number; the frame back otherwise.
fn text_bytes(frame: Frame) -> Result<Bytes, Frame> {
    match frame {
        Frame::BigNumber(b) => Ok(b),
        Frame::Integer(n) => Ok(Bytes::copy_from_slice(
            itoa::Buffer::new().format(n).as_bytes(),
        )),
        Frame::Double(x) => Ok(Bytes::from(double_text(x))),
        other => other.into_string_payload(),
    }
}

/// A double as Redis would print it in a RESP2 reply: `3` rather than `3.0`, `inf`, `nan`.
fn double_text(x: f64) -> String {
    if x.is_nan() {
        "nan".to_owned()
    } else if x.is_infinite() {
        if x > 0.0 { "inf" } else { "-inf" }.to_owned()
    } else if x == 0.0 || (1e-5..1e17).contains(&x.abs()) {
        format!("{x}")
    } else {
        // Plain notation would spell out hundreds of digits.
        format!("{x:e}")
    }
}

impl FromValue for String {
    fn from_value(frame: Frame) -> Result<Self, ConversionError> {
        let frame = unwrap_attributes(frame);
        let kind = frame.type_name();
        let bytes = text_bytes(frame).map_err(|other| ConversionError::new("String", &other))?;
        match std::str::from_utf8(&bytes) {
            Ok(text) => Ok(text.to_owned()),
            Err(e) => Err(ConversionError::custom(
                "String",
                format!(
                    "{kind} of {} bytes that is not valid UTF-8 (byte {} starts an invalid \
                     sequence); read it as Vec<u8> or Bytes",
                    bytes.len(),
                    e.valid_up_to()
                ),
            )),
        }
    }
}

impl FromValue for Bytes {
    /// Takes the payload out of the frame: a slice of the read buffer, not a copy.
    fn from_value(frame: Frame) -> Result<Self, ConversionError> {
        text_bytes(unwrap_attributes(frame)).map_err(|other| ConversionError::new("Bytes", &other))
    }
}

/// `Vec<u8>`: a string reply's bytes, or an array of byte-sized integers.
pub(super) fn byte_vec(frame: Frame) -> Result<Vec<u8>, ConversionError> {
    match unwrap_attributes(frame) {
        aggregate @ (Frame::Array(_) | Frame::Set(_) | Frame::Push(_)) => {
            collection::elements(aggregate)
        }
        other => text_bytes(other)
            .map(Vec::from)
            .map_err(|other| ConversionError::new("Vec<u8>", &other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(bytes: &[u8]) -> Frame {
        Frame::BulkString(Bytes::copy_from_slice(bytes))
    }

    #[test]
    fn strings_come_from_every_string_shape() {
        assert_eq!(String::from_value(bulk(b"hello")), Ok("hello".into()));
        assert_eq!(
            String::from_value(Frame::SimpleString("OK".into())),
            Ok("OK".into())
        );
        let verbatim = Frame::verbatim(*b"txt", "# Server");
        assert_eq!(
            String::from_value(verbatim),
            Ok("# Server".into()),
            "INFO in RESP3"
        );
        assert_eq!(String::from_value(bulk(b"")), Ok(String::new()));
    }

    #[test]
    fn numbers_read_as_their_text_in_both_protocols() {
        assert_eq!(String::from_value(Frame::Integer(-12)), Ok("-12".into()));
        assert_eq!(String::from_value(Frame::Double(3.0)), Ok("3".into()));
        assert_eq!(String::from_value(Frame::Double(2.5)), Ok("2.5".into()));
        assert_eq!(
            String::from_value(Frame::Double(f64::NEG_INFINITY)),
            Ok("-inf".into())
        );
        assert_eq!(
            String::from_value(Frame::Double(f64::NAN)),
            Ok("nan".into())
        );
        assert_eq!(String::from_value(Frame::Double(1e300)), Ok("1e300".into()));
        assert_eq!(
            String::from_value(Frame::BigNumber("123456789012345678901".into())),
            Ok("123456789012345678901".into())
        );
    }

    #[test]
    fn invalid_utf8_is_a_clear_error() {
        let e = String::from_value(bulk(b"ab\xffcd")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "cannot convert the reply into String: got bulk string of 5 bytes that is not valid \
             UTF-8 (byte 2 starts an invalid sequence); read it as Vec<u8> or Bytes"
        );
        assert_eq!(
            Vec::<u8>::from_value(bulk(b"ab\xffcd")),
            Ok(b"ab\xffcd".to_vec())
        );
    }

    #[test]
    fn nulls_and_aggregates_are_not_strings() {
        assert_eq!(
            String::from_value(Frame::NullBulkString)
                .unwrap_err()
                .to_string(),
            "cannot convert the reply into String: got null bulk string"
        );
        assert!(String::from_value(Frame::Array(vec![])).is_err());
        assert!(String::from_value(Frame::Boolean(true)).is_err());
        assert_eq!(
            Vec::<u8>::from_value(Frame::Null).unwrap_err().to_string(),
            "cannot convert the reply into Vec<u8>: got null"
        );
        assert!(Bytes::from_value(Frame::Map(vec![])).is_err());
    }

    #[test]
    fn bytes_are_taken_without_copying() {
        let payload = Bytes::from(vec![7u8; 1024]);
        let got = Bytes::from_value(Frame::BulkString(payload.clone())).unwrap();
        assert_eq!(got.as_ptr(), payload.as_ptr());
        assert_eq!(
            Bytes::from_value(Frame::Integer(5)),
            Ok(Bytes::from_static(b"5"))
        );
    }

    #[test]
    fn byte_vectors_read_strings_or_integer_arrays() {
        assert_eq!(Vec::<u8>::from_value(bulk(b"\x00\x01")), Ok(vec![0, 1]));
        let ints = Frame::Array(vec![Frame::Integer(1), Frame::Integer(2)]);
        assert_eq!(Vec::<u8>::from_value(ints), Ok(vec![1, 2]));
        let nested = Frame::Array(vec![bulk(b"a"), bulk(b"bc")]);
        assert_eq!(
            Vec::<Vec<u8>>::from_value(nested),
            Ok(vec![b"a".to_vec(), b"bc".to_vec()])
        );
    }
}
