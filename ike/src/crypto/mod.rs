//! Cryptographic primitives both IKE versions use: ciphers (CBC and AEAD), MACs and PRFs keyed by
//! the catalogue's algorithm IDs, key exchange groups (MODP, ECP, Curve25519) and wiped secrets.
//! The version-specific constructions on top (IKEv2's prf+, SKEYSEED and SK payload; IKEv1's
//! SKEYID and CBC IV chaining) live in the protocol crates.
//!
//! Everything here works on byte slices. No function draws randomness of its own: the caller's
//! [`crate::rng::Rng`] is passed in wherever randomness is needed.

mod cipher;
mod error;
mod ke;
mod mac;
mod modp;
mod modp_primes;
mod secret;
mod transforms;

pub use cipher::{aead_open, aead_seal, cbc_decrypt, cbc_encrypt};
pub use error::CryptoError;
pub use ke::{is_legacy_group, public_value_len, KeyExchange};
pub use mac::MAX_MAC_LEN;
pub use secret::Secret;
pub use transforms::{Encr, Integ, Prf, PrfKey, SkCipher};

/// Constant-time equality of two byte strings (lengths are not secret).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}
