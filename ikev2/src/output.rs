//! What goes in and out of the core besides datagrams: commands, kernel operations (the core's own
//! typed SA and policy specs; the driver translates them to rswan-xfrm) and kernel events.

use core::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use zeroize::Zeroizing;

use crate::config::Mode;
use crate::consts::{EncrId, IntegId};
use crate::event::Event;
use crate::wire::TrafficSelector;

/// One effect the driver has to perform.
#[derive(Debug)]
pub enum Output {
    /// Send `bytes` from the local socket address `from` to `to`.
    Send {
        from: SocketAddr,
        to: SocketAddr,
        bytes: Vec<u8>,
    },
    /// Apply a kernel operation and answer with [`KernelEvent::OpResult`] carrying `token`.
    Kernel {
        token: u64,
        op: KernelOp,
    },
    Event(Event),
}

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

/// Results and notifications from the kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KernelEvent {
    /// The result of the [`Output::Kernel`] with this token. An error is reported as a failed Child
    /// SA (e.g. EEXIST for a duplicate SPI).
    OpResult {
        token: u64,
        result: Result<(), String>,
    },
    /// The kernel's soft (`hard: false`) or hard lifetime of the SA `dst`/`spi` (ESP) ran out
    /// (XFRM_MSG_EXPIRE). Soft starts a rekey of its Child SA, hard deletes the Child SA.
    Expire { dst: IpAddr, spi: u32, hard: bool },
    /// Current byte/packet counters of the SA `dst`/`spi` (as read with XFRM_MSG_GETSA). The
    /// driver feeds these for the SAs `Endpoint::counter_poll` names, when the core asks; dead peer
    /// detection treats a rise of an inbound SA's counters as a sign of life from the peer
    /// (on-idle mode counts outbound too). Unknown SAs are ignored.
    Counters {
        dst: IpAddr,
        spi: u32,
        bytes: u64,
        packets: u64,
    },
    /// XFRM_MSG_MAPPING: ESP-in-UDP packets for our inbound SA `dst`/`spi` arrive from a new
    /// source address or port (the peer's NAT changed its mapping, RFC 3948 section 3). The core
    /// moves the IKE SA to `new` and re-installs the Child SAs' ESP SAs with the new encapsulation
    /// port. Unknown SAs are ignored.
    Mapping {
        dst: IpAddr,
        spi: u32,
        old: SocketAddr,
        new: SocketAddr,
    },
}

/// Authenticated encryption or cipher plus key.
#[derive(Clone)]
pub struct EncrSpec {
    pub alg: EncrId,
    /// Key length in bits of the cipher proper (e.g. 128 for AES-GCM-16-128), as negotiated.
    pub key_bits: u16,
    /// For AEAD: the ICV length in bits (64/96/128); `None` for non-AEAD ciphers.
    pub icv_bits: Option<u16>,
    /// Key material, including the 4-octet salt for GCM/CCM and ChaCha20-Poly1305 (RFC 4106 / 7634),
    /// in the layout the kernel expects.
    pub key: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for EncrSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncrSpec")
            .field("alg", &self.alg)
            .field("key_bits", &self.key_bits)
            .field("icv_bits", &self.icv_bits)
            .field("key", &format_args!("<{} bytes>", self.key.len()))
            .finish()
    }
}

#[derive(Clone)]
pub struct IntegSpec {
    pub alg: IntegId,
    pub key: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for IntegSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntegSpec")
            .field("alg", &self.alg)
            .field("key", &format_args!("<{} bytes>", self.key.len()))
            .finish()
    }
}

/// Soft and hard limits for one SA (0 = no limit).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Lifetime {
    pub soft_time: Duration,
    pub hard_time: Duration,
    pub soft_bytes: u64,
    pub hard_bytes: u64,
}

/// Direction of an SA or policy relative to us.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    In,
    Out,
    /// Forwarded traffic arriving through the tunnel (tunnel mode only).
    Fwd,
}

/// ESP-in-UDP encapsulation ports (RFC 3948).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpEncap {
    pub sport: u16,
    pub dport: u16,
}

/// One ESP SA for the kernel.
#[derive(Clone, Debug)]
pub struct SaSpec {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// SPI in host order; the driver writes it in network order.
    pub spi: u32,
    pub reqid: u32,
    pub direction: Direction,
    pub mode: Mode,
    pub encr: EncrSpec,
    /// `None` for AEAD ciphers.
    pub integ: Option<IntegSpec>,
    pub esn: bool,
    pub replay_window: u32,
    pub encap: Option<UdpEncap>,
    pub lifetime: Lifetime,
    /// Transport mode: the selector the SA is restricted to (src = our side for `Out`).
    pub selector: Option<(TrafficSelector, TrafficSelector)>,
}

/// One IPsec policy (src/dst from the point of view of the packet, as in XFRM).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicySpec {
    pub src: TrafficSelector,
    pub dst: TrafficSelector,
    pub direction: Direction,
    pub reqid: u32,
    pub mode: Mode,
    /// Tunnel endpoints for the template (tunnel mode): outer source and destination.
    pub tmpl_src: IpAddr,
    pub tmpl_dst: IpAddr,
}

/// A kernel operation as data.
#[derive(Clone, Debug)]
pub enum KernelOp {
    AddSa(SaSpec),
    DeleteSa {
        src: IpAddr,
        dst: IpAddr,
        spi: u32,
    },
    AddPolicy(PolicySpec),
    DeletePolicy {
        src: TrafficSelector,
        dst: TrafficSelector,
        direction: Direction,
    },
}
