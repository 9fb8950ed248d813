//! Certificate and signature authentication (RFC 7296 section 2.15, RFC 4754, RFC 7427): X.509
//! path validation, keys, signature schemes, signing and verifying AUTH data.
//!
//! The payload framing is each protocol crate's: rswan-ikev2's `auth` builds CERTREQ from
//! [`TrustAnchors::key_ids`], CERT payloads from [`Credentials::cert_chain`] and the AUTH payload
//! from [`sign_data`]; the peer's CERT + AUTH go to [`verify_peer`]. Time is passed in; RSA
//! signing takes the caller's Rng.

mod error;
mod keys;
mod method;
mod scheme;
mod sign;
mod trust;
mod verify;
mod x509;

pub use error::AuthError;
pub use keys::{load_private_key, PrivateKey, PublicKey};
pub use method::AuthMethod;
pub use scheme::{
    encode_digital_signature, parse_signature_hashes, split_digital_signature, Curve, HashAlg,
    SigAlg, SignatureScheme, SUPPORTED_HASHES,
};
pub use sign::{choose_scheme, sign_data, SignChoice};
pub use trust::{spki_sha1, verify_peer, Credentials, SendCert, TrustAnchors, VerifiedPeer};
pub use verify::verify_signature;
pub use x509::{format_time, name_string, CertInfo, SanEntry};

/// Whether two IKE identities name the same peer: DNs compare by attribute (string types and ASCII
/// case aside, as a configured `C=CH, CN=moon` must match the certificate's encoding), others by
/// value.
pub fn same_identity(a: &crate::identity::Identity, b: &crate::identity::Identity) -> bool {
    use crate::identity::Identity;
    match (a, b) {
        (Identity::DerAsn1Dn(x), Identity::DerAsn1Dn(y)) => x509::same_dn(x, y),
        _ => a == b,
    }
}
