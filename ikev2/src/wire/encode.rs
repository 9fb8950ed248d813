//! Small helpers for writing big-endian fields and patching length fields.

/// Converts a computed length to a u16 wire field.
///
/// # Panics
/// If the structure is longer than the field can say. Every length here is bounded by what the
/// caller put into the structure; a payload over 65535 octets is a bug in the caller (a received one
/// can never be that large, so echoing peer data cannot trigger it).
pub(crate) fn len_u16(len: usize, what: &str) -> u16 {
    u16::try_from(len)
        .unwrap_or_else(|_| panic!("{what} of {len} octets does not fit a 16-bit length"))
}

pub(crate) fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// Writes a 16-bit length placeholder and returns its position for [`patch_len`].
pub(crate) fn reserve_len(out: &mut Vec<u8>) -> usize {
    let at = out.len();
    out.extend_from_slice(&[0, 0]);
    at
}

/// Writes the length of everything from `start` to the end of `out` at `at`.
pub(crate) fn patch_len(out: &mut [u8], at: usize, start: usize, what: &str) {
    let len = len_u16(out.len() - start, what);
    out[at..at + 2].copy_from_slice(&len.to_be_bytes());
}
