//! Encrypted (SK, RFC 7296 section 3.14) and Encrypted Fragment (SKF, RFC 7383) payload protection,
//! on raw message bytes.
//!
//! Layout after the 28-octet IKE header: generic payload header (4 octets; SKF adds Fragment Number
//! and Total Fragments, 2 octets each), IV, ciphertext of (inner payloads | padding | pad length),
//! ICV. AEAD ciphers authenticate the IKE header through the end of the SK/SKF header as AAD
//! (RFC 5282 section 5.1, RFC 7383 section 2.5); CBC ciphers carry an integrity ICV over everything
//! before it. The caller picks keys by the I(nitiator) flag of the message: messages sent by the
//! original initiator use SK_ei/SK_ai, by the original responder SK_er/SK_ar.

use zeroize::Zeroize;

use crate::rng::Rng;

use super::{aead_open, aead_seal, cbc_decrypt, cbc_encrypt};
use super::{CryptoError, SkCipher};

/// Length of the fixed IKE header.
pub const IKE_HEADER_LEN: usize = 28;
/// Payload type of the Encrypted payload.
pub const PAYLOAD_SK: u8 = 46;
/// Payload type of the Encrypted Fragment payload.
pub const PAYLOAD_SKF: u8 = 53;

const NEXT_PAYLOAD_OFFSET: usize = 16;
const LENGTH_OFFSET: usize = 24;

/// Position of an SKF payload in its fragmented message (both 1-based, number <= total).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FragmentPos {
    pub number: u16,
    pub total: u16,
}

/// What [`open_fragment`] returns.
#[derive(Debug, PartialEq, Eq)]
pub struct OpenedFragment {
    pub pos: FragmentPos,
    /// Next Payload of the SKF header: the first inner payload type in fragment 1, 0 in others.
    pub next_payload: u8,
    /// This fragment's share of the inner payloads.
    pub plaintext: Vec<u8>,
}

/// Builds a whole protected message: `header` (28 octets; its Next Payload is set to SK and its
/// Length field patched), the SK payload header with `first_inner` as Next Payload, a fresh IV
/// from `rng`, the encrypted `inner` payloads with minimal padding, and the ICV.
pub fn seal(
    cipher: &SkCipher,
    encr_key: &[u8],
    integ_key: &[u8],
    header: &[u8],
    first_inner: u8,
    inner: &[u8],
    rng: &mut dyn Rng,
) -> Result<Vec<u8>, CryptoError> {
    seal_any(
        cipher,
        (encr_key, integ_key),
        header,
        first_inner,
        None,
        inner,
        rng,
    )
}

/// Like [`seal`] for one SKF fragment (RFC 7383 section 2.5): `first_inner` must be the first
/// inner payload type for fragment 1 and 0 for the others.
#[allow(clippy::too_many_arguments)] // mirrors seal() plus the fragment position
pub fn seal_fragment(
    cipher: &SkCipher,
    encr_key: &[u8],
    integ_key: &[u8],
    header: &[u8],
    first_inner: u8,
    pos: FragmentPos,
    inner: &[u8],
    rng: &mut dyn Rng,
) -> Result<Vec<u8>, CryptoError> {
    if pos.number == 0 || pos.number > pos.total {
        return Err(CryptoError::Malformed("fragment number out of range"));
    }
    seal_any(
        cipher,
        (encr_key, integ_key),
        header,
        first_inner,
        Some(pos),
        inner,
        rng,
    )
}

/// Verifies and decrypts a message whose last payload is SK; returns the SK payload's Next Payload
/// (the first inner payload type) and the inner payloads. The ICV is checked (in constant time)
/// before anything is decrypted.
pub fn open(
    cipher: &SkCipher,
    encr_key: &[u8],
    integ_key: &[u8],
    message: &[u8],
) -> Result<(u8, Vec<u8>), CryptoError> {
    let (first_inner, _, plaintext) = open_any(cipher, (encr_key, integ_key), message, PAYLOAD_SK)?;
    Ok((first_inner, plaintext))
}

