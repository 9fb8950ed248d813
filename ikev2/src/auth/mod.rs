//! Certificate and signature authentication (RFC 7296 section 2.15, RFC 4754, RFC 7427).
//!
//! Self-contained so that `exchange/ike_auth.rs` calls it in a few places: [`TrustAnchors::certreq`]
//! for the CERTREQ we send, [`choose_scheme`] + [`sign`] for our AUTH, [`verify_peer`] for the
//! peer's CERT + AUTH. Time is passed in; RSA signing takes the caller's Rng.

mod error;
mod keys;
mod scheme;
mod sign;
mod trust;
mod verify;
mod x509;

pub use error::AuthError;
pub use keys::{load_private_key, PrivateKey, PublicKey};
pub use scheme::{
    encode_digital_signature, parse_signature_hashes, signature_hash_notify,
    split_digital_signature, Curve, HashAlg, SigAlg, SignatureScheme, SUPPORTED_HASHES,
};
pub use sign::{choose_scheme, sign, SignChoice};
pub use trust::{
    peer_certificates, spki_sha1, verify_peer, Credentials, SendCert, TrustAnchors, VerifiedPeer,
};
pub use verify::verify_signature;
pub use x509::{format_time, name_string, CertInfo, SanEntry};

/// Whether two IKE identities name the same peer: DNs compare by attribute (string types and ASCII
/// case aside, as a configured `C=CH, CN=moon` must match the certificate's encoding), others by
/// value.
pub(crate) fn same_identity(a: &crate::wire::Identity, b: &crate::wire::Identity) -> bool {
    use crate::wire::Identity;
    match (a, b) {
        (Identity::DerAsn1Dn(x), Identity::DerAsn1Dn(y)) => x509::same_dn(x, y),
        _ => a == b,
    }
}
