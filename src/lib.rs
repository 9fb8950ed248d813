//! rswan daemon library: configuration loading, the control protocol, status rendering and the
//! tokio driver that connects sockets, the kernel and the control socket to the protocol core.

pub mod cli;
pub mod config;
pub mod control;
pub mod diagnose;
pub mod driver;
pub mod status;
