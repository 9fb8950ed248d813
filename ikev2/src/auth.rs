//! Certificate and signature authentication for IKEv2. The version-neutral part (X.509 path
//! validation, keys, signature schemes, signing and verifying) is rswan-ike's `auth`, re-exported
//! here; what is IKEv2 wire is below: the CERTREQ/CERT payloads we send and read, the AUTH payload,
//! and the SIGNATURE_HASH_ALGORITHMS notify.
//!
//! `exchange/ike_auth.rs` calls it in a few places: [`TrustAnchorsExt::certreq`] for the CERTREQ
//! we send, [`choose_scheme`] + [`sign`] for our AUTH, [`verify_peer`] for the peer's CERT + AUTH.

pub use rswan_ike::auth::*;

use crate::consts::CertEncoding;
use crate::rng::Rng;
use crate::wire::{AuthPayload, CertPayload, CertReqPayload, Notify};

/// Our AUTH payload: `choice.scheme` over `signed_octets` (crypto::signed_octets), framed for
/// `choice.method` (raw for 1, r|s for 9/10/11, AlgorithmIdentifier + signature for 14).
pub fn sign(
    key: &PrivateKey,
    choice: SignChoice,
    signed_octets: &[u8],
    rng: &mut dyn Rng,
) -> Result<AuthPayload, AuthError> {
    let data = sign_data(key, choice, signed_octets, rng)?;
    Ok(AuthPayload {
        method: choice.method,
        data,
    })
}

/// Our SIGNATURE_HASH_ALGORITHMS notify (sent in IKE_SA_INIT by both sides).
pub fn signature_hash_notify() -> Notify {
    let algs: Vec<u16> = SUPPORTED_HASHES.iter().map(|h| *h as u16).collect();
    Notify::signature_hash_algorithms(&algs)
}

/// IKEv2's CERTREQ for a set of trust anchors.
pub trait TrustAnchorsExt {
    /// The CERTREQ we send: every trusted CA's key hash.
    fn certreq(&self) -> CertReqPayload;
}

impl TrustAnchorsExt for TrustAnchors {
    fn certreq(&self) -> CertReqPayload {
        CertReqPayload {
            encoding: CertEncoding::X509_SIGNATURE,
            authorities: self.key_ids().concat(),
        }
    }
}

/// IKEv2's CERT payloads for our credentials, and whether a CERTREQ asks for them.
pub trait CredentialsExt {
    /// One CERT payload per certificate, end entity first (RFC 7296 3.6).
    fn cert_payloads(&self) -> Vec<CertPayload>;
    /// Whether a peer's CERTREQ names a CA of our chain: one of our intermediates, or a CA in
    /// `our_cas` that issued the top of our chain.
    fn answers_certreq(&self, req: &CertReqPayload, our_cas: &TrustAnchors) -> bool;
}

impl CredentialsExt for Credentials {
    fn cert_payloads(&self) -> Vec<CertPayload> {
        self.cert_chain
            .iter()
            .map(|c| CertPayload {
                encoding: CertEncoding::X509_SIGNATURE,
                data: c.to_vec(),
            })
            .collect()
    }

    fn answers_certreq(&self, req: &CertReqPayload, our_cas: &TrustAnchors) -> bool {
        let Some(hashes) = req.ca_hashes() else {
            return false;
        };
        let hashes: Vec<&[u8]> = hashes.collect();
        self.answers_ca_hashes(&hashes, our_cas)
    }
}

/// The peer's end-entity certificate and intermediates from its CERT payloads, in the order RFC 7296
/// 3.6 prescribes (the first X.509 certificate is the one whose key signed AUTH). Payloads in other
/// encodings (CRLs, hash-and-URL) are skipped; `None` if no X.509 certificate was sent.
pub fn peer_certificates(certs: &[CertPayload]) -> Option<(&[u8], Vec<&[u8]>)> {
    let mut x509 = certs
        .iter()
        .filter(|c| c.encoding == CertEncoding::X509_SIGNATURE)
        .map(|c| c.data.as_slice());
    let ee = x509.next()?;
    Some((ee, x509.collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_certificates_skip_other_encodings() {
        let cert = |encoding, data: &[u8]| CertPayload {
            encoding,
            data: data.to_vec(),
        };
        let certs = [
            cert(CertEncoding::CRL, b"crl"),
            cert(CertEncoding::X509_SIGNATURE, b"ee"),
            cert(CertEncoding::X509_SIGNATURE, b"ca1"),
        ];
        let (ee, inter) = peer_certificates(&certs).unwrap();
        assert_eq!(ee, b"ee");
        assert_eq!(inter, vec![&b"ca1"[..]]);
        assert!(peer_certificates(&certs[..1]).is_none());
    }

    #[test]
    fn notify_lists_the_hashes_we_verify() {
        assert_eq!(signature_hash_notify().data, [0, 2, 0, 3, 0, 4, 0, 5]);
    }
}
