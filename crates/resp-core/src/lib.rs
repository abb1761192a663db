//! RESP framing (work in progress).
