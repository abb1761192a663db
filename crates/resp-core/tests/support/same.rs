//! Frame equality for tests and fuzz targets, shared by `tests/roundtrip.rs` and
//! `fuzz/fuzz_targets/common.rs` through `#[path]`.

use resp_core::Frame;

/// Structural equality in which NaN equals NaN and other doubles compare by their bits (so
/// `0.0` and `-0.0` differ, as they do on the wire).
pub(crate) fn same(a: &Frame, b: &Frame) -> bool {
    use Frame::*;
    match (a, b) {
        (Double(x), Double(y)) => (x.is_nan() && y.is_nan()) || x.to_bits() == y.to_bits(),
        (Array(x), Array(y)) | (Set(x), Set(y)) | (Push(x), Push(y)) => same_all(x, y),
        (Map(x), Map(y)) => same_pairs(x, y),
        (
            Attributed {
                attributes: xa,
                frame: xf,
            },
            Attributed {
                attributes: ya,
                frame: yf,
            },
        ) => same_pairs(xa, ya) && same(xf, yf),
        // Everything else holds no double and compares with `==`.
        _ => a == b,
    }
}

pub(crate) fn same_all(a: &[Frame], b: &[Frame]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
}

fn same_pairs(a: &[(Frame, Frame)], b: &[(Frame, Frame)]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|((xk, xv), (yk, yv))| same(xk, yk) && same(xv, yv))
}
