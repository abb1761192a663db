//! The decoder under tiny limits, on arbitrary bytes.
//!
//! The first byte picks the read sizes and the next four the limits (bulk length, aggregate
//! length, depth, line length, each small enough for random input to reach, or `usize::MAX`).
//! Checks what `decode` checks, and that every decoded frame is within the limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use resp_core::{Frame, Limits};

mod common;

fuzz_target!(|data: &[u8]| {
    let [seed, bulk, aggregate, depth, line, wire @ ..] = data else {
        return;
    };
    // A byte of 255 lifts the limit to `usize::MAX`, the way a caller would say "no limit".
    let limit = |byte: u8, small: u8| {
        if byte == u8::MAX {
            usize::MAX
        } else {
            usize::from(byte % small)
        }
    };
    let mut limits = Limits::default();
    limits.max_bulk_len = limit(*bulk, 32);
    limits.max_aggregate_len = limit(*aggregate, 8);
    limits.max_depth = usize::from(depth % 6);
    limits.max_line_len = limit(*line, 32);

    let whole = common::feed(wire, limits, None);
    let split = common::feed(wire, limits, Some(common::Reads::new(*seed)));
    split.assert_same_as(&whole);
    common::assert_stateless_agrees(wire, limits, &whole);
    for frame in &whole.frames {
        assert_within(frame, &limits, 0);
        // Re-encoding may need more room than the input did (a streamed string becomes one
        // bulk), so read it back with the default limits.
        common::assert_reencodes(frame, Limits::default());
    }
});

/// `frame`, found `depth` aggregates deep, respects `limits`.
fn assert_within(frame: &Frame, limits: &Limits, depth: usize) {
    let line = |text: &[u8]| assert!(text.len() <= limits.max_line_len, "{frame:?}");
    let bulk = |len: usize| assert!(len <= limits.max_bulk_len, "{frame:?}");
    let aggregate = |len: usize| {
        assert!(len <= limits.max_aggregate_len, "{frame:?}");
        // An empty aggregate opens nothing, so only a non-empty one counts against the depth.
        if len > 0 {
            assert!(depth < limits.max_depth, "{frame:?} at depth {depth}");
        }
    };
    match frame {
        Frame::SimpleString(text) | Frame::SimpleError(text) | Frame::BigNumber(text) => {
            line(text);
        }
        Frame::BulkString(data) | Frame::BulkError(data) => bulk(data.len()),
        Frame::VerbatimString { text, .. } => bulk(text.len() + 4),
        Frame::Array(items) | Frame::Set(items) | Frame::Push(items) => {
            aggregate(items.len());
            for item in items {
                assert_within(item, limits, depth + 1);
            }
        }
        Frame::Map(pairs) => {
            aggregate(pairs.len());
            for (key, value) in pairs {
                assert_within(key, limits, depth + 1);
                assert_within(value, limits, depth + 1);
            }
        }
        Frame::Attributed { attributes, frame } => {
            assert!(attributes.len() <= limits.max_aggregate_len, "{frame:?}");
            // An attribute always opens: its frame follows it.
            assert!(depth < limits.max_depth, "attributes at depth {depth}");
            for (key, value) in attributes {
                assert_within(key, limits, depth + 1);
                assert_within(value, limits, depth + 1);
            }
            assert_within(frame, limits, depth + 1);
        }
        _ => {}
    }
}
