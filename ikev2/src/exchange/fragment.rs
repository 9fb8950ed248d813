//! IKE message fragmentation (RFC 7383): splitting a protected message that would exceed the
//! fragment size into SKF payloads, and reassembling the peer's fragments, which may arrive in
//! any order. Each fragment is authenticated on its own before it is kept.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Instant;

use crate::config::Limits;
use crate::event::DropReason;

use crate::consts::{ExchangeType, PayloadType};
use crate::crypto::sk::FragmentPos;
use crate::crypto::{self, CryptoError};
use crate::rng::Rng;
use crate::sa::reassembly::Reassembly;
use crate::sa::IkeSa;
use crate::wire::{decode_inner, encode_inner, Flags, Header, InnerPayload, Message};

/// RFC 7383 section 2.5: more fragments than this for one message is not an honest peer.
const MAX_FRAGMENTS: u16 = 64;

/// The largest IKE message (header included) that fits in a `fragment_size` IP datagram sent
/// from `local`: minus the IP and UDP headers and, on the NAT-T port, the non-ESP marker.
pub(crate) fn message_limit(fragment_size: usize, local: SocketAddr, natt_port: u16) -> usize {
    let ip = if local.is_ipv4() { 20 } else { 40 };
    let marker = if local.port() == natt_port { 4 } else { 0 };
    fragment_size.saturating_sub(ip + 8 + marker)
}

/// The message size limit for `sa` under `settings` (`None`: fragmentation off).
pub(crate) fn limit_for(settings: &crate::config::Settings, sa: &IkeSa) -> Option<usize> {
    (settings.fragment_size > 0)
        .then(|| message_limit(settings.fragment_size, sa.local, settings.natt.port))
}

/// Protects `payloads` as one SK message, or as SKF fragments of at most `limit` octets each
/// when the peer announced IKEV2_FRAGMENTATION_SUPPORTED and the whole would be larger.
/// IKE_SA_INIT is never fragmented (RFC 7383 section 2.5.1); this is only used after it.
pub(crate) fn seal_datagrams(
    rng: &mut dyn Rng,
    sa: &IkeSa,
    exchange: ExchangeType,
    response: bool,
    message_id: u32,
    payloads: &[InnerPayload],
    limit: Option<usize>,
) -> Result<Vec<Vec<u8>>, CryptoError> {
    let whole = super::seal(rng, sa, exchange, response, message_id, payloads)?;
    let Some(limit) = limit.filter(|l| sa.fragmentation && whole.len() > *l) else {
        return Ok(vec![whole]);
    };
    let c = sa
        .crypto
        .as_ref()
        .ok_or(CryptoError::Malformed("IKE SA has no keys yet"))?;
    let hdr = Message {
        header: Header {
            spi_i: sa.spi_i,
            spi_r: sa.spi_r,
            minor_version: 0,
            exchange,
            flags: Flags::new(sa.initiator, response),
            message_id,
        },
        payloads: Vec::new(),
    }
    .encode();
    let (ek, ak) = super::sk_keys(c, sa.initiator, true);
    let seal_one = |rng: &mut dyn Rng, first: u8, pos: FragmentPos, part: &[u8]| {
        crypto::sk::seal_fragment(
            &c.cipher,
            ek.as_bytes(),
            ak.as_bytes(),
            &hdr,
            first,
            pos,
            part,
            rng,
        )
    };
    // Overhead of a fragment: seal an empty one and allow a full block of padding on top.
    let probe = seal_one(
        rng,
        0,
        FragmentPos {
            number: 1,
            total: 1,
        },
        &[],
    )?;
    let room = limit
        .checked_sub(probe.len() + c.cipher.encr().pad_to())
        .filter(|r| *r > 0)
        .ok_or(CryptoError::Malformed(
            "fragment size too small for one fragment",
        ))?;
    let (first, inner) = encode_inner(payloads);
    let parts: Vec<&[u8]> = inner.chunks(room).collect();
    let total = u16::try_from(parts.len())
        .ok()
        .filter(|t| *t <= MAX_FRAGMENTS)
        .ok_or(CryptoError::Malformed("message needs too many fragments"))?;
    let mut out = Vec::with_capacity(parts.len());
    for (i, part) in parts.into_iter().enumerate() {
        let number = u16::try_from(i + 1).unwrap_or(u16::MAX);
        let first_inner = if number == 1 { first.0 } else { 0 };
        out.push(seal_one(
            rng,
            first_inner,
            FragmentPos { number, total },
            part,
        )?);
    }
    Ok(out)
}

/// What one received fragment led to.
#[derive(Debug)]
pub(crate) enum FragmentVerdict {
    /// Kept (or a duplicate); more are missing.
    Pending,
    /// All there: the message's inner payloads.
    Complete { payloads: Vec<InnerPayload> },
    /// Authenticated but its inner payloads do not parse.
    Malformed(String),
    /// Dropped without effect on the SA.
    Rejected(FragmentReject),
}

/// Why a fragment was dropped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum FragmentReject {
    /// The IKE SA did not negotiate fragmentation (RFC 7383 section 2.3).
    NotNegotiated,
    /// The IKE SA has no keys to check it with yet.
    BeforeKeys,
    /// Its integrity check or decryption failed.
    Integrity,
    /// It claims more than [`MAX_FRAGMENTS`] fragments.
    TooMany,
    /// Its Total Fragments differs from the earlier fragments of the message.
    TotalChanged,
    /// The message's fragments add up to more than `max_packet`.
    TooLarge { len: usize, max: usize },
}

