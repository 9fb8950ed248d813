//! The control socket: protocol types, the client used by rswanctl, and the daemon's listener.

pub mod access;
pub mod client;
pub mod protocol;
pub mod server;
