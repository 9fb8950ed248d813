//! Error types: refused before the kernel (`Invalid`), refused by the kernel (`KernelError`),
//! malformed kernel messages (`DecodeError`), and socket failures.

use std::fmt;
use std::net::IpAddr;

use crate::model::{Prefix, Selector};

/// A request that makes no sense, caught before anything is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalid {
    KeyLength {
        alg: &'static str,
        got: usize,
        expected: &'static [usize],
    },
    IcvLength {
        alg: &'static str,
        got: u32,
        expected: &'static [u32],
    },
    MixedFamilies {
        what: &'static str,
    },
    UnspecifiedEndpoint,
    ReservedSpi(u32),
    ForeignReqid(u32),
    ReplayWindowTooLarge(u32),
    EsnWithoutReplayWindow,
    ZeroEncapPort,
    ZeroLifetime {
        what: &'static str,
    },
    SoftAfterHard {
        what: &'static str,
        soft: u64,
        hard: u64,
    },
    ZeroIfId,
    MarkOutsideMask {
        value: u32,
        mask: u32,
    },
    PrefixTooLong {
        prefix: Prefix,
        max: u8,
    },
    HostBitsSet {
        prefix: Prefix,
    },
    PortsWithoutPortProtocol {
        proto: Option<u8>,
    },
    TransportSelectorNotEndpoints {
        selector: Selector,
        src: IpAddr,
        dst: IpAddr,
    },
    BadSpiRange {
        lo: u32,
        hi: u32,
    },
    BlockWithTemplates,
    TooManyTemplates(usize),
    TunnelWithoutEndpoints,
    TransportWithEndpoints {
        src: IpAddr,
        dst: IpAddr,
    },
    HashThreshold {
        bits: u8,
        max: u8,
    },
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Invalid::*;
        match self {
            KeyLength { alg, got, expected } => write!(
                f,
                "key for {alg} is {got} bytes, but it must be one of {expected:?} bytes"
            ),
            IcvLength { alg, got, expected } => write!(
                f,
                "ICV length {got} bits is not valid for {alg}; use one of {expected:?}"
            ),
            MixedFamilies { what } => write!(f, "{what} mix IPv4 and IPv6"),
            UnspecifiedEndpoint => f.write_str("an SA or tunnel endpoint is the unspecified address"),
            ReservedSpi(s) => write!(f, "SPI {s:#x} is reserved (SPIs below 256 are not usable)"),
            ForeignReqid(r) => write!(
                f,
                "reqid {r:#x} is outside rswan's range; allocate it with ownership::reqid() so \
                 rswan can tell its state from other daemons'"
            ),
            ReplayWindowTooLarge(w) => write!(
                f,
                "replay window {w} exceeds the kernel's maximum of {}",
                crate::model::MAX_REPLAY_WINDOW
            ),
            EsnWithoutReplayWindow => f.write_str(
                "ESN needs a replay window of at least 1 (the kernel keeps ESN state in it)",
            ),
            ZeroEncapPort => f.write_str("UDP encapsulation needs non-zero source and destination ports"),
            ZeroLifetime { what } => write!(
                f,
                "a lifetime of 0 {what} would expire at once; use None for unlimited"
            ),
            SoftAfterHard { what, soft, hard } => write!(
                f,
                "soft lifetime ({soft} {what}) is later than hard lifetime ({hard} {what}), so \
                 the SA would be deleted before rekeying starts"
            ),
            ZeroIfId => f.write_str("if_id 0 means no interface; use None instead"),
            MarkOutsideMask { value, mask } => write!(
                f,
                "mark value {value:#x} has bits outside mask {mask:#x}, so it can never match"
            ),
            PrefixTooLong { prefix, max } => {
                write!(f, "prefix {prefix} is longer than {max} bits")
            }
            HostBitsSet { prefix } => write!(
                f,
                "prefix {prefix} has host bits set; write the network address"
            ),
            PortsWithoutPortProtocol { proto } => match proto {
                None => f.write_str("a selector with ports needs a protocol (TCP, UDP, SCTP, DCCP or UDP-Lite)"),
                Some(p) => write!(f, "protocol {p} has no ports, but the selector names a port"),
            },
            TransportSelectorNotEndpoints { selector, src, dst } => write!(
                f,
                "transport-mode SA {src} -> {dst} has selector {} -> {}: in transport mode the \
                 selector must be the endpoints themselves (tunnel endpoints need tunnel mode)",
                selector.src, selector.dst
            ),
            BadSpiRange { lo, hi } => write!(
                f,
                "SPI range {lo:#x}..={hi:#x} is empty or starts below 256"
            ),
            BlockWithTemplates => f.write_str("a block policy drops traffic, so templates make no sense on it"),
            TooManyTemplates(n) => write!(
                f,
                "{n} templates on one policy; the kernel allows at most {}",
                crate::model::MAX_TEMPLATES
            ),
            HashThreshold { bits, max } => write!(
                f,
                "policy hash threshold of {bits} bits exceeds the address length ({max})"
            ),
            TunnelWithoutEndpoints => f.write_str("a tunnel-mode template needs tunnel endpoints"),
            TransportWithEndpoints { src, dst } => write!(
                f,
                "transport-mode template names tunnel endpoints {src} -> {dst}; use tunnel mode or drop them"
            ),
        }
    }
}

impl std::error::Error for Invalid {}

