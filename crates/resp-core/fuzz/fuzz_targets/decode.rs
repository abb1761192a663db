//! The decoder with its default limits, on arbitrary bytes.
//!
//! The first input byte picks a pattern of read sizes; the rest is the stream. Checks that
//! decoding never panics, that the reads' sizes change nothing (frames, error, bytes consumed)
//! compared with one whole read, that the stateless decoder agrees, that errors are sticky, and
//! that every decoded frame re-encodes to bytes that decode back to it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use resp_core::Limits;

mod common;

fuzz_target!(|data: &[u8]| {
    let Some((&seed, wire)) = data.split_first() else {
        return;
    };
    let limits = Limits::default();
    let whole = common::feed(wire, limits, None);
    let split = common::feed(wire, limits, Some(common::Reads::new(seed)));
    split.assert_same_as(&whole);
    common::assert_stateless_agrees(wire, limits, &whole);
    for frame in &whole.frames {
        common::assert_reencodes(frame, limits);
    }
});
