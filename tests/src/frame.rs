//! A small, independent RESP2/RESP3 reader: the test oracle, not the product codec.

/// One RESP value.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// `+text`
    Simple(String),
    /// `-ERR text` (and `!` blob errors)
    Error(String),
    /// `:42`
    Integer(i64),
    /// `$n` bulk string
    Bulk(Vec<u8>),
    /// `$-1`, `*-1` or `_`
    Null,
    /// `,3.14`
    Double(String),
    /// `#t` / `#f`
    Boolean(bool),
    /// `(123...`
    BigNumber(String),
    /// `=n fmt:text`
    Verbatim {
        /// The three-letter format, e.g. `txt`.
        format: String,
        /// The text.
        text: String,
    },
    /// `*n`
    Array(Vec<Self>),
    /// `~n`
    Set(Vec<Self>),
    /// `%n`
    Map(Vec<(Self, Self)>),
    /// `>n`
    Push(Vec<Self>),
    /// `|n` attributes followed by the value they describe.
    Attributed {
        /// The attribute map.
        attributes: Vec<(Self, Self)>,
        /// The value.
        value: Box<Self>,
    },
}

impl Frame {
    /// The frame as text (simple, bulk, verbatim, double, big number), or "" otherwise.
    pub fn text(&self) -> String {
        match self {
            Self::Simple(s) | Self::Double(s) | Self::BigNumber(s) | Self::Error(s) => s.clone(),
            Self::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
            Self::Verbatim { text, .. } => text.clone(),
            Self::Integer(i) => i.to_string(),
            _ => String::new(),
        }
    }

    /// The elements of an array, set or push.
    pub fn items(&self) -> Option<&[Self]> {
        match self {
            Self::Array(v) | Self::Set(v) | Self::Push(v) => Some(v),
            _ => None,
        }
    }

    /// The integer value.
    pub fn integer(&self) -> Option<i64> {
        match self {
            Self::Integer(i) => Some(*i),
            _ => None,
        }
    }

    /// Whether the frame is an error reply.
    pub fn is_error(&self) -> bool {
        matches!(self, Self::Error(_))
    }

    /// Looks `key` up in a map (RESP3) or a flat key/value array (RESP2), as HELLO returns.
    pub fn get(&self, key: &str) -> Option<&Self> {
        match self {
            Self::Map(pairs) => pairs.iter().find(|(k, _)| k.text() == key).map(|(_, v)| v),
            Self::Array(items) => items
                .chunks(2)
                .find(|kv| kv[0].text() == key)
                .and_then(|kv| kv.get(1)),
            _ => None,
        }
    }
}

/// Parses one frame from the start of `buf`: `Ok(None)` when more bytes are needed, else the
/// frame and how many bytes it used.
pub fn parse_frame(buf: &[u8]) -> Result<Option<(Frame, usize)>, String> {
    let Some(line_end) = buf.windows(2).position(|w| w == b"\r\n") else {
        return Ok(None);
    };
    let Some((&kind, rest)) = buf[..line_end].split_first() else {
        return Err("empty line where a frame was expected".to_owned());
    };
    let line = std::str::from_utf8(rest).map_err(|e| e.to_string())?;
    let after = line_end + 2;
    let int = || {
        line.parse::<i64>()
            .map_err(|_| format!("bad number {line:?}"))
    };
    let simple = |f: Frame| Ok(Some((f, after)));
    match kind {
        b'+' => simple(Frame::Simple(line.to_owned())),
        b'-' => simple(Frame::Error(line.to_owned())),
        b':' => simple(Frame::Integer(int()?)),
        b'_' => simple(Frame::Null),
        b',' => simple(Frame::Double(line.to_owned())),
        b'(' => simple(Frame::BigNumber(line.to_owned())),
        b'#' => match line {
            "t" => simple(Frame::Boolean(true)),
            "f" => simple(Frame::Boolean(false)),
            _ => Err(format!("bad boolean {line:?}")),
        },
        b'$' | b'=' | b'!' => {
            let Ok(len) = usize::try_from(int()?) else {
                return simple(Frame::Null);
            };
            if buf.len() < after + len + 2 {
                return Ok(None);
            }
            if &buf[after + len..after + len + 2] != b"\r\n" {
                return Err("a blob does not end with CRLF".to_owned());
            }
            let data = buf[after..after + len].to_vec();
            let frame = match kind {
                b'$' => Frame::Bulk(data),
                b'!' => Frame::Error(String::from_utf8_lossy(&data).into_owned()),
                _ => {
                    let text = String::from_utf8_lossy(&data).into_owned();
                    let (format, text) = text.split_once(':').ok_or("verbatim without format")?;
                    Frame::Verbatim {
                        format: format.to_owned(),
                        text: text.to_owned(),
                    }
                }
            };
            Ok(Some((frame, after + len + 2)))
        }
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            let Ok(count) = usize::try_from(int()?) else {
                return simple(Frame::Null);
            };
            let per = if matches!(kind, b'%' | b'|') { 2 } else { 1 };
            let mut items = Vec::with_capacity(count * per);
            let mut at = after;
            for _ in 0..count * per {
                let Some((item, used)) = parse_frame(&buf[at..])? else {
                    return Ok(None);
                };
                items.push(item);
                at += used;
            }
            let pairs = |items: Vec<Frame>| {
                let mut it = items.into_iter();
                let mut out = Vec::new();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    out.push((k, v));
                }
                out
            };
            let frame = match kind {
                b'*' => Frame::Array(items),
                b'~' => Frame::Set(items),
                b'>' => Frame::Push(items),
                b'%' => Frame::Map(pairs(items)),
                _ => {
                    let Some((value, used)) = parse_frame(&buf[at..])? else {
                        return Ok(None);
                    };
                    at += used;
                    Frame::Attributed {
                        attributes: pairs(items),
                        value: Box::new(value),
                    }
                }
            };
            Ok(Some((frame, at)))
        }
        other => Err(format!("unknown frame type byte {:?}", other as char)),
    }
}
