//! Turning Rust values into command arguments.

use bytes::Bytes;

/// One command argument, borrowed or shared, before it is encoded.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Arg<'a> {
    /// Bytes to copy into the command.
    Bytes(&'a [u8]),
    /// Bytes the command may keep by reference: large values reach the socket without a copy.
    Shared(Bytes),
    /// A signed integer, formatted in decimal without allocating.
    Int(i64),
    /// An unsigned integer, formatted in decimal without allocating.
    UInt(u64),
    /// A float, formatted in its shortest exact form (`inf`, `-inf` for infinities).
    Float(f64),
}

impl Arg<'_> {
    /// Calls `f` with the argument's bytes as they go on the wire.
    #[inline]
    pub fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            Self::Bytes(bytes) => f(bytes),
            Self::Shared(bytes) => f(bytes),
            Self::Int(n) => f(itoa::Buffer::new().format(*n).as_bytes()),
            Self::UInt(n) => f(itoa::Buffer::new().format(*n).as_bytes()),
            Self::Float(x) => f(resp_core::DoubleText::new(*x).as_bytes()),
        }
    }
}

/// A value that is one command argument.
///
/// Implemented for strings, byte slices, [`Bytes`] (kept by reference when large), integers and
/// floats. Implement it for your own key or value types.
pub trait ToArg {
    /// The argument.
    fn to_arg(&self) -> Arg<'_>;
}

/// A value that is any number of command arguments: a single [`ToArg`], or a slice, `Vec`,
/// array or tuple of them.
pub trait ToArgs {
    /// Hands each argument to `sink`, in order.
    fn write_args(&self, sink: &mut dyn FnMut(Arg<'_>));

    /// How many arguments [`write_args`](Self::write_args) produces.
    fn arg_count(&self) -> usize;
}

impl<T: ToArg + ?Sized> ToArg for &T {
    fn to_arg(&self) -> Arg<'_> {
        (**self).to_arg()
    }
}

impl ToArg for str {
    fn to_arg(&self) -> Arg<'_> {
        Arg::Bytes(self.as_bytes())
    }
}

impl ToArg for String {
    fn to_arg(&self) -> Arg<'_> {
        Arg::Bytes(self.as_bytes())
    }
}

impl ToArg for [u8] {
    fn to_arg(&self) -> Arg<'_> {
        Arg::Bytes(self)
    }
}

impl<const N: usize> ToArg for [u8; N] {
    fn to_arg(&self) -> Arg<'_> {
        Arg::Bytes(self)
    }
}

impl ToArg for Vec<u8> {
    fn to_arg(&self) -> Arg<'_> {
        Arg::Bytes(self)
    }
}

impl ToArg for Bytes {
    fn to_arg(&self) -> Arg<'_> {
        // Below the threshold the bytes are copied anyway: borrowing them spares the clone's
        // and the drop's atomic reference counting.
        if self.len() >= super::SHARE_THRESHOLD {
            Arg::Shared(self.clone())
        } else {
            Arg::Bytes(self)
        }
    }
}

impl ToArg for bytes::BytesMut {
    fn to_arg(&self) -> Arg<'_> {
        Arg::Bytes(self)
    }
}

macro_rules! int_args {
    ($variant:ident as $wide:ty: $($t:ty),*) => {$(
        impl ToArg for $t {
            fn to_arg(&self) -> Arg<'_> {
                Arg::$variant(<$wide>::from(*self))
            }
        }
    )*};
}
int_args!(Int as i64: i8, i16, i32, i64);
int_args!(UInt as u64: u16, u32, u64);

impl ToArg for isize {
    fn to_arg(&self) -> Arg<'_> {
        Arg::Int(*self as i64)
    }
}

impl ToArg for usize {
    fn to_arg(&self) -> Arg<'_> {
        Arg::UInt(*self as u64)
    }
}

impl ToArg for f64 {
    fn to_arg(&self) -> Arg<'_> {
        Arg::Float(*self)
    }
}

