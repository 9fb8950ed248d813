//! Why a received message or payload could not be decoded.

use core::fmt;

use crate::consts::{NotifyType, PayloadType};

/// A decode failure. Each variant says what was expected and what was found, so a log line can be
/// written from it alone; [`DecodeError::notify_type`] gives the error notify a responder answers with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Fewer octets than a field or structure needs.
    Truncated {
        what: &'static str,
        needed: usize,
        available: usize,
    },
    /// Octets left over after a structure's declared contents.
    TrailingBytes { what: &'static str, count: usize },
    /// The IKE header's Length field disagrees with the datagram.
    MessageLength { header: u32, datagram: usize },
    /// Major version other than 2 (RFC 7296 section 3.1): answer INVALID_MAJOR_VERSION.
    InvalidMajorVersion { major: u8, minor: u8 },
    /// A payload's Payload Length is smaller than its fixed part or runs past its container.
    PayloadLength {
        ptype: PayloadType,
        length: usize,
        min: usize,
        available: usize,
    },
    /// An unrecognised payload with the critical bit set (RFC 7296 section 2.5).
    UnsupportedCritical(PayloadType),
    /// A payload that is only valid inside SK (IDi, AUTH, TSi, ...) found unprotected.
    NotAllowedInCleartext(PayloadType),
    /// SK or SKF found inside an SK payload.
    NestedEncrypted(PayloadType),
    /// SK/SKF must be the last payload of a message; this one is followed by more octets.
    EncryptedNotLast { ptype: PayloadType, trailing: usize },
    /// A field whose value is not allowed here.
    BadField {
        what: &'static str,
        expected: &'static str,
        found: u64,
    },
    /// A declared count (transforms, selectors, SPIs) disagrees with the contents.
    CountMismatch {
        what: &'static str,
        declared: usize,
        found: usize,
    },
}

impl DecodeError {
    /// The error notify a responder sends back for this failure (RFC 7296 section 3.10.1).
    pub fn notify_type(&self) -> NotifyType {
        match self {
            DecodeError::InvalidMajorVersion { .. } => NotifyType::INVALID_MAJOR_VERSION,
            DecodeError::UnsupportedCritical(_) => NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD,
            _ => NotifyType::INVALID_SYNTAX,
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated {
                what,
                needed,
                available,
            } => write!(
                f,
                "truncated {what}: expected {needed} octets, found {available}"
            ),
            DecodeError::TrailingBytes { what, count } => {
                write!(f, "{count} unexpected trailing octets after {what}")
            }
            DecodeError::MessageLength { header, datagram } => write!(
                f,
                "IKE header Length says {header} octets, datagram has {datagram}"
            ),
            DecodeError::InvalidMajorVersion { major, minor } => {
                write!(f, "expected IKE major version 2, found {major}.{minor}")
            }
            DecodeError::PayloadLength {
                ptype,
                length,
                min,
                available,
            } => write!(
                f,
                "{ptype} payload length {length}: expected at least {min} and at most {available}"
            ),
            DecodeError::UnsupportedCritical(p) => {
                write!(f, "unsupported payload {p} marked critical")
            }
            DecodeError::NotAllowedInCleartext(p) => {
                write!(f, "{p} payload outside SK: it is only accepted encrypted")
            }
            DecodeError::NestedEncrypted(p) => write!(f, "{p} payload inside SK"),
            DecodeError::EncryptedNotLast { ptype, trailing } => write!(
                f,
                "{ptype} payload must be last, found {trailing} octets after it"
            ),
            DecodeError::BadField {
                what,
                expected,
                found,
            } => write!(f, "{what}: expected {expected}, found {found}"),
            DecodeError::CountMismatch {
                what,
                declared,
                found,
            } => write!(f, "{what}: {declared} declared, {found} present"),
        }
    }
}

impl std::error::Error for DecodeError {}
