//! Linux XFRM over netlink: the only part of rswan that talks to the kernel's IPsec stack.
//!
//! * [`model`]: typed SAs and policies, validated before anything is sent.
//! * [`Kernel`]: the operations rswan needs, implemented by [`NetlinkKernel`] (real kernel,
//!   pipelined requests) and [`Recorder`] (in memory, for tests of callers).
//! * [`Monitor`]: ACQUIRE, EXPIRE, MAPPING and policy notifications as [`KernelEvent`]s.
//! * [`sockets`]: UDP encapsulation and IKE bypass options for the daemon's sockets.
//! * [`ownership`]: how rswan's state is told apart from other daemons' (reqid range).

#![deny(unsafe_code)]

pub mod algorithms;
mod decode;
mod encode;
pub mod error;
mod kernel;
pub mod model;
pub mod monitor;
mod netlink;
pub mod ownership;
mod recorder;
pub mod sockets;

pub use algorithms::{AeadAlg, AuthAlg, EncAlg};
pub use decode::{InstalledPolicy, SaCounters, SaState};
pub use error::{DecodeError, Error, Invalid, KernelError, Operation};
pub use kernel::{FlushReport, Kernel, KernelOp};
pub use model::{
    Action, Crypto, Direction, Family, Key, Lifetimes, Limits, Mark, Mode, Policy, PolicyId,
    Prefix, Sa, SaId, Selector, SpiRequest, Template, UdpEncap,
};
#[cfg(feature = "tokio")]
pub use monitor::AsyncMonitor;
pub use monitor::{decode_events, KernelEvent, Monitor};
pub use netlink::NetlinkKernel;
pub use recorder::{Call, Recorder};

#[cfg(test)]
mod tests;
