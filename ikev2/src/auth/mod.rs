//! Certificate and signature authentication (RFC 7296 section 2.15, RFC 4754, RFC 7427).
//!
//! Self-contained so that `exchange/ike_auth.rs` calls it in a few places: [`TrustAnchors::certreq`]
//! for the CERTREQ we send, [`choose_scheme`] + [`sign`] for our AUTH, [`verify_peer`] for the
//! peer's CERT + AUTH. Time is passed in; RSA signing takes the caller's Rng.

mod der;
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
