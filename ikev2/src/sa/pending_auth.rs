//! Signature authentication state an IKE SA carries from IKE_SA_INIT to IKE_AUTH;
//! `exchange::ike_auth` fills and reads it.

use crate::auth::{self, HashAlg, VerifiedPeer};
use crate::wire::Notify;

/// What IKE_SA_INIT (and the peer's IKE_AUTH request) told us for signature authentication,
/// and what verifying the peer established.
#[derive(Debug, Default)]
pub(crate) struct SigState {
    /// The peer's SIGNATURE_HASH_ALGORITHMS; `None` if it sent none (or a malformed one), or
    /// if RFC 7427 is disabled here (`signature_authentication = no`).
    pub peer_hashes: Option<Vec<HashAlg>>,
    /// The peer sent a CERTREQ (in its IKE_SA_INIT response or IKE_AUTH request): `send_cert =
    /// ifasked` then sends our certificates.
    pub peer_certreq: bool,
    /// The peer's certificate once verified, for the log.
    pub verified: Option<VerifiedPeer>,
}

impl SigState {
    /// Records the peer's SIGNATURE_HASH_ALGORITHMS notify, if any, from its IKE_SA_INIT message.
    pub fn note_hashes<'a>(
        &mut self,
        mut notifies: impl Iterator<Item = &'a Notify>,
        enabled: bool,
    ) {
        self.peer_hashes = notifies
            .find(|n| n.ntype == crate::consts::NotifyType::SIGNATURE_HASH_ALGORITHMS)
            .filter(|_| enabled)
            .and_then(|n| auth::parse_signature_hashes(&n.data));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consts::NotifyType;

    #[test]
    fn peer_hashes_are_kept_only_when_enabled_and_well_formed() {
        let good = Notify::signature_hash_algorithms(&[2, 5, 77]);
        let mut s = SigState::default();
        s.note_hashes([&good].into_iter(), true);
        assert_eq!(
            s.peer_hashes,
            Some(vec![HashAlg::Sha256, HashAlg::Identity])
        );
        s.note_hashes([&good].into_iter(), false);
        assert_eq!(s.peer_hashes, None);
        let mut odd = Notify::new(NotifyType::SIGNATURE_HASH_ALGORITHMS);
        odd.data = vec![0, 2, 0];
        s.note_hashes([&odd].into_iter(), true);
        assert_eq!(s.peer_hashes, None);
        s.note_hashes(std::iter::empty(), true);
        assert_eq!(s.peer_hashes, None);
    }
}
