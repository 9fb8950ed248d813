//! rswan-ikev2: the IKEv2 protocol, sans-IO.
//!
//! Nothing in this crate reads a clock, opens a socket, talks netlink or draws randomness of its own:
//! time and an [`Rng`] are passed in, and every effect comes back out as data (see ARCHITECTURE.md).

pub mod consts;
pub mod rng;
pub mod wire;
