//! The fixed IKE header (RFC 7296 section 3.1).

use core::fmt;

use super::error::DecodeError;
use super::reader::Reader;
use crate::consts::{ExchangeType, PayloadType};

/// Octets in the IKE header.
pub const HEADER_LEN: usize = 28;

/// The header's flags octet. Kept whole so that bits this version does not define survive a round
/// trip; senders build it with [`Flags::new`], which leaves them zero.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Default)]
pub struct Flags(pub u8);

impl Flags {
    pub const INITIATOR: u8 = 0x08;
    pub const VERSION: u8 = 0x10;
    pub const RESPONSE: u8 = 0x20;

    /// Flags for a message sent by the original initiator of the IKE SA (`initiator`) that is a
    /// request or a response.
    pub fn new(initiator: bool, response: bool) -> Self {
        let mut v = 0;
        if initiator {
            v |= Self::INITIATOR;
        }
        if response {
            v |= Self::RESPONSE;
        }
        Flags(v)
    }

    /// Sent by the original initiator of the IKE SA (I bit): selects SK_ei/SK_ai versus SK_er/SK_ar.
    pub fn is_initiator(self) -> bool {
        self.0 & Self::INITIATOR != 0
    }

    /// A response (R bit), as opposed to a request.
    pub fn is_response(self) -> bool {
        self.0 & Self::RESPONSE != 0
    }

    /// The sender could speak a higher major version (V bit).
    pub fn higher_version(self) -> bool {
        self.0 & Self::VERSION != 0
    }
}

impl fmt::Debug for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Flags {
    /// strongSwan's notation: "I", "R", "IR", "-" for none; V and undefined bits appended.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut any = false;
        if self.is_initiator() {
            f.write_str("I")?;
            any = true;
        }
        if self.is_response() {
            f.write_str("R")?;
            any = true;
        }
        if self.higher_version() {
            f.write_str("V")?;
            any = true;
        }
        let other = self.0 & !(Self::INITIATOR | Self::RESPONSE | Self::VERSION);
        if other != 0 {
            write!(f, "+{other:#04x}")?;
            any = true;
        }
        if !any {
            f.write_str("-")?;
        }
        Ok(())
    }
}

/// The IKE header minus the two fields derived when encoding (Next Payload and Length).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Header {
    pub spi_i: u64,
    pub spi_r: u64,
    /// Minor version; the major version is always 2 (anything else is rejected on decode).
    pub minor_version: u8,
    pub exchange: ExchangeType,
    pub flags: Flags,
    pub message_id: u32,
}

/// What the header says before any payload is looked at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawHeader {
    pub header: Header,
    pub major_version: u8,
    pub next_payload: PayloadType,
    pub length: u32,
}

impl Header {
    /// Reads the header fields without checking the version or length, so a responder can still
    /// answer a message it rejects (INVALID_MAJOR_VERSION echoes the SPIs and message ID).
    pub fn peek(bytes: &[u8]) -> Result<RawHeader, DecodeError> {
        if bytes.len() < HEADER_LEN {
            return Err(DecodeError::Truncated {
                what: "IKE header",
                needed: HEADER_LEN,
                available: bytes.len(),
            });
        }
        let mut r = Reader::new(bytes);
        let spi_i = r.u64("IKE header")?;
        let spi_r = r.u64("IKE header")?;
        let next_payload = PayloadType(r.u8("IKE header")?);
        let version = r.u8("IKE header")?;
        let exchange = ExchangeType(r.u8("IKE header")?);
        let flags = Flags(r.u8("IKE header")?);
        let message_id = r.u32("IKE header")?;
        let length = r.u32("IKE header")?;
        Ok(RawHeader {
            header: Header {
                spi_i,
                spi_r,
                minor_version: version & 0x0f,
                exchange,
                flags,
                message_id,
            },
            major_version: version >> 4,
            next_payload,
            length,
        })
    }

    /// Checks the version and that the Length field is exactly the datagram's size.
    pub(crate) fn decode(bytes: &[u8]) -> Result<RawHeader, DecodeError> {
        let raw = Self::peek(bytes)?;
        if raw.major_version != 2 {
            return Err(DecodeError::InvalidMajorVersion {
                major: raw.major_version,
                minor: raw.header.minor_version,
            });
        }
        if usize::try_from(raw.length).ok() != Some(bytes.len()) {
            return Err(DecodeError::MessageLength {
                header: raw.length,
                datagram: bytes.len(),
            });
        }
        Ok(raw)
    }

    pub(crate) fn encode_into(&self, next_payload: PayloadType, length: u32, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.spi_i.to_be_bytes());
        out.extend_from_slice(&self.spi_r.to_be_bytes());
        out.push(next_payload.0);
        out.push(0x20 | (self.minor_version & 0x0f));
        out.push(self.exchange.0);
        out.push(self.flags.0);
        out.extend_from_slice(&self.message_id.to_be_bytes());
        out.extend_from_slice(&length.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // IKE_SA_INIT request header from psk-gcm-ecp256 frame 1 (length 264).
    const INIT_HDR: [u8; 28] = [
        0xc0, 0xd0, 0x73, 0xe7, 0xd3, 0x12, 0x9e, 0xc7, 0, 0, 0, 0, 0, 0, 0, 0, 0x21, 0x20, 0x22,
        0x08, 0, 0, 0, 0, 0, 0, 0x01, 0x08,
    ];

    #[test]
    fn peek_reads_every_field() {
        let raw = Header::peek(&INIT_HDR).unwrap();
        assert_eq!(raw.header.spi_i, 0xc0d0_73e7_d312_9ec7);
        assert_eq!(raw.header.spi_r, 0);
        assert_eq!(raw.next_payload, PayloadType::SA);
        assert_eq!(raw.major_version, 2);
        assert_eq!(raw.header.minor_version, 0);
        assert_eq!(raw.header.exchange, ExchangeType::IKE_SA_INIT);
        assert!(raw.header.flags.is_initiator());
        assert!(!raw.header.flags.is_response());
        assert_eq!(raw.header.message_id, 0);
        assert_eq!(raw.length, 264);
    }

    #[test]
    fn encode_is_inverse_of_peek() {
        let raw = Header::peek(&INIT_HDR).unwrap();
        let mut out = Vec::new();
        raw.header
            .encode_into(raw.next_payload, raw.length, &mut out);
        assert_eq!(out, INIT_HDR);
    }

    #[test]
    fn major_version_1_is_typed() {
        let mut b = INIT_HDR;
        b[17] = 0x10;
        assert_eq!(
            Header::decode(&b),
            Err(DecodeError::InvalidMajorVersion { major: 1, minor: 0 })
        );
        assert_eq!(
            Header::decode(&b).unwrap_err().notify_type(),
            crate::consts::NotifyType::INVALID_MAJOR_VERSION
        );
    }

    #[test]
    fn length_must_match_datagram() {
        assert_eq!(
            Header::decode(&INIT_HDR),
            Err(DecodeError::MessageLength {
                header: 264,
                datagram: 28
            })
        );
    }

    #[test]
    fn flags_display_like_strongswan() {
        assert_eq!(Flags::new(true, false).to_string(), "I");
        assert_eq!(Flags::new(true, true).to_string(), "IR");
        assert_eq!(Flags::new(false, true).to_string(), "R");
        assert_eq!(Flags::new(false, false).to_string(), "-");
    }
}
