//! The algorithm registries. An algorithm's identity in the catalogue is its number in the IKEv2
//! registry (IANA "IKEv2 Parameters", transform types 1-5): that registry is a superset of what
//! IKEv1 can name, so one newtype serves both versions. [`ikev2_id`](EncrId::ikev2_id) returns that
//! number; the `ikev1_*` methods map to the IKEv1 registries (IANA "IPSEC/ISAKMP", RFC 2407/2409),
//! which number the same algorithm differently in Phase 1 (Oakley attributes) and in Phase 2 (ESP
//! transform IDs and the authentication algorithm attribute), and return `None` where IKEv1 has no
//! number for it.

use crate::registry;

registry! {
    /// Transform type (RFC 7296 section 3.3.2).
    TransformType(u8) {
        ENCR = 1 => "encryption",
        PRF = 2 => "PRF",
        INTEG = 3 => "integrity",
        KE = 4 => "KE group",
        ESN = 5 => "ESN",
    }
}

registry! {
    /// Transform type 1, encryption algorithm.
    EncrId(u16) {
        DES_IV64 = 1 => "DES_IV64",
        DES = 2 => "DES",
        TRIPLE_DES = 3 => "3DES",
        NULL = 11 => "NULL",
        AES_CBC = 12 => "AES_CBC",
        AES_CTR = 13 => "AES_CTR",
        AES_CCM_8 = 14 => "AES_CCM_8",
        AES_CCM_12 = 15 => "AES_CCM_12",
        AES_CCM_16 = 16 => "AES_CCM_16",
        AES_GCM_8 = 18 => "AES_GCM_8",
        AES_GCM_12 = 19 => "AES_GCM_12",
        AES_GCM_16 = 20 => "AES_GCM_16",
        NULL_AUTH_AES_GMAC = 21 => "NULL_AUTH_AES_GMAC",
        CAMELLIA_CBC = 23 => "CAMELLIA_CBC",
        CHACHA20_POLY1305 = 28 => "CHACHA20_POLY1305",
    }
}

registry! {
    /// Transform type 2, pseudorandom function.
    PrfId(u16) {
        HMAC_MD5 = 1 => "PRF_HMAC_MD5",
        HMAC_SHA1 = 2 => "PRF_HMAC_SHA1",
        AES128_XCBC = 4 => "PRF_AES128_XCBC",
        HMAC_SHA2_256 = 5 => "PRF_HMAC_SHA2_256",
        HMAC_SHA2_384 = 6 => "PRF_HMAC_SHA2_384",
        HMAC_SHA2_512 = 7 => "PRF_HMAC_SHA2_512",
        AES128_CMAC = 8 => "PRF_AES128_CMAC",
    }
}

registry! {
    /// Transform type 3, integrity algorithm.
    IntegId(u16) {
        NONE = 0 => "NONE",
        HMAC_MD5_96 = 1 => "HMAC_MD5_96",
        HMAC_SHA1_96 = 2 => "HMAC_SHA1_96",
        AES_XCBC_96 = 5 => "AES_XCBC_96",
        AES_CMAC_96 = 8 => "AES_CMAC_96",
        HMAC_SHA2_256_128 = 12 => "HMAC_SHA2_256_128",
        HMAC_SHA2_384_192 = 13 => "HMAC_SHA2_384_192",
        HMAC_SHA2_512_256 = 14 => "HMAC_SHA2_512_256",
    }
}

registry! {
    /// Transform type 4, key exchange method (Diffie-Hellman group).
    KeGroup(u16) {
        NONE = 0 => "NONE",
        MODP_768 = 1 => "MODP_768",
        MODP_1024 = 2 => "MODP_1024",
        MODP_1536 = 5 => "MODP_1536",
        MODP_2048 = 14 => "MODP_2048",
        MODP_3072 = 15 => "MODP_3072",
        MODP_4096 = 16 => "MODP_4096",
        MODP_6144 = 17 => "MODP_6144",
        MODP_8192 = 18 => "MODP_8192",
        ECP_256 = 19 => "ECP_256",
        ECP_384 = 20 => "ECP_384",
        ECP_521 = 21 => "ECP_521",
        CURVE_25519 = 31 => "CURVE_25519",
        CURVE_448 = 32 => "CURVE_448",
    }
}

registry! {
    /// Transform type 5, extended sequence numbers.
    EsnId(u16) {
        NO_ESN = 0 => "NO_EXT_SEQ",
        ESN = 1 => "EXT_SEQ",
    }
}

impl EncrId {
    /// The IKEv2 Transform Type 1 ID.
    pub fn ikev2_id(self) -> u16 {
        self.0
    }

    /// The IKEv1 Phase 1 "Encryption Algorithm" attribute (RFC 2409 appendix A; IANA "IKE
    /// Encryption Algorithm"). AES and Camellia carry their key size in a separate Key Length
    /// attribute, as in IKEv2. Counter and combined modes have no Phase 1 number.
    pub fn ikev1_oakley_id(self) -> Option<u16> {
        Some(match self {
            EncrId::DES => 1,
            EncrId::TRIPLE_DES => 5,
            EncrId::AES_CBC => 7,
            EncrId::CAMELLIA_CBC => 8,
            _ => return None,
        })
    }

