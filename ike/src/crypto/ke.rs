//! Key exchange (transform type 4): MODP, ECP (RFC 5903) and Curve25519 (RFC 8031).
//!
//! Private values are built from octets drawn from the caller's [`Rng`], never from an internal
//! generator, so a seeded test replays the same KE payloads.

use core::fmt;

use zeroize::Zeroize;

use crate::alg::KeGroup;
use crate::rng::Rng;

use super::modp::{self, ModpPrivate};
use super::{CryptoError, Secret};

/// An ephemeral key pair for one KE payload.
pub struct KeyExchange {
    group: KeGroup,
    public: Vec<u8>,
    private: Private,
}

enum Private {
    Modp(ModpPrivate),
    P256(p256::SecretKey),
    P384(p384::SecretKey),
    P521(p521::SecretKey),
    X25519(x25519_dalek::StaticSecret),
}

/// Length of the KE payload's key exchange data for `group`, if supported.
pub fn public_value_len(group: KeGroup) -> Option<usize> {
    match group {
        KeGroup::ECP_256 => Some(64),
        KeGroup::ECP_384 => Some(96),
        KeGroup::ECP_521 => Some(132),
        KeGroup::CURVE_25519 => Some(32),
        g => modp::group(g).map(|m| m.len()),
    }
}

/// MODP 1024 (2) and 1536 (5) are below today's security margin: only for interoperating with old
/// peers, and off unless configured.
pub fn is_legacy_group(group: KeGroup) -> bool {
    matches!(group, KeGroup::MODP_1024 | KeGroup::MODP_1536)
}

/// Draws candidate scalars until one is in [1, n-1]. A working Rng needs more than one draw with
/// probability < 2^-32 (P-256/P-384) or 1/2 (P-521 after masking to 521 bits); the bound only turns a
/// broken Rng (constant output) into an error instead of a hang.
macro_rules! ec_generate {
    ($curve:ident, $field_len:expr, $top_mask:expr, $rng:expr, $group:expr) => {{
        let mut bytes = [0u8; $field_len];
        let mut found = None;
        for _ in 0..128 {
            $rng.fill(&mut bytes);
            bytes[0] &= $top_mask;
            if let Ok(sk) = $curve::SecretKey::from_slice(&bytes) {
                found = Some(sk);
                break;
            }
        }
        bytes.zeroize();
        let sk = found.ok_or(CryptoError::InvalidPublicValue {
            group: $group,
            reason: "random generator produced no valid private scalar",
        })?;
        let point = {
            use $curve::elliptic_curve::sec1::ToSec1Point;
            sk.public_key().as_affine().to_sec1_point(false)
        };
        // SEC1 uncompressed is 0x04 | x | y; RFC 5903 section 7 sends x | y only.
        let public = point.as_bytes().get(1..).unwrap_or_default().to_vec();
        (sk, public)
    }};
}

macro_rules! ec_shared {
    ($curve:ident, $field_len:expr, $sk:expr, $peer:expr, $group:expr) => {{
        let invalid = |reason| CryptoError::InvalidPublicValue {
            group: $group,
            reason,
        };
        if $peer.len() != 2 * $field_len {
            return Err(invalid("length is not 2 x field size"));
        }
        let mut sec1 = [0u8; 1 + 2 * $field_len];
        sec1[0] = 0x04;
        sec1[1..].copy_from_slice($peer);
        // Rejects points not on the curve and the identity.
        let pk = $curve::PublicKey::from_sec1_bytes(&sec1)
            .map_err(|_| invalid("point is not on the curve"))?;
        let shared = $sk.diffie_hellman(&pk);
        // The x coordinate at full field length, leading zeros kept (RFC 5903 section 7).
        Ok(Secret::from_slice(shared.raw_secret_bytes().as_slice()))
    }};
}

impl KeyExchange {
    pub fn generate(group: KeGroup, rng: &mut dyn Rng) -> Result<KeyExchange, CryptoError> {
        let (private, public) = match group {
            KeGroup::ECP_256 => {
                let (sk, public) = ec_generate!(p256, 32, 0xff, rng, group);
                (Private::P256(sk), public)
            }
            KeGroup::ECP_384 => {
                let (sk, public) = ec_generate!(p384, 48, 0xff, rng, group);
                (Private::P384(sk), public)
            }
            KeGroup::ECP_521 => {
                let (sk, public) = ec_generate!(p521, 66, 0x01, rng, group);
                (Private::P521(sk), public)
            }
            KeGroup::CURVE_25519 => {
                let mut bytes = [0u8; 32];
                rng.fill(&mut bytes);
                let sk = x25519_dalek::StaticSecret::from(bytes);
                bytes.zeroize();
                let public = x25519_dalek::PublicKey::from(&sk).to_bytes().to_vec();
                (Private::X25519(sk), public)
            }
            g => {
                let m = modp::group(g).ok_or(CryptoError::UnsupportedGroup(g))?;
                let (sk, public) = ModpPrivate::generate(m, rng);
                (Private::Modp(sk), public)
            }
        };
        Ok(KeyExchange {
            group,
            public,
            private,
        })
    }

    pub fn group(&self) -> KeGroup {
        self.group
    }

    /// The key exchange data for our KE payload.
    pub fn public_value(&self) -> &[u8] {
        &self.public
    }

    /// g^ir from the peer's KE data, after checking that it is a valid public value of the group.
    pub fn shared_secret(&self, peer: &[u8]) -> Result<Secret, CryptoError> {
        let group = self.group;
        match &self.private {
            Private::Modp(sk) => sk.shared_secret(peer),
            Private::P256(sk) => ec_shared!(p256, 32, sk, peer, group),
            Private::P384(sk) => ec_shared!(p384, 48, sk, peer, group),
            Private::P521(sk) => ec_shared!(p521, 66, sk, peer, group),
            Private::X25519(sk) => {
                let bytes: [u8; 32] =
                    peer.try_into()
                        .map_err(|_| CryptoError::InvalidPublicValue {
                            group,
                            reason: "length is not 32",
                        })?;
                let shared = sk.diffie_hellman(&x25519_dalek::PublicKey::from(bytes));
                // A low-order peer point gives the all-zero output (RFC 7748 section 6.1).
                if !shared.was_contributory() {
                    return Err(CryptoError::InvalidPublicValue {
                        group,
                        reason: "all-zero shared secret",
                    });
                }
                Ok(Secret::from_slice(shared.as_bytes()))
            }
        }
    }
}

impl fmt::Debug for KeyExchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyExchange")
            .field("group", &self.group)
            .finish_non_exhaustive()
    }
}
