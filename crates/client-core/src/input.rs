//! How a connection's read buffer grows.
//!
//! A reply's bulk payload is handed to the caller as a slice of the read buffer, so the
//! buffer must hold the whole payload in one piece. Grown a read's worth at a time, the buffer
//! moved everything that had arrived of a long payload to a new allocation at each growth.
//! Two things keep a payload where it was read:
//!
//! - Once the decoder has read a bulk's header it knows where the payload ends, and the
//!   buffer grows to that length at once, before the rest arrives. The header's read still
//!   brought the payload's first part with it; that part (at most one read) moves, once.
//! - Between frames, with nothing buffered, the buffer takes back the room it had before, if
//!   no reply still holds a slice of it: that costs no copy, and the next payload as long as
//!   the longest so far (up to [`MAX_KEPT`]) then arrives in room that is already there.

use bytes::BytesMut;

/// Free space a read should find in the buffer; below it the buffer grows by [`READ_CHUNK`].
const MIN_SPARE: usize = 4 * 1024;

/// How much the buffer grows by when no payload is awaited.
const READ_CHUNK: usize = 16 * 1024;

/// The most a single step grows the buffer beyond what has arrived, on top of doubling.
///
/// The awaited length comes from the peer: a server could announce a 512 MiB payload (the
/// default `max_bulk_len`) and send nothing. The buffer then grows towards it no faster than
/// the bytes come: each step at most doubles what is there, plus this much.
const MAX_AHEAD: usize = 1 << 20;

/// The longest payload whose room is taken back between frames. Past it, a connection does
/// not hold on to the memory a rare huge reply needed.
const MAX_KEPT: usize = 1 << 20;

/// A read buffer's sizing: the room the longest payload so far needed (up to [`MAX_KEPT`]).
#[derive(Debug, Default)]
pub(crate) struct InputRoom {
    kept: usize,
}

