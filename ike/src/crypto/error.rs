use core::fmt;

use crate::alg::{EncrId, IntegId, KeGroup, PrfId};

/// Why a cryptographic operation failed. None of the variants carries secret material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CryptoError {
    /// The encryption transform (or its key length) is not implemented.
    UnsupportedEncr {
        id: EncrId,
        key_bits: Option<u16>,
    },
    UnsupportedInteg(IntegId),
    UnsupportedPrf(PrfId),
    UnsupportedGroup(KeGroup),
    /// AEAD with an integrity transform, or a non-AEAD cipher without one.
    InvalidSuite(&'static str),
    /// A key of the wrong length was passed in (a caller bug, reported instead of panicking).
    KeyLength {
        what: &'static str,
        expected: usize,
        got: usize,
    },
    /// prf+ is defined for at most 255 iterations (RFC 7296 section 2.13).
    PrfPlusTooLong {
        requested: usize,
        max: usize,
    },
    /// The peer's KE data is not a valid public value for the group.
    InvalidPublicValue {
        group: KeGroup,
        reason: &'static str,
    },
    /// The protected message is structurally broken (lengths, missing SK payload, ...).
    Malformed(&'static str),
    /// The ICV / AEAD tag did not verify.
    IntegrityCheckFailed,
    /// The decrypted padding is impossible (pad length longer than the plaintext).
    BadPadding,
    /// The message would exceed the 16-bit payload length or 32-bit message length.
    TooLong,
    /// A received AUTH value or cookie does not match the expected one.
    AuthenticationFailed,
}

impl fmt::Display for CryptoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CryptoError::UnsupportedEncr {
                id,
                key_bits: Some(bits),
            } => {
                write!(f, "unsupported encryption {id} with {bits}-bit key")
            }
            CryptoError::UnsupportedEncr { id, key_bits: None } => {
                write!(f, "unsupported encryption {id} (without key length)")
            }
            CryptoError::UnsupportedInteg(id) => write!(f, "unsupported integrity {id}"),
            CryptoError::UnsupportedPrf(id) => write!(f, "unsupported PRF {id}"),
            CryptoError::UnsupportedGroup(g) => write!(f, "unsupported KE group {g}"),
            CryptoError::InvalidSuite(why) => write!(f, "invalid transform combination: {why}"),
            CryptoError::KeyLength {
                what,
                expected,
                got,
            } => {
                write!(f, "{what} key: expected {expected} octets, got {got}")
            }
            CryptoError::PrfPlusTooLong { requested, max } => {
                write!(
                    f,
                    "prf+ asked for {requested} octets, at most {max} possible"
                )
            }
            CryptoError::InvalidPublicValue { group, reason } => {
                write!(f, "invalid {group} public value: {reason}")
            }
            CryptoError::Malformed(why) => write!(f, "malformed protected message: {why}"),
            CryptoError::IntegrityCheckFailed => f.write_str("integrity check (ICV) failed"),
            CryptoError::BadPadding => f.write_str("invalid padding after decryption"),
            CryptoError::TooLong => f.write_str("message too long"),
            CryptoError::AuthenticationFailed => f.write_str("authentication value mismatch"),
        }
    }
}

impl std::error::Error for CryptoError {}