    /// The IKEv1 ESP Transform ID (RFC 2407 section 4.4.4; IANA "IPsec ESP Transform Identifiers").
    /// Mostly the IKEv2 number, except Camellia (22, IKEv2 23) and NULL_AUTH_AES_GMAC (23, IKEv2
    /// 21); ChaCha20-Poly1305 (RFC 7634) is IKEv2 only.
    pub fn ikev1_esp_id(self) -> Option<u8> {
        Some(match self {
            EncrId::DES_IV64 => 1,
            EncrId::DES => 2,
            EncrId::TRIPLE_DES => 3,
            EncrId::NULL => 11,
            EncrId::AES_CBC => 12,
            EncrId::AES_CTR => 13,
            EncrId::AES_CCM_8 => 14,
            EncrId::AES_CCM_12 => 15,
            EncrId::AES_CCM_16 => 16,
            EncrId::AES_GCM_8 => 18,
            EncrId::AES_GCM_12 => 19,
            EncrId::AES_GCM_16 => 20,
            EncrId::CAMELLIA_CBC => 22,
            EncrId::NULL_AUTH_AES_GMAC => 23,
            _ => return None,
        })
    }
}

impl IntegId {
    /// The IKEv2 Transform Type 3 ID.
    pub fn ikev2_id(self) -> u16 {
        self.0
    }

    /// The IKEv1 Phase 1 "Hash Algorithm" attribute whose HMAC this integrity algorithm is (IKEv1
    /// authenticates Phase 1 with the negotiated hash, so `sha256` in an IKE proposal means hash 4).
    /// XCBC/CMAC are no hash and have no Phase 1 number.
    pub fn ikev1_hash_id(self) -> Option<u16> {
        Some(match self {
            IntegId::HMAC_MD5_96 => 1,
            IntegId::HMAC_SHA1_96 => 2,
            IntegId::HMAC_SHA2_256_128 => 4,
            IntegId::HMAC_SHA2_384_192 => 5,
            IntegId::HMAC_SHA2_512_256 => 6,
            _ => return None,
        })
    }

    /// The IKEv1 Phase 2 "Authentication Algorithm" attribute (RFC 2407 section 4.5; IANA "IPsec
    /// Authentication Algorithm").
    pub fn ikev1_auth_id(self) -> Option<u16> {
        Some(match self {
            IntegId::HMAC_MD5_96 => 1,
            IntegId::HMAC_SHA1_96 => 2,
            IntegId::HMAC_SHA2_256_128 => 5,
            IntegId::HMAC_SHA2_384_192 => 6,
            IntegId::HMAC_SHA2_512_256 => 7,
            IntegId::AES_XCBC_96 => 9,
            _ => return None,
        })
    }
}

impl PrfId {
    /// The IKEv2 Transform Type 2 ID.
    pub fn ikev2_id(self) -> u16 {
        self.0
    }

    /// The IKEv1 Phase 1 "Hash Algorithm" attribute: IKEv1's PRF is the HMAC of the negotiated hash
    /// (RFC 2409 section 4; the separate PRF attribute has no registered values). AES-based PRFs have
    /// none.
    pub fn ikev1_hash_id(self) -> Option<u16> {
        Some(match self {
            PrfId::HMAC_MD5 => 1,
            PrfId::HMAC_SHA1 => 2,
            PrfId::HMAC_SHA2_256 => 4,
            PrfId::HMAC_SHA2_384 => 5,
            PrfId::HMAC_SHA2_512 => 6,
            _ => return None,
        })
    }
}

impl KeGroup {
    /// The IKEv2 Transform Type 4 ID.
    pub fn ikev2_id(self) -> u16 {
        self.0
    }

    /// The IKEv1 "Group Description" attribute (Phase 1) and PFS group (Phase 2). RFC 2409, 3526 and
    /// 5903 register the MODP and ECP groups under the same numbers in both versions. Curve25519 and
    /// Curve448 are registered for IKEv2 only (RFC 8031); strongSwan offers them in IKEv1 under the
    /// same numbers, so they map too. NONE is no group (IKEv1 without PFS omits the attribute).
    pub fn ikev1_id(self) -> Option<u16> {
        match self {
            KeGroup::NONE => None,
            g if g.name().is_some() => Some(g.0),
            _ => None,
        }
    }
}

impl EsnId {
    /// The IKEv2 Transform Type 5 ID.
    pub fn ikev2_id(self) -> u16 {
        self.0
    }

    /// IKEv1 negotiates ESN with the "Extended (64-bit) Sequence Number" attribute (type 11, RFC
    /// 4304), present with value 1 for ESN and absent without: the attribute value, if sent.
    pub fn ikev1_attr(self) -> Option<u16> {
        (self == EsnId::ESN).then_some(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ikev1_ids_follow_the_ipsec_registries() {
        assert_eq!(EncrId::AES_CBC.ikev1_oakley_id(), Some(7));
        assert_eq!(EncrId::TRIPLE_DES.ikev1_oakley_id(), Some(5));
        assert_eq!(EncrId::AES_GCM_16.ikev1_oakley_id(), None);
        assert_eq!(EncrId::AES_CBC.ikev1_esp_id(), Some(12));
        assert_eq!(EncrId::TRIPLE_DES.ikev1_esp_id(), Some(3));
        assert_eq!(EncrId::AES_GCM_16.ikev1_esp_id(), Some(20));
        assert_eq!(EncrId::CHACHA20_POLY1305.ikev1_esp_id(), None);
        assert_eq!(IntegId::HMAC_SHA2_256_128.ikev1_hash_id(), Some(4));
        assert_eq!(IntegId::HMAC_SHA1_96.ikev1_auth_id(), Some(2));
        assert_eq!(IntegId::HMAC_SHA2_256_128.ikev1_auth_id(), Some(5));
        assert_eq!(PrfId::HMAC_SHA2_512.ikev1_hash_id(), Some(6));
        assert_eq!(KeGroup::MODP_2048.ikev1_id(), Some(14));
        assert_eq!(KeGroup::NONE.ikev1_id(), None);
        assert_eq!(KeGroup::ECP_256.ikev2_id(), 19);
    }
}