impl InputRoom {
    /// Makes room in `buf` for the next read. `pending` is the length the buffer must reach
    /// for the awaited payload to be complete ([`resp_core::Decoder::pending_len`]), if one is
    /// awaited.
    pub(crate) fn reserve(&mut self, buf: &mut BytesMut, pending: Option<usize>) {
        let len = buf.len();
        match pending {
            Some(end) if end > len => {
                if end <= MAX_KEPT {
                    self.kept = self.kept.max(end);
                }
                // Past the payload, the room the next reads need: the buffer left once the
                // frame is split off is then still part of this allocation, which can be
                // taken back when the reply is gone.
                let step = len.saturating_add(len.max(MAX_AHEAD));
                let target = end.saturating_add(READ_CHUNK).min(step);
                if buf.capacity() < target {
                    buf.reserve(target - len);
                }
            }
            _ => {
                // Empty, and not shared with a reply still alive: back to the allocation's
                // start, moving nothing.
                if len == 0 && buf.capacity() < self.kept {
                    let _ = buf.try_reclaim(self.kept);
                }
                if buf.capacity() - len < MIN_SPARE {
                    buf.reserve(READ_CHUNK);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads a frame of `total` bytes into `buf`, at most `chunk` bytes at a time as a socket
    /// delivers them (never more than the free space), calling `reserve` after each read but
    /// the last, with `end` as the decoder reports it once the header is in. Returns the bytes
    /// the buffer held at each growth (what a reallocation has to move), and leaves the frame
    /// in `buf`.
    fn read_frame(
        room: &mut InputRoom,
        buf: &mut BytesMut,
        total: usize,
        end: Option<usize>,
        chunk: usize,
    ) -> usize {
        let mut moved = 0;
        while buf.len() < total {
            let spare = buf.capacity() - buf.len();
            assert!(spare > 0, "no room to read at {} of {total}", buf.len());
            let n = chunk.min(spare).min(total - buf.len());
            let start = buf.len();
            buf.extend((start..start + n).map(|i| i as u8));
            if buf.len() == total {
                // The frame is whole: the decoder splits it off before the next reserve.
                break;
            }
            let capacity = buf.capacity();
            room.reserve(buf, end);
            if buf.capacity() != capacity {
                moved += buf.len();
            }
        }
        assert!(buf.iter().enumerate().all(|(i, &b)| b == i as u8));
        moved
    }

    const LONG: usize = 100 * 1024 + 13;

    fn fresh() -> (InputRoom, BytesMut) {
        let mut room = InputRoom::default();
        let mut buf = BytesMut::new();
        room.reserve(&mut buf, None);
        (room, buf)
    }

    #[test]
    fn an_announced_payload_moves_at_most_the_first_read() {
        let (mut room, mut buf) = fresh();
        let first_read = buf.capacity();
        let moved = read_frame(&mut room, &mut buf, LONG, Some(LONG), 64 * 1024);
        assert_eq!(moved, first_read);
        // Grown a read's worth at a time, the buffer holds ever more at each growth.
        let (mut room, mut buf) = fresh();
        let blind = read_frame(&mut room, &mut buf, LONG, None, 64 * 1024);
        assert!(blind > 4 * first_read, "{blind} bytes");
    }

    #[test]
    fn the_next_long_payload_arrives_in_the_room_taken_back() {
        let (mut room, mut buf) = fresh();
        read_frame(&mut room, &mut buf, LONG, Some(LONG), 64 * 1024);
        let reply = buf.split_to(LONG).freeze();
        // A short reply in between, read after the long one.
        room.reserve(&mut buf, None);
        read_frame(&mut room, &mut buf, 5, None, 64 * 1024);
        let _ = buf.split_to(5);
        // While the long reply is alive its memory cannot be reused.
        room.reserve(&mut buf, None);
        assert!(buf.capacity() < LONG);
        drop(reply);
        room.reserve(&mut buf, None);
        assert!(buf.capacity() >= LONG, "{}", buf.capacity());
        let before = buf.as_ptr();
        assert_eq!(
            read_frame(&mut room, &mut buf, LONG, Some(LONG), 64 * 1024),
            0
        );
        assert_eq!(buf.as_ptr(), before);
    }

    #[test]
    fn a_huge_announcement_grows_the_buffer_only_as_bytes_arrive() {
        let mut room = InputRoom::default();
        let mut buf = BytesMut::from(&b"$536870912\r\n"[..]);
        room.reserve(&mut buf, Some(512 << 20));
        assert!(buf.capacity() <= 2 * MAX_AHEAD, "{}", buf.capacity());
        // A step never more than doubles what is there, plus the allowance.
        buf.resize(4 * MAX_AHEAD, 0);
        let len = buf.len();
        room.reserve(&mut buf, Some(512 << 20));
        assert!(buf.capacity() > len);
        assert!(
            buf.capacity() <= 4 * (len + MAX_AHEAD),
            "{}",
            buf.capacity()
        );
        // Nor is that room kept for the next frame.
        buf.clear();
        let mut small = BytesMut::new();
        room.reserve(&mut small, None);
        assert!(small.capacity() < MAX_KEPT, "{}", small.capacity());
    }

    #[test]
    fn without_a_payload_a_read_always_finds_room() {
        let (_, buf) = fresh();
        assert!(buf.capacity() >= MIN_SPARE);
        // A payload already complete in the buffer asks for nothing more.
        let mut room = InputRoom::default();
        let mut buf = BytesMut::with_capacity(READ_CHUNK);
        buf.extend_from_slice(&[1; READ_CHUNK - 10]);
        room.reserve(&mut buf, Some(100));
        assert!(buf.capacity() - buf.len() >= MIN_SPARE);
        // Nor does taking back the room of a short payload leave less than that, even in a
        // small buffer the driver made itself.
        let mut room = InputRoom::default();
        room.reserve(&mut BytesMut::from(&b"$3\r\nab"[..]), Some(9));
        let mut buf = BytesMut::with_capacity(100);
        buf.extend_from_slice(&[0; 95]);
        let _ = buf.split_to(95);
        room.reserve(&mut buf, None);
        assert!(buf.capacity() >= MIN_SPARE, "{}", buf.capacity());
    }
}
