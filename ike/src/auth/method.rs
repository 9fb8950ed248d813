//! Authentication methods. Like the algorithm catalogue, a method's identity is its IKEv2 number
//! (RFC 7296 section 3.8, RFC 4754, RFC 7427); [`AuthMethod::ikev1_id`] gives the IKEv1 Phase 1
//! "Authentication Method" attribute (RFC 2409 appendix A, RFC 4754), which numbers the same
//! methods differently, or `None` for methods IKEv1 does not have.

use crate::registry;

registry! {
    /// Authentication method (RFC 7296 section 3.8, RFC 4754, RFC 7427).
    AuthMethod(u8) {
        RSA_SIG = 1 => "RSA signature",
        SHARED_KEY_MIC = 2 => "shared key",
        DSS_SIG = 3 => "DSS signature",
        ECDSA_SHA256_P256 = 9 => "ECDSA with SHA-256 on P-256",
        ECDSA_SHA384_P384 = 10 => "ECDSA with SHA-384 on P-384",
        ECDSA_SHA512_P521 = 11 => "ECDSA with SHA-512 on P-521",
        GENERIC_SECURE_PASSWORD = 12 => "generic secure password",
        NULL_AUTH = 13 => "NULL",
        DIGITAL_SIGNATURE = 14 => "digital signature",
    }
}

impl AuthMethod {
    /// The IKEv2 AUTH payload's Auth Method octet.
    pub fn ikev2_id(self) -> u8 {
        self.0
    }

    /// The IKEv1 Phase 1 Authentication Method attribute: pre-shared key 1, DSS 2, RSA 3, and the
    /// RFC 4754 ECDSA methods under the same numbers as in IKEv2. RFC 7427's generic digital
    /// signature, NULL and secure password methods are IKEv2 only.
    pub fn ikev1_id(self) -> Option<u16> {
        Some(match self {
            AuthMethod::SHARED_KEY_MIC => 1,
            AuthMethod::DSS_SIG => 2,
            AuthMethod::RSA_SIG => 3,
            AuthMethod::ECDSA_SHA256_P256 => 9,
            AuthMethod::ECDSA_SHA384_P384 => 10,
            AuthMethod::ECDSA_SHA512_P521 => 11,
            _ => return None,
        })
    }
}
