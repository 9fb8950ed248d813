//! rswan-ikev2: the IKEv2 protocol, sans-IO.
//!
//! Nothing in this crate reads a clock, opens a socket, talks netlink or draws randomness of its own:
//! time and an [`Rng`] are passed in, and every effect comes back out as data (see ARCHITECTURE.md).

pub mod auth;
pub mod config;
pub mod consts;
pub(crate) mod context;
pub mod crypto;
pub mod endpoint;
pub mod event;
pub(crate) mod exchange;
pub mod output;
pub mod proposal;
pub mod sa;
pub mod timer;
pub mod wire;

pub use config::Config;
pub use endpoint::Endpoint;
pub use event::{Event, FailureReason};
pub use output::{Command, KernelEvent, KernelOp, Output};
pub use rswan_ike::rng::{self, Rng};