/// Verifies and decrypts a message whose last payload is SKF.
pub fn open_fragment(
    cipher: &SkCipher,
    encr_key: &[u8],
    integ_key: &[u8],
    message: &[u8],
) -> Result<OpenedFragment, CryptoError> {
    let (next_payload, pos, plaintext) =
        open_any(cipher, (encr_key, integ_key), message, PAYLOAD_SKF)?;
    let pos = pos.ok_or(CryptoError::Malformed("SKF header"))?;
    Ok(OpenedFragment {
        pos,
        next_payload,
        plaintext,
    })
}

fn seal_any(
    cipher: &SkCipher,
    (encr_key, integ_key): (&[u8], &[u8]),
    header: &[u8],
    first_inner: u8,
    frag: Option<FragmentPos>,
    inner: &[u8],
    rng: &mut dyn Rng,
) -> Result<Vec<u8>, CryptoError> {
    if header.len() != IKE_HEADER_LEN {
        return Err(CryptoError::Malformed("IKE header is not 28 octets"));
    }
    let encr = cipher.encr();
    let pad_to = encr.pad_to();
    let pad_len = (pad_to - (inner.len() + 1) % pad_to) % pad_to;
    let pt_len = inner.len() + pad_len + 1;
    let sk_hdr_len = if frag.is_some() { 8 } else { 4 };
    let iv_len = encr.iv_len();
    let icv_len = cipher.icv_len();
    let payload_len =
        u16::try_from(sk_hdr_len + iv_len + pt_len + icv_len).map_err(|_| CryptoError::TooLong)?;
    let total = IKE_HEADER_LEN + usize::from(payload_len);
    let total_u32 = u32::try_from(total).map_err(|_| CryptoError::TooLong)?;

    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(header);
    out[NEXT_PAYLOAD_OFFSET] = if frag.is_some() {
        PAYLOAD_SKF
    } else {
        PAYLOAD_SK
    };
    out[LENGTH_OFFSET..IKE_HEADER_LEN].copy_from_slice(&total_u32.to_be_bytes());
    out.push(first_inner);
    out.push(0);
    out.extend_from_slice(&payload_len.to_be_bytes());
    if let Some(pos) = frag {
        out.extend_from_slice(&pos.number.to_be_bytes());
        out.extend_from_slice(&pos.total.to_be_bytes());
    }
    let aad_end = out.len();
    out.resize(aad_end + iv_len, 0);
    rng.fill(&mut out[aad_end..]);
    let pt_start = out.len();
    out.extend_from_slice(inner);
    // Padding content is free (RFC 7296 section 3.14); zeros leak nothing.
    out.resize(pt_start + inner.len() + pad_len, 0);
    out.push(pad_len as u8);
    out.resize(total, 0);

    let (head, rest) = out.split_at_mut(pt_start);
    let (aad, iv) = head.split_at(aad_end);
    let (ct, icv) = rest.split_at_mut(pt_len);
    match cipher.integ() {
        None => aead_seal(encr, encr_key, iv, aad, ct, icv)?,
        Some(integ) => {
            cbc_encrypt(encr, encr_key, iv, ct)?;
            let mut tag = [0u8; 64];
            let tag = tag
                .get_mut(..icv_len)
                .ok_or(CryptoError::Malformed("ICV length"))?;
            integ.compute(integ_key, &[head, ct], tag)?;
            icv.copy_from_slice(tag);
        }
    }
    Ok(out)
}