impl From<FragmentReject> for DropReason {
    fn from(r: FragmentReject) -> DropReason {
        let malformed = |why: &str| DropReason::Malformed(why.into());
        match r {
            FragmentReject::NotNegotiated => DropReason::FragmentationNotNegotiated,
            FragmentReject::BeforeKeys => malformed("fragment before keys"),
            FragmentReject::Integrity => DropReason::IntegrityCheckFailed,
            FragmentReject::TooMany => malformed("more than 64 fragments"),
            FragmentReject::TotalChanged => {
                malformed("Total Fragments differs from earlier fragments")
            }
            FragmentReject::TooLarge { len, max } => DropReason::TooLarge { len, max },
        }
    }
}

/// Verifies, decrypts and files the fragment `bytes` of message `message_id` on `sa`.
pub(crate) fn receive(
    sa: &mut IkeSa,
    now: Instant,
    limits: &Limits,
    message_id: u32,
    response: bool,
    bytes: &[u8],
) -> FragmentVerdict {
    let reject = FragmentVerdict::Rejected;
    // RFC 7383 section 2.3: without the negotiation a peer has no business sending SKF.
    if !sa.fragmentation {
        return reject(FragmentReject::NotNegotiated);
    }
    let Some(c) = sa.crypto.as_ref() else {
        return reject(FragmentReject::BeforeKeys);
    };
    let (ek, ak) = super::sk_keys(c, sa.initiator, false);
    let Ok(f) = crypto::sk::open_fragment(&c.cipher, ek.as_bytes(), ak.as_bytes(), bytes) else {
        return reject(FragmentReject::Integrity);
    };
    if f.pos.total > MAX_FRAGMENTS {
        return reject(FragmentReject::TooMany);
    }
    // A newer message replaces what is left of an older one (RFC 7383 section 2.6), and so does
    // anything after the old one timed out.
    let stale = sa.reassembly.as_ref().is_some_and(|r| {
        r.message_id != message_id
            || r.response != response
            || now >= r.deadline(limits.fragment_timeout)
    });
    if stale {
        sa.reassembly = None;
    }
    let r = sa.reassembly.get_or_insert_with(|| Reassembly {
        message_id,
        response,
        started: now,
        total: f.pos.total,
        first_inner: 0,
        held: 0,
        parts: BTreeMap::new(),
    });
    if r.total != f.pos.total {
        return reject(FragmentReject::TotalChanged);
    }
    if !r.parts.contains_key(&f.pos.number) {
        let held = r.held.saturating_add(f.plaintext.len());
        if held > limits.max_packet {
            // The whole message could never be accepted: give it up now rather than hold it.
            sa.reassembly = None;
            return reject(FragmentReject::TooLarge {
                len: held,
                max: limits.max_packet,
            });
        }
        r.held = held;
        if f.pos.number == 1 {
            r.first_inner = f.next_payload;
        }
        r.parts.insert(f.pos.number, f.plaintext);
    }
    if r.parts.len() < usize::from(r.total) {
        return FragmentVerdict::Pending;
    }
    let Some(r) = sa.reassembly.take() else {
        return FragmentVerdict::Pending;
    };
    let mut plain = Vec::with_capacity(r.held);
    for p in r.parts.values() {
        plain.extend_from_slice(p);
    }
    match decode_inner(PayloadType(r.first_inner), &plain) {
        Ok(payloads) => FragmentVerdict::Complete { payloads },
        Err(e) => FragmentVerdict::Malformed(e.to_string()),
    }
}

/// The SKF fragment number of a datagram whose first payload is SKF (for deciding whether a
/// retransmitted request fragment should trigger our cached response).
pub(crate) fn fragment_number(bytes: &[u8]) -> Option<u16> {
    let b = bytes.get(crate::wire::HEADER_LEN + 4..crate::wire::HEADER_LEN + 6)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_subtracts_ip_udp_and_the_marker_on_the_natt_port() {
        let v4: SocketAddr = "192.0.2.1:500".parse().unwrap();
        let v4n: SocketAddr = "192.0.2.1:4500".parse().unwrap();
        let v6: SocketAddr = "[2001:db8::1]:500".parse().unwrap();
        assert_eq!(message_limit(1280, v4, 4500), 1252);
        assert_eq!(message_limit(1280, v4n, 4500), 1248);
        assert_eq!(message_limit(1280, v6, 4500), 1232);
        assert_eq!(message_limit(10, v4, 4500), 0);
    }

    #[test]
    fn fragment_number_is_read_with_bounds_checks() {
        let mut d = vec![0u8; crate::wire::HEADER_LEN + 8];
        d[crate::wire::HEADER_LEN + 4..crate::wire::HEADER_LEN + 6].copy_from_slice(&[0, 2]);
        assert_eq!(fragment_number(&d), Some(2));
        assert_eq!(fragment_number(&d[..crate::wire::HEADER_LEN + 5]), None);
        assert_eq!(fragment_number(&[]), None);
    }
}
