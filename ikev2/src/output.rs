//! What goes in and out of the IKEv2 core besides datagrams: outputs and commands. The output
//! shape, the kernel operations, events and their parts are version-neutral and live in rswan-ike
//! (`endpoint`, `kernel`); re-exported here at their old paths.

use crate::event::Event;

pub use rswan_ike::kernel::{
    Direction, EncrSpec, IntegSpec, KernelError, KernelErrorKind, KernelEvent, KernelOp, Lifetime,
    PolicySpec, SaSpec, UdpEncap,
};

/// One effect the driver has to perform (rswan-ike's version-neutral output with IKEv2's events).
pub type Output = rswan_ike::endpoint::Output<Event>;

/// Operator requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Bring up connection `conn`; with `child`, only that Child SA in IKE_AUTH, otherwise the
    /// first configured child (a connection without children creates a childless IKE SA).
    Initiate { conn: String, child: Option<String> },
    /// Delete every IKE SA of `conn` (and their Child SAs) with an INFORMATIONAL Delete.
    TerminateIke { conn: String },
    /// Delete the Child SA named `child` of `conn`, keeping the IKE SA.
    TerminateChild { conn: String, child: String },
    /// Send an empty INFORMATIONAL on each established IKE SA of `conn` (liveness check).
    Liveness { conn: String },
    /// Delete everything (daemon shutdown).
    Shutdown,
}
