//! Which kernel state belongs to rswan.
//!
//! Convention: every SA rswan installs, and every template of every IPsec policy it installs,
//! carries a reqid from one dedicated range, `0x7273_0000..=0x7273_ffff` ("rs" in the high half).
//! strongSwan allocates reqids upwards from 1 and libreswan from 16384 in steps of 8, so neither
//! reaches this range in practice. `flush_owned` deletes exactly:
//!   * SAs (including larval SAs left by ALLOCSPI) whose reqid is in the range;
//!   * policies with at least one template whose reqid is in the range;
//!   * template-less policies (bypass or drop shunts) that this `NetlinkKernel` added itself,
//!     which it remembers in memory because such policies carry no reqid at all. After a restart
//!     the daemon must delete its old shunts by selector.
//!
//! Everything else (another daemon's SAs and policies, or an operator's `ip xfrm` entries) is
//! left alone. The model refuses reqids outside the range so nothing untagged can be installed.

/// First reqid of rswan's range.
pub const REQID_BASE: u32 = 0x7273_0000;
/// Number of reqids in the range.
pub const REQID_COUNT: u32 = 0x1_0000;

/// The reqid for rswan's `n`th Child SA slot.
pub fn reqid(n: u16) -> u32 {
    REQID_BASE + u32::from(n)
}

/// True if `reqid` is in rswan's range.
pub fn is_owned_reqid(reqid: u32) -> bool {
    (REQID_BASE..REQID_BASE + REQID_COUNT).contains(&reqid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_edges() {
        assert!(is_owned_reqid(reqid(0)));
        assert!(is_owned_reqid(reqid(u16::MAX)));
        assert!(!is_owned_reqid(REQID_BASE - 1));
        assert!(!is_owned_reqid(REQID_BASE + REQID_COUNT));
        assert!(!is_owned_reqid(1));
    }
}
