//! Typed algorithm values used by the proposal engine, and their strongSwan-style names.
//!
//! Names follow strongSwan's `%P` proposal printer ("AES_CBC_256", "HMAC_SHA2_256_128",
//! "PRF_HMAC_SHA2_256", "MODP_2048", "NO_EXT_SEQ") so that log lines and status output read the
//! same as what strongSwan users already know.

use core::fmt;

use super::ids::{EncrId, EsnId, IntegId, KeGroup, PrfId, TransformType};

/// An encryption algorithm together with its key size.
///
/// `key_bits` is the Key Length attribute in bits, or 0 for algorithms that have a fixed key size
/// and never carry the attribute (3DES, ChaCha20-Poly1305). Two encryption transforms match only
/// when both the id and the key size are equal, as in strongSwan.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct EncrAlg {
    pub id: EncrId,
    pub key_bits: u16,
}

impl EncrAlg {
    pub const fn new(id: EncrId, key_bits: u16) -> Self {
        EncrAlg { id, key_bits }
    }

    /// Combined-mode ciphers: they authenticate, so a proposal using them carries no integrity
    /// transform (RFC 7296 section 3.3).
    pub fn is_aead(self) -> bool {
        is_aead_id(self.id)
    }

    /// Algorithms that are only used when written explicitly in a proposal (RFC 8247/8221 demote
    /// them).
    pub fn is_legacy(self) -> bool {
        is_legacy(TransformType::ENCR, self.id.0)
    }
}

impl fmt::Display for EncrAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&transform_name(
            TransformType::ENCR,
            self.id.0,
            self.key_bits,
        ))
    }
}

pub fn is_aead_id(id: EncrId) -> bool {
    matches!(
        id,
        EncrId::AES_CCM_8
            | EncrId::AES_CCM_12
            | EncrId::AES_CCM_16
            | EncrId::AES_GCM_8
            | EncrId::AES_GCM_12
            | EncrId::AES_GCM_16
            | EncrId::NULL_AUTH_AES_GMAC
            | EncrId::CHACHA20_POLY1305
    )
}

/// True for 3DES/DES, HMAC-MD5 (integrity and PRF) and MODP groups below 2048 bits.
pub fn is_legacy(ttype: TransformType, id: u16) -> bool {
    match ttype {
        TransformType::ENCR => matches!(
            EncrId(id),
            EncrId::TRIPLE_DES | EncrId::DES | EncrId::DES_IV64
        ),
        TransformType::INTEG => IntegId(id) == IntegId::HMAC_MD5_96,
        TransformType::PRF => PrfId(id) == PrfId::HMAC_MD5,
        TransformType::KE => matches!(
            KeGroup(id),
            KeGroup::MODP_768 | KeGroup::MODP_1024 | KeGroup::MODP_1536
        ),
        _ => false,
    }
}

fn encr_base_name(id: EncrId) -> Option<&'static str> {
    // strongSwan's encryption_algorithm_names differ from the IANA-derived names in `ids` for a
    // few entries (3DES_CBC, DES_CBC, NULL_AES_GMAC); status output should match strongSwan's.
    Some(match id {
        EncrId::DES_IV64 => "DES_IV64",
        EncrId::DES => "DES_CBC",
        EncrId::TRIPLE_DES => "3DES_CBC",
        EncrId::NULL => "NULL",
        EncrId::AES_CBC => "AES_CBC",
        EncrId::AES_CTR => "AES_CTR",
        EncrId::AES_CCM_8 => "AES_CCM_8",
        EncrId::AES_CCM_12 => "AES_CCM_12",
        EncrId::AES_CCM_16 => "AES_CCM_16",
        EncrId::AES_GCM_8 => "AES_GCM_8",
        EncrId::AES_GCM_12 => "AES_GCM_12",
        EncrId::AES_GCM_16 => "AES_GCM_16",
        EncrId::NULL_AUTH_AES_GMAC => "NULL_AES_GMAC",
        EncrId::CAMELLIA_CBC => "CAMELLIA_CBC",
        EncrId::CHACHA20_POLY1305 => "CHACHA20_POLY1305",
        _ => return None,
    })
}

/// strongSwan-style name of one transform, e.g. "AES_GCM_16_256", "HMAC_SHA1_96", "ECP_256".
/// Unknown ids print as `"UNKNOWN_<type>_<id>"` the way strongSwan prints them, so a peer's exotic
/// offer can still be logged.
pub fn transform_name(ttype: TransformType, id: u16, key_bits: u16) -> String {
    let known = match ttype {
        TransformType::ENCR => encr_base_name(EncrId(id)),
        TransformType::INTEG => IntegId(id).name(),
        TransformType::PRF => PrfId(id).name(),
        TransformType::KE => KeGroup(id).name(),
        TransformType::ESN => EsnId(id).name(),
        _ => None,
    };
    let mut s = match known {
        Some(n) => n.to_string(),
        None => format!("UNKNOWN_{}_{}", ttype.0, id),
    };
    if key_bits != 0 {
        s.push('_');
        s.push_str(&key_bits.to_string());
    }
    s
}
