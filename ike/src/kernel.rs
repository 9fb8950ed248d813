//! What a protocol core and the driver exchange about the kernel: operations as data (the core's
//! own typed SA and policy specs; the driver translates them to rswan-xfrm), the kernel's answers
//! and notifications, and the typed error a refused operation comes back with. Version-neutral: an
//! IKEv1 Quick Mode installs the same ESP SAs and policies as an IKEv2 Child SA.

use core::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use zeroize::Zeroizing;

use crate::alg::{EncrId, IntegId};
use crate::selector::TrafficSelector;

/// IPsec mode (`mode =`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Mode {
    #[default]
    Tunnel,
    Transport,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Tunnel => "TUNNEL",
            Mode::Transport => "TRANSPORT",
        })
    }
}

/// Results and notifications from the kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KernelEvent {
    /// The result of the kernel operation the core emitted with this token. An error is reported
    /// as a failed Child SA (e.g. [`KernelErrorKind::Exists`] for a duplicate SPI).
    OpResult {
        token: u64,
        result: Result<(), KernelError>,
    },
    /// The kernel's soft (`hard: false`) or hard lifetime of the SA `dst`/`spi` (ESP) ran out
    /// (XFRM_MSG_EXPIRE). Soft starts a rekey of its Child SA, hard deletes the Child SA.
    Expire { dst: IpAddr, spi: u32, hard: bool },
    /// Current byte/packet counters of the SA `dst`/`spi` (as read with XFRM_MSG_GETSA). The
    /// driver feeds these for the SAs the core names (`counter_poll`), when the core asks; dead peer
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

/// The class of a kernel refusal, kept from the errno so that the core and diagnose can act on it
/// without reading the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KernelErrorKind {
    /// The kernel lacks what the operation needs: ESP itself (EPROTONOSUPPORT: esp4/esp6 not built
    /// in and not loaded), an algorithm's crypto module (ENOSYS/ENOENT), or the address family
    /// (EAFNOSUPPORT).
    NotSupported,
    /// An SA or policy with this identity is already there (EEXIST).
    Exists,
    /// No such SA or policy (ENOENT/ESRCH on delete or update).
    NotFound,
    /// The kernel ran out of memory or buffer space (ENOBUFS/ENOMEM).
    NoBuffer,
    /// Missing CAP_NET_ADMIN (EPERM/EACCES).
    Permission,
    /// The kernel refused the combination of attributes (EINVAL), or the request was refused
    /// before reaching the kernel because it made no sense.
    Invalid,
    /// Any other errno (positive), or 0 when there was none (a socket or protocol failure).
    Other(i32),
}

impl KernelErrorKind {
    /// What an operator can do about it, when there is one thing to do.
    pub fn hint(self) -> Option<&'static str> {
        Some(match self {
            KernelErrorKind::NotSupported => {
                "the kernel lacks ESP or an algorithm: load the modules (modprobe esp4 esp6, and \
                 the cipher's, e.g. gcm or chacha20poly1305)"
            }
            KernelErrorKind::Permission => "changing IPsec state needs CAP_NET_ADMIN",
            KernelErrorKind::NoBuffer => "the kernel ran out of memory for this request",
            KernelErrorKind::Exists => {
                "an SA or policy with this selector is already installed (another IKE daemon?)"
            }
            _ => return None,
        })
    }
}

impl fmt::Display for KernelErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KernelErrorKind::NotSupported => f.write_str("not supported"),
            KernelErrorKind::Exists => f.write_str("exists"),
            KernelErrorKind::NotFound => f.write_str("not found"),
            KernelErrorKind::NoBuffer => f.write_str("out of memory"),
            KernelErrorKind::Permission => f.write_str("permission denied"),
            KernelErrorKind::Invalid => f.write_str("invalid"),
            KernelErrorKind::Other(errno) => write!(f, "errno {errno}"),
        }
    }
}

/// A kernel operation that failed: its class and the driver's full sentence for it (which names
/// the operation, the errno and the kernel's own extended-ack text). The base knows no netlink, so
/// the driver builds this from rswan-xfrm's error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelError {
    pub kind: KernelErrorKind,
    pub message: String,
}

impl KernelError {
    pub fn new(kind: KernelErrorKind, message: impl Into<String>) -> Self {
        KernelError {
            kind,
            message: message.into(),
        }
    }
}

/// The message alone, as the driver phrased it: the kind is for code, the words for people.
impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for KernelError {}

/// One ESP SA whose byte counters the core wants read ([`KernelEvent::Counters`]): for dead peer
/// detection, and for NAT keepalives (outbound ESP counts as sending to the peer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CounterQuery {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub spi: u32,
}
