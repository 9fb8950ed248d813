//! The algorithm catalogue: what a configuration can name (strongSwan keywords such as `aes256`,
//! `aes128gcm16`, `prfsha384`, `modp2048`, `ecp256`, `curve25519`), as typed values with their wire
//! number in each IKE version, their strongSwan-style display names, and the negotiated outcome.
//! Proposal strings and proposal selection on the wire are each protocol crate's.

mod algorithm;
mod algorithms;
mod ids;
mod keywords;

pub use algorithm::{is_aead_id, is_legacy, transform_name, EncrAlg};
pub use algorithms::{Algorithms, ChildAlgorithms, IkeAlgorithms};
pub use ids::{EncrId, EsnId, IntegId, KeGroup, PrfId, TransformType};
pub use keywords::{allowed_keywords, lookup, Kw, KEYWORDS};