/// Returns (Next Payload of the SK/SKF header, fragment position for SKF, plaintext).
fn open_any(
    cipher: &SkCipher,
    (encr_key, integ_key): (&[u8], &[u8]),
    message: &[u8],
    want: u8,
) -> Result<(u8, Option<FragmentPos>, Vec<u8>), CryptoError> {
    let malformed = |why| Err(CryptoError::Malformed(why));
    let (next, off, plen) = find_sk(message)?;
    if next != want {
        return malformed(if want == PAYLOAD_SK {
            "expected SK, found SKF"
        } else {
            "expected SKF, found SK"
        });
    }
    if off + plen != message.len() {
        return malformed("SK payload is not the last payload");
    }
    let first_inner = message[off];
    let (hdr_len, pos) = sk_header(message, off, want)?;

    let encr = cipher.encr();
    let iv_len = encr.iv_len();
    let icv_len = cipher.icv_len();
    let aad_end = off + hdr_len;
    let body_start = aad_end + iv_len;
    let icv_start = message.len().saturating_sub(icv_len);
    // At least the pad length octet must be encrypted.
    if plen < hdr_len + iv_len + icv_len + 1 {
        return malformed("SK payload too short for IV, pad length and ICV");
    }
    let aad = &message[..aad_end];
    let iv = &message[aad_end..body_start];
    let icv = &message[icv_start..];
    let mut pt = message[body_start..icv_start].to_vec();

    match cipher.integ() {
        None => {
            if let Err(e) = aead_open(encr, encr_key, iv, aad, &mut pt, icv) {
                // ring leaves the buffer unspecified on failure; do not keep any of it.
                pt.zeroize();
                return Err(e);
            }
        }
        Some(integ) => {
            integ.verify(integ_key, &[&message[..icv_start]], icv)?;
            if !pt.len().is_multiple_of(encr.block_len()) {
                return malformed("ciphertext is not whole cipher blocks");
            }
            cbc_decrypt(encr, encr_key, iv, &mut pt)?;
        }
    }
    let pad_len = usize::from(pt.last().copied().unwrap_or(0));
    let Some(inner_len) = pt.len().checked_sub(pad_len + 1) else {
        pt.zeroize();
        return Err(CryptoError::BadPadding);
    };
    pt.truncate(inner_len);
    Ok((first_inner, pos, pt))
}

/// Checks the header's length and walks the cleartext payloads (normally none) to the SK/SKF
/// payload: its type, offset and length.
fn find_sk(message: &[u8]) -> Result<(u8, usize, usize), CryptoError> {
    let malformed = |why| Err(CryptoError::Malformed(why));
    let Some(len_field) = message.get(LENGTH_OFFSET..IKE_HEADER_LEN) else {
        return malformed("shorter than the IKE header");
    };
    let declared = u32::from_be_bytes([len_field[0], len_field[1], len_field[2], len_field[3]]);
    if usize::try_from(declared).ok() != Some(message.len()) {
        return malformed("IKE header length differs from the message length");
    }

    // Walk the cleartext payloads (normally none) to the SK/SKF payload, which must be last.
    let mut next = message[NEXT_PAYLOAD_OFFSET];
    let mut off = IKE_HEADER_LEN;
    let plen = loop {
        let Some(h) = message.get(off..off + 4) else {
            return malformed("payload header past the end of the message");
        };
        let plen = usize::from(u16::from_be_bytes([h[2], h[3]]));
        if plen < 4 || off + plen > message.len() {
            return malformed("payload length out of bounds");
        }
        if next == PAYLOAD_SK || next == PAYLOAD_SKF {
            break plen;
        }
        if next == 0 {
            return malformed("no SK payload");
        }
        next = h[0];
        off += plen;
    };
    Ok((next, off, plen))
}

/// The SK (4 octets) or SKF (8 octets, with the fragment position) payload header's length.
fn sk_header(
    message: &[u8],
    off: usize,
    want: u8,
) -> Result<(usize, Option<FragmentPos>), CryptoError> {
    let malformed = |why| Err(CryptoError::Malformed(why));
    if want == PAYLOAD_SKF {
        let Some(f) = message.get(off + 4..off + 8) else {
            return malformed("SKF header truncated");
        };
        let pos = FragmentPos {
            number: u16::from_be_bytes([f[0], f[1]]),
            total: u16::from_be_bytes([f[2], f[3]]),
        };
        if pos.number == 0 || pos.number > pos.total {
            return malformed("fragment number out of range");
        }
        Ok((8, Some(pos)))
    } else {
        Ok((4, None))
    }
}
