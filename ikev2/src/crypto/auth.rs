//! AUTH payload computation for pre-shared keys (RFC 7296 section 2.15) and the signed octets that
//! signature methods sign too.

use super::{ct_eq, CryptoError, Prf, Secret};

const KEY_PAD: &[u8] = b"Key Pad for IKEv2";

/// One side's <SignedOctets> = RealMessage | NonceData | prf(SK_px, RestOfIDPayload).
#[derive(Clone, Copy, Debug)]
pub struct AuthInput<'a> {
    /// The side's own first message as sent: the initiator's IKE_SA_INIT request or the
    /// responder's IKE_SA_INIT response, from the first octet of the IKE header to the last octet
    /// of the last payload.
    pub real_message: &'a [u8],
    /// The *peer's* nonce data (the initiator signs Nr, the responder Ni), without payload header.
    pub peer_nonce: &'a [u8],
    /// SK_pi for the initiator's AUTH, SK_pr for the responder's.
    pub sk_p: &'a [u8],
    /// The side's ID payload body without the generic payload header: ID type, three reserved
    /// octets, identification data.
    pub id_body: &'a [u8],
}

/// The concatenated signed octets, for signature methods (and for logging their length).
pub fn signed_octets(prf: Prf, input: &AuthInput<'_>) -> Vec<u8> {
    let maced_id = prf.compute(input.sk_p, &[input.id_body]);
    let mut out =
        Vec::with_capacity(input.real_message.len() + input.peer_nonce.len() + maced_id.len());
    out.extend_from_slice(input.real_message);
    out.extend_from_slice(input.peer_nonce);
    out.extend_from_slice(maced_id.as_bytes());
    out
}

/// AUTH = prf(prf(Shared Secret, "Key Pad for IKEv2"), <SignedOctets>), for auth method 2.
pub fn psk_auth(prf: Prf, psk: &[u8], input: &AuthInput<'_>) -> Secret {
    let maced_id = prf.compute(input.sk_p, &[input.id_body]);
    let key = prf.compute(psk, &[KEY_PAD]);
    prf.compute(
        key.as_bytes(),
        &[input.real_message, input.peer_nonce, maced_id.as_bytes()],
    )
}

/// Recomputes the peer's AUTH with our PSK for it and compares in constant time.
pub fn verify_psk_auth(
    prf: Prf,
    psk: &[u8],
    input: &AuthInput<'_>,
    received: &[u8],
) -> Result<(), CryptoError> {
    let expected = psk_auth(prf, psk, input);
    if ct_eq(expected.as_bytes(), received) {
        Ok(())
    } else {
        Err(CryptoError::AuthenticationFailed)
    }
}
