//! A whole IKE message: header plus cleartext payload chain.

use super::error::DecodeError;
use super::header::{Header, HEADER_LEN};
use super::notify::Notify;
use super::payload::{decode_cleartext, encode_cleartext, Payload};
use super::sk::{SkPayload, SkfPayload};
use crate::consts::{NotifyType, PayloadType};

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Message {
    pub header: Header,
    /// In wire order. An SK or SKF payload, if any, is last.
    pub payloads: Vec<Payload>,
}

impl Message {
    /// Decodes a datagram (after any non-ESP marker). The header's Length must equal `bytes.len()`.
    pub fn decode(bytes: &[u8]) -> Result<Message, DecodeError> {
        let raw = Header::decode(bytes)?;
        let rest = bytes.get(HEADER_LEN..).unwrap_or_default();
        let payloads = decode_cleartext(raw.next_payload, rest)?;
        Ok(Message {
            header: raw.header,
            payloads,
        })
    }

    /// Encodes the message; the header's Next Payload and Length are derived.
    ///
    /// # Panics
    /// If a payload is longer than 65535 octets (see `encode::len_u16`).
    pub fn encode(&self) -> Vec<u8> {
        self.encode_with_sk_offset().0
    }

    /// Encodes the message and returns, if it ends in SK/SKF, the offset of that payload's body
    /// (the IV). Everything before it is the AEAD associated data (RFC 5282 section 5.1); integrity
    /// covers everything up to the ICV.
    pub fn encode_with_sk_offset(&self) -> (Vec<u8>, Option<usize>) {
        let mut out = Vec::with_capacity(HEADER_LEN + 256);
        let first = self
            .payloads
            .first()
            .map_or(PayloadType::NONE, Payload::ptype);
        self.header.encode_into(first, 0, &mut out);
        let sk = encode_cleartext(&self.payloads, &mut out);
        let len = u32::try_from(out.len()).expect("IKE message under 4 GiB");
        out[24..28].copy_from_slice(&len.to_be_bytes());
        (out, sk)
    }

    /// Offset of the SK/SKF body (IV) in the encoded message, equal to its offset in the received
    /// datagram this message was decoded from (decoding keeps every length).
    pub fn sk_body_offset(&self) -> Option<usize> {
        self.encode_with_sk_offset().1
    }

    pub fn sk(&self) -> Option<&SkPayload> {
        match self.payloads.last() {
            Some(Payload::Sk(sk)) => Some(sk),
            _ => None,
        }
    }

    pub fn skf(&self) -> Option<&SkfPayload> {
        match self.payloads.last() {
            Some(Payload::Skf(skf)) => Some(skf),
            _ => None,
        }
    }

    pub fn notifies(&self) -> impl Iterator<Item = &Notify> {
        self.payloads.iter().filter_map(|p| match p {
            Payload::Notify(n) => Some(n),
            _ => None,
        })
    }

    /// The first notify of this type.
    pub fn notify(&self, ntype: NotifyType) -> Option<&Notify> {
        self.notifies().find(|n| n.ntype == ntype)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consts::ExchangeType;
    use crate::wire::header::Flags;

    fn informational(payloads: Vec<Payload>) -> Message {
        Message {
            header: Header {
                spi_i: 1,
                spi_r: 2,
                minor_version: 0,
                exchange: ExchangeType::INFORMATIONAL,
                flags: Flags::new(true, false),
                message_id: 7,
            },
            payloads,
        }
    }

    #[test]
    fn empty_message_is_a_bare_header() {
        let m = informational(vec![]);
        let b = m.encode();
        assert_eq!(b.len(), HEADER_LEN);
        assert_eq!(b[16], 0); // Next Payload NONE
        assert_eq!(&b[24..], &[0, 0, 0, 28]);
        assert_eq!(Message::decode(&b).unwrap(), m);
    }

    #[test]
    fn sk_offset_and_next_payload() {
        let m = informational(vec![
            Payload::Notify(Notify::new(NotifyType::COOKIE2)),
            Payload::Sk(SkPayload {
                first_inner: PayloadType::DELETE,
                body: vec![0xee; 24],
            }),
        ]);
        let (b, off) = m.encode_with_sk_offset();
        // header 28 + notify 8 + SK generic header 4
        assert_eq!(off, Some(40));
        assert_eq!(b[16], PayloadType::NOTIFY.0);
        assert_eq!(b[28], PayloadType::SK.0);
        assert_eq!(b[36], PayloadType::DELETE.0);
        assert_eq!(&b[40..], &[0xee; 24]);
        let back = Message::decode(&b).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.sk_body_offset(), Some(40));
        assert_eq!(back.sk().unwrap().first_inner, PayloadType::DELETE);
        assert!(back.notify(NotifyType::COOKIE2).is_some());
    }

    #[test]
    fn skf_offset_skips_fragment_fields() {
        let m = informational(vec![Payload::Skf(SkfPayload {
            first_inner: PayloadType::NONE,
            fragment_number: 2,
            total_fragments: 2,
            body: vec![1; 16],
        })]);
        assert_eq!(m.sk_body_offset(), Some(36));
        assert_eq!(Message::decode(&m.encode()).unwrap(), m);
    }

    #[test]
    fn idi_in_cleartext_is_rejected() {
        let mut b = informational(vec![Payload::Nonce(vec![1, 2])]).encode();
        b[16] = PayloadType::IDI.0;
        assert_eq!(
            Message::decode(&b),
            Err(DecodeError::NotAllowedInCleartext(PayloadType::IDI))
        );
    }

    #[test]
    fn sk_followed_by_bytes_is_rejected() {
        let m = informational(vec![Payload::Sk(SkPayload {
            first_inner: PayloadType::NONE,
            body: vec![0; 8],
        })]);
        let mut b = m.encode();
        b[31] -= 2; // SK payload length now ends 2 octets early
        assert_eq!(
            Message::decode(&b),
            Err(DecodeError::EncryptedNotLast {
                ptype: PayloadType::SK,
                trailing: 2
            })
        );
    }
}