impl ToArg for f32 {
    fn to_arg(&self) -> Arg<'_> {
        Arg::Float(f64::from(*self))
    }
}

impl ToArg for bool {
    /// `1` or `0`, as Redis takes booleans.
    fn to_arg(&self) -> Arg<'_> {
        Arg::Int(i64::from(*self))
    }
}

impl<T: ToArg> ToArgs for T {
    fn write_args(&self, sink: &mut dyn FnMut(Arg<'_>)) {
        sink(self.to_arg());
    }

    fn arg_count(&self) -> usize {
        1
    }
}

impl<T: ToArgs> ToArgs for [T] {
    fn write_args(&self, sink: &mut dyn FnMut(Arg<'_>)) {
        self.iter().for_each(|item| item.write_args(sink));
    }

    fn arg_count(&self) -> usize {
        self.iter().map(ToArgs::arg_count).sum()
    }
}

impl<T: ToArgs> ToArgs for &[T] {
    fn write_args(&self, sink: &mut dyn FnMut(Arg<'_>)) {
        (**self).write_args(sink);
    }

    fn arg_count(&self) -> usize {
        (**self).arg_count()
    }
}

/// No arguments: for a script with no keys, say.
impl ToArgs for () {
    fn write_args(&self, _sink: &mut dyn FnMut(Arg<'_>)) {}

    fn arg_count(&self) -> usize {
        0
    }
}

impl<T: ToArgs> ToArgs for Vec<T> {
    fn write_args(&self, sink: &mut dyn FnMut(Arg<'_>)) {
        self.as_slice().write_args(sink);
    }

    fn arg_count(&self) -> usize {
        self.as_slice().arg_count()
    }
}

impl<T: ToArgs, const N: usize> ToArgs for [T; N] {
    fn write_args(&self, sink: &mut dyn FnMut(Arg<'_>)) {
        self.as_slice().write_args(sink);
    }

    fn arg_count(&self) -> usize {
        self.as_slice().arg_count()
    }
}

macro_rules! tuple_args {
    ($($name:ident . $idx:tt),+) => {
        impl<$($name: ToArgs),+> ToArgs for ($($name,)+) {
            fn write_args(&self, sink: &mut dyn FnMut(Arg<'_>)) {
                $(self.$idx.write_args(sink);)+
            }

            fn arg_count(&self) -> usize {
                0 $(+ self.$idx.arg_count())+
            }
        }
    };
}
tuple_args!(A.0, B.1);
tuple_args!(A.0, B.1, C.2);
tuple_args!(A.0, B.1, C.2, D.3);

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(args: &impl ToArgs) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        args.write_args(&mut |arg| arg.with_bytes(|b| out.push(b.to_vec())));
        assert_eq!(out.len(), args.arg_count());
        out
    }

    #[test]
    fn values_become_their_wire_text() {
        assert_eq!(collect(&"k"), [b"k".to_vec()]);
        assert_eq!(collect(&-7i32), [b"-7".to_vec()]);
        assert_eq!(collect(&u64::MAX), [b"18446744073709551615".to_vec()]);
        assert_eq!(collect(&0.25f64), [b"0.25".to_vec()]);
        assert_eq!(collect(&f64::NEG_INFINITY), [b"-inf".to_vec()]);
        assert_eq!(collect(&true), [b"1".to_vec()]);
        assert_eq!(
            collect(&vec![0u8, 1]),
            [vec![0u8, 1]],
            "Vec<u8> is one binary argument"
        );
    }

    #[test]
    fn collections_and_tuples_flatten() {
        assert_eq!(collect(&["a", "b"]).len(), 2);
        assert_eq!(collect(&&["a", "b", "c"][..]).len(), 3, "slices");
        assert!(collect(&()).is_empty());
        assert_eq!(
            collect(&vec![("f1", 1), ("f2", 2)]),
            [b"f1".to_vec(), b"1".to_vec(), b"f2".to_vec(), b"2".to_vec()]
        );
    }
}
