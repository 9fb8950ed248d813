//! Rekey collisions (RFC 7296 sections 2.8.1, 2.8.2 and 2.25): the rule that picks which of two
//! crossing rekeys survives. Applying it (moving Child SAs, retiring the redundant SA) is
//! `exchange::collision`.

/// Nonces compared as unsigned big-endian numbers over their common length, the shorter one
/// first on a tie (as strongSwan's memcmp over the shorter length).
pub(crate) fn nonce_lt(a: &[u8], b: &[u8]) -> bool {
    let n = a.len().min(b.len());
    match a.get(..n).cmp(&b.get(..n)) {
        std::cmp::Ordering::Equal => a.len() < b.len(),
        o => o == std::cmp::Ordering::Less,
    }
}

/// The lower of two nonces (see [`nonce_lt`]).
pub(crate) fn lowest<'a>(a: &'a [u8], b: &'a [u8]) -> &'a [u8] {
    if nonce_lt(a, b) {
        a
    } else {
        b
    }
}

/// Whether our exchange (nonces `ours`) lost against the peer's (`theirs`): it holds the lowest
/// of the four nonces, so what it created is redundant (RFC 7296 sections 2.8.1 and 2.8.2).
pub(crate) fn we_lost(ours: (&[u8], &[u8]), theirs: (&[u8], &[u8])) -> bool {
    nonce_lt(lowest(ours.0, ours.1), lowest(theirs.0, theirs.1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowest_nonce_compares_as_unsigned_big_endian() {
        assert!(nonce_lt(&[0x00, 0xff], &[0x01, 0x00]));
        assert!(!nonce_lt(&[0x80], &[0x7f, 0xff]));
        // Equal over the common length: the shorter is lower; equal nonces are not lower.
        assert!(nonce_lt(&[1, 2], &[1, 2, 0]));
        assert!(!nonce_lt(&[1, 2], &[1, 2]));
        assert_eq!(lowest(&[9, 9], &[3, 4]), &[3, 4]);
    }

    #[test]
    fn the_exchange_holding_the_lowest_of_four_nonces_loses() {
        // Our Nr is the lowest of all four: ours is redundant, whatever the other three are.
        assert!(we_lost((&[0x50], &[0x01]), (&[0x40], &[0x30])));
        // The peer's Ni is the lowest: theirs is redundant.
        assert!(!we_lost((&[0x50], &[0x31]), (&[0x02], &[0x90])));
        // The verdicts of the two sides are opposite (each calls the other's exchange theirs).
        for (a, b, c, d) in [(1u8, 9u8, 5u8, 7u8), (8, 3, 2, 6), (4, 4, 7, 1)] {
            assert_ne!(
                we_lost((&[a], &[b]), (&[c], &[d])),
                we_lost((&[c], &[d]), (&[a], &[b]))
            );
        }
    }
}
