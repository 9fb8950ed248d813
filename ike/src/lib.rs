//! rswan-ike: the version-neutral base that the IKEv2 core (rswan-ikev2) and the IKEv1 core share.
//!
//! Sans-IO like the protocol crates: nothing here reads a clock, opens a socket, talks netlink or
//! draws randomness of its own. It holds what does not depend on the IKE version: cryptographic
//! primitives and KE groups, the [`rng::Rng`] the caller passes in, DER and identities, the
//! algorithm catalogue with per-version wire IDs, the kernel operations and events a core exchanges
//! with the driver, the timer formulas ([`timer`]: retransmit backoff, lifetimes and their jitter,
//! DPD, keepalives, half-open and cookie timeouts), and the [`Endpoint`] trait the driver calls a
//! core through.

pub mod alg;
pub mod auth;
pub mod crypto;
pub mod der;
pub mod endpoint;
pub mod identity;
pub mod kernel;
mod registry;
pub mod rng;
pub mod selector;
pub mod timer;

pub use endpoint::{Endpoint, Output};
pub use rng::Rng;
