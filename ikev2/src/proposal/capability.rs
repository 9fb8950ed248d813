//! What rswan can run, so that no proposal offers or accepts an algorithm that would only fail
//! later, at key derivation. strongSwan does the same by building `default` from its loaded
//! plugins and failing on algorithms no plugin provides.
//!
//! IKE SAs are protected by this crate's crypto module, so every IKE transform is checked
//! against it. ESP is done by the kernel: its encryption and integrity algorithms are not
//! checked here (the daemon checks them against the XFRM algorithm map with
//! `ProposalSet::unsupported_algorithms`), only its KE groups, because the PFS exchange of a
//! Child SA rekey runs here.

use crate::consts::{EncrId, IntegId, KeGroup, PrfId, ProtocolId, TransformType};
use crate::crypto::{public_value_len, Encr, Integ, Prf};

/// Whether a transform of a `protocol` proposal can be used (see the module notes for ESP).
pub fn implemented(protocol: ProtocolId, ttype: TransformType, id: u16, key_bits: u16) -> bool {
    match ttype {
        TransformType::KE => id == KeGroup::NONE.0 || public_value_len(KeGroup(id)).is_some(),
        _ if protocol != ProtocolId::IKE => true,
        TransformType::ENCR => Encr::new(EncrId(id), (key_bits != 0).then_some(key_bits)).is_ok(),
        TransformType::INTEG => Integ::new(IntegId(id)).is_ok(),
        TransformType::PRF => Prf::new(PrfId(id)).is_ok(),
        _ => true,
    }
}