/// What rswan asked the kernel to do when it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    AllocSpi,
    AddSa,
    UpdateSa,
    DeleteSa,
    GetSa,
    ListSas,
    AddPolicy,
    UpdatePolicy,
    DeletePolicy,
    ListPolicies,
    SetPolicyHashThresholds,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Operation::AllocSpi => "allocate SPI",
            Operation::AddSa => "add SA",
            Operation::UpdateSa => "update SA",
            Operation::DeleteSa => "delete SA",
            Operation::GetSa => "read SA",
            Operation::ListSas => "list SAs",
            Operation::AddPolicy => "add policy",
            Operation::UpdatePolicy => "update policy",
            Operation::DeletePolicy => "delete policy",
            Operation::ListPolicies => "list policies",
            Operation::SetPolicyHashThresholds => "set policy hash thresholds",
        })
    }
}

/// The kernel refused a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelError {
    pub op: Operation,
    /// Positive errno value.
    pub errno: i32,
    /// The kernel's own extended-ack text, when it sent one.
    pub kernel_message: Option<String>,
}

impl KernelError {
    /// True for "no such SA/policy" (ENOENT or ESRCH, depending on the message type).
    pub fn is_not_found(&self) -> bool {
        self.errno == libc::ENOENT || self.errno == libc::ESRCH
    }

    pub fn is_exists(&self) -> bool {
        self.errno == libc::EEXIST
    }

    /// A sentence for an operator: what went wrong in terms of IPsec, not errno.
    pub fn explanation(&self) -> String {
        let sa_op = matches!(
            self.op,
            Operation::AddSa | Operation::UpdateSa | Operation::AllocSpi
        );
        let msg = self.kernel_message.as_deref().unwrap_or("");
        match self.errno {
            libc::EPROTONOSUPPORT if sa_op => "the kernel has no ESP support (esp4/esp6 is not \
                built in and the module is not loaded), so it cannot hold ESP SAs"
                .into(),
            libc::ENOSYS if sa_op && msg.contains("AEAD") => "the kernel lacks the requested AEAD \
                algorithm (its crypto module, e.g. gcm or chacha20poly1305, is not available)"
                .into(),
            libc::ENOSYS if sa_op && msg.contains("encryption") => "the kernel lacks the \
                requested encryption algorithm (crypto module not available)"
                .into(),
            libc::ENOSYS if sa_op && msg.contains("auth") => "the kernel lacks the requested \
                integrity algorithm (crypto module not available)"
                .into(),
            libc::ENOSYS if sa_op => {
                "the kernel lacks a requested algorithm or feature (crypto module not available)"
                    .into()
            }
            libc::EEXIST if sa_op => "an SA with this destination, SPI and mark already exists \
                (a fresh SPI from alloc_spi must be installed with update_sa)"
                .into(),
            libc::EEXIST => "a policy with this selector, direction and mark already exists".into(),
            libc::ENOENT | libc::ESRCH => match self.op {
                Operation::DeletePolicy | Operation::UpdatePolicy => {
                    "no such policy in the kernel".into()
                }
                _ => "no such SA in the kernel".into(),
            },
            libc::EPERM | libc::EACCES => {
                "permission denied: changing IPsec state needs CAP_NET_ADMIN".into()
            }
            libc::ENOBUFS | libc::ENOMEM => "the kernel ran out of memory for this request".into(),
            libc::EINVAL => {
                "the kernel rejected the request as invalid (an unsupported combination of \
                 attributes for this kernel)"
                    .into()
            }
            libc::EAFNOSUPPORT => {
                "the kernel has no support for this address family in IPsec".into()
            }
            _ => format!(
                "the kernel refused the request ({})",
                std::io::Error::from_raw_os_error(self.errno)
            ),
        }
    }
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed: {}", self.op, self.explanation())?;
        write!(f, " (errno {}", self.errno)?;
        if let Some(m) = &self.kernel_message {
            write!(f, ", kernel says \"{m}\"")?;
        }
        f.write_str(")")
    }
}

impl std::error::Error for KernelError {}

/// A kernel message that does not have the shape its type promises.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// `what` needs `need` bytes, only `got` are there.
    Truncated {
        what: &'static str,
        need: usize,
        got: usize,
    },
    /// A length field that points outside its buffer or below its own header.
    BadLength { what: &'static str, len: usize },
    /// A field value the kernel never sends (e.g. a family other than AF_INET/AF_INET6).
    BadValue { what: &'static str, value: u64 },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated { what, need, got } => {
                write!(f, "truncated {what}: need {need} bytes, got {got}")
            }
            DecodeError::BadLength { what, len } => write!(f, "bad length {len} in {what}"),
            DecodeError::BadValue { what, value } => write!(f, "unexpected {what} value {value}"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Everything a `Kernel` call can fail with.
#[derive(Debug)]
pub enum Error {
    Invalid(Invalid),
    Kernel(KernelError),
    Decode(DecodeError),
    Io(std::io::Error),
    /// The kernel answered with something other than what the request asks for.
    Protocol(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Invalid(e) => write!(f, "invalid request: {e}"),
            Error::Kernel(e) => e.fmt(f),
            Error::Decode(e) => write!(f, "malformed kernel message: {e}"),
            Error::Io(e) => write!(f, "netlink socket error: {e}"),
            Error::Protocol(s) => write!(f, "unexpected netlink answer: {s}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Invalid(e) => Some(e),
            Error::Kernel(e) => Some(e),
            Error::Decode(e) => Some(e),
            Error::Io(e) => Some(e),
            Error::Protocol(_) => None,
        }
    }
}

impl From<Invalid> for Error {
    fn from(e: Invalid) -> Self {
        Error::Invalid(e)
    }
}
impl From<KernelError> for Error {
    fn from(e: KernelError) -> Self {
        Error::Kernel(e)
    }
}
impl From<DecodeError> for Error {
    fn from(e: DecodeError) -> Self {
        Error::Decode(e)
    }
}
impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e)
    }
}
