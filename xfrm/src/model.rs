//! Typed model of what rswan installs: SAs and policies, and their validation.
//!
//! Every request goes through `validate()` before it is encoded, so nonsense is refused with a
//! sentence naming the field instead of an EINVAL from the kernel.

use std::fmt;
use std::net::IpAddr;

use zeroize::Zeroizing;

use crate::algorithms::{AeadAlg, AuthAlg, EncAlg};
use crate::error::Invalid;
use crate::ownership;

/// IP protocol numbers used in selectors.
pub mod proto {
    pub const ICMP: u8 = 1;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const DCCP: u8 = 33;
    pub const ESP: u8 = 50;
    pub const ICMPV6: u8 = 58;
    pub const SCTP: u8 = 132;
    pub const UDPLITE: u8 = 136;
}

/// Address family of an SA or selector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub fn of(addr: &IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }
    pub(crate) fn af(self) -> u16 {
        match self {
            Family::V4 => libc::AF_INET as u16,
            Family::V6 => libc::AF_INET6 as u16,
        }
    }
    pub(crate) fn max_prefix(self) -> u8 {
        match self {
            Family::V4 => 32,
            Family::V6 => 128,
        }
    }
}

/// IPsec mode of an SA or template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    Transport,
    Tunnel,
}

impl Mode {
    pub(crate) fn to_kernel(self) -> u8 {
        match self {
            Mode::Transport => 0,
            Mode::Tunnel => 1,
        }
    }
    pub(crate) fn from_kernel(v: u8) -> Option<Mode> {
        match v {
            0 => Some(Mode::Transport),
            1 => Some(Mode::Tunnel),
            _ => None,
        }
    }
}

/// Secret keying material; wiped on drop and never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Key(Zeroizing<Vec<u8>>);

impl Key {
    pub fn new(bytes: Vec<u8>) -> Key {
        Key(Zeroizing::new(bytes))
    }
    pub fn from_slice(bytes: &[u8]) -> Key {
        Key(Zeroizing::new(bytes.to_vec()))
    }
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key(<{} bytes redacted>)", self.0.len())
    }
}

/// The cryptographic transform of an ESP SA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Crypto {
    Aead {
        alg: AeadAlg,
        key: Key,
        icv_bits: u32,
    },
    EncAuth {
        enc: EncAlg,
        enc_key: Key,
        auth: AuthAlg,
        auth_key: Key,
    },
}

impl Crypto {
    fn validate(&self) -> Result<(), Invalid> {
        match self {
            Crypto::Aead { alg, key, icv_bits } => {
                if !alg.key_lengths().contains(&key.len()) {
                    return Err(Invalid::KeyLength {
                        alg: alg.kernel_name(),
                        got: key.len(),
                        expected: alg.key_lengths(),
                    });
                }
                if !alg.icv_bits().contains(icv_bits) {
                    return Err(Invalid::IcvLength {
                        alg: alg.kernel_name(),
                        got: *icv_bits,
                        expected: alg.icv_bits(),
                    });
                }
            }
            Crypto::EncAuth {
                enc,
                enc_key,
                auth,
                auth_key,
            } => {
                if !enc.key_lengths().contains(&enc_key.len()) {
                    return Err(Invalid::KeyLength {
                        alg: enc.kernel_name(),
                        got: enc_key.len(),
                        expected: enc.key_lengths(),
                    });
                }
                if !auth.key_lengths().contains(&auth_key.len()) {
                    return Err(Invalid::KeyLength {
                        alg: auth.kernel_name(),
                        got: auth_key.len(),
                        expected: auth.key_lengths(),
                    });
                }
            }
        }
        Ok(())
    }
}

/// UDP encapsulation of ESP (RFC 3948), as set on the SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UdpEncap {
    pub src_port: u16,
    pub dst_port: u16,
    /// Original address of the peer before NAT (used by the kernel for transport-mode checksum
    /// fix-ups); usually `None`.
    pub original_address: Option<IpAddr>,
}

/// One set of lifetime limits; `None` means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Limits {
    pub seconds: Option<u64>,
    pub bytes: Option<u64>,
    pub packets: Option<u64>,
}

/// Soft (rekey) and hard (delete) lifetimes of an SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Lifetimes {
    pub soft: Limits,
    pub hard: Limits,
}

impl Lifetimes {
    fn validate(&self) -> Result<(), Invalid> {
        let pairs = [
            ("seconds", self.soft.seconds, self.hard.seconds),
            ("bytes", self.soft.bytes, self.hard.bytes),
            ("packets", self.soft.packets, self.hard.packets),
        ];
        for (what, soft, hard) in pairs {
            if soft == Some(0) || hard == Some(0) {
                return Err(Invalid::ZeroLifetime { what });
            }
            if let (Some(s), Some(h)) = (soft, hard) {
                if s > h {
                    return Err(Invalid::SoftAfterHard {
                        what,
                        soft: s,
                        hard: h,
                    });
                }
            }
        }
        Ok(())
    }
}

/// Firewall mark match (`value` under `mask`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Mark {
    pub value: u32,
    pub mask: u32,
}

impl Mark {
    fn validate(&self) -> Result<(), Invalid> {
        if self.value & !self.mask != 0 {
            return Err(Invalid::MarkOutsideMask {
                value: self.value,
                mask: self.mask,
            });
        }
        Ok(())
    }
}

/// An address prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Prefix {
    pub addr: IpAddr,
    pub len: u8,
}

impl Prefix {
    pub fn new(addr: IpAddr, len: u8) -> Prefix {
        Prefix { addr, len }
    }
    /// A single host (/32 or /128).
    pub fn host(addr: IpAddr) -> Prefix {
        Prefix {
            addr,
            len: Family::of(&addr).max_prefix(),
        }
    }
    pub fn family(&self) -> Family {
        Family::of(&self.addr)
    }
    fn validate(&self) -> Result<(), Invalid> {
        let max = self.family().max_prefix();
        if self.len > max {
            return Err(Invalid::PrefixTooLong { prefix: *self, max });
        }
        let host_bits_set = match self.addr {
            IpAddr::V4(a) => {
                let v = u32::from(a);
                self.len < 32 && v & (u32::MAX >> self.len) != 0
            }
            IpAddr::V6(a) => {
                let v = u128::from(a);
                self.len < 128 && v & (u128::MAX >> self.len) != 0
            }
        };
        if host_bits_set {
            return Err(Invalid::HostBitsSet { prefix: *self });
        }
        Ok(())
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// Traffic selector: which packets an SA or policy applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Selector {
    pub src: Prefix,
    pub dst: Prefix,
    /// IP protocol; `None` for any.
    pub proto: Option<u8>,
    /// Source port (exact), only with TCP, UDP, SCTP, DCCP or UDP-Lite.
    pub src_port: Option<u16>,
    pub dst_port: Option<u16>,
}

impl Selector {
    /// All traffic between two prefixes.
    pub fn between(src: Prefix, dst: Prefix) -> Selector {
        Selector {
            src,
            dst,
            proto: None,
            src_port: None,
            dst_port: None,
        }
    }
    pub fn family(&self) -> Family {
        self.src.family()
    }
    pub fn validate(&self) -> Result<(), Invalid> {
        self.src.validate()?;
        self.dst.validate()?;
        if self.src.family() != self.dst.family() {
            return Err(Invalid::MixedFamilies {
                what: "selector source and destination",
            });
        }
        if self.src_port.is_some() || self.dst_port.is_some() {
            let with_ports = [
                proto::TCP,
                proto::UDP,
                proto::SCTP,
                proto::DCCP,
                proto::UDPLITE,
            ];
            match self.proto {
                Some(p) if with_ports.contains(&p) => {}
                other => return Err(Invalid::PortsWithoutPortProtocol { proto: other }),
            }
        }
        Ok(())
    }
}

/// The key the kernel uses to find an SA: destination, SPI, protocol (always ESP here), mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SaId {
    pub dst: IpAddr,
    pub spi: u32,
    pub mark: Option<Mark>,
}

/// An ESP SA to install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sa {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// SPI in host order.
    pub spi: u32,
    /// Must come from [`crate::ownership::reqid`] so that `flush_owned` recognises the SA.
    pub reqid: u32,
    pub mode: Mode,
    pub crypto: Crypto,
    /// Anti-replay window in packets; 0 disables it (outbound SAs).
    pub replay_window: u32,
    /// Extended sequence numbers (RFC 4303).
    pub esn: bool,
    pub encap: Option<UdpEncap>,
    pub lifetimes: Lifetimes,
    pub if_id: Option<u32>,
    pub mark: Option<Mark>,
    /// Traffic the SA carries; required in transport mode only when narrowing below the host pair.
    pub selector: Option<Selector>,
    /// Sequence number of the ACQUIRE this (outbound) SA answers (`xfrm_usersa_info.seq`): the
    /// kernel then replaces its larval state for that ACQUIRE with this SA at once instead of
    /// keeping it until `xfrm_acq_expires`. `None` (sent as 0) for every other SA.
    pub acquire_seq: Option<u32>,
}

/// Largest anti-replay window the kernel accepts (XFRMA_REPLAY_ESN_MAX bits).
pub const MAX_REPLAY_WINDOW: u32 = 4096;

impl Sa {
    pub fn id(&self) -> SaId {
        SaId {
            dst: self.dst,
            spi: self.spi,
            mark: self.mark,
        }
    }

    pub fn family(&self) -> Family {
        Family::of(&self.dst)
    }

    pub fn validate(&self) -> Result<(), Invalid> {
        if Family::of(&self.src) != Family::of(&self.dst) {
            return Err(Invalid::MixedFamilies {
                what: "SA source and destination",
            });
        }
        if self.src.is_unspecified() || self.dst.is_unspecified() {
            return Err(Invalid::UnspecifiedEndpoint);
        }
        // RFC 4303 2.1: 0 is reserved for local use, 1..=255 reserved by IANA.
        if self.spi < 256 {
            return Err(Invalid::ReservedSpi(self.spi));
        }
        if !ownership::is_owned_reqid(self.reqid) {
            return Err(Invalid::ForeignReqid(self.reqid));
        }
        self.crypto.validate()?;
        if self.replay_window > MAX_REPLAY_WINDOW {
            return Err(Invalid::ReplayWindowTooLarge(self.replay_window));
        }
        if self.esn && self.replay_window == 0 {
            return Err(Invalid::EsnWithoutReplayWindow);
        }
        if let Some(e) = &self.encap {
            if e.src_port == 0 || e.dst_port == 0 {
                return Err(Invalid::ZeroEncapPort);
            }
            if let Some(oa) = e.original_address {
                if Family::of(&oa) != self.family() {
                    return Err(Invalid::MixedFamilies {
                        what: "UDP encapsulation original address and SA",
                    });
                }
            }
        }
        self.lifetimes.validate()?;
        if self.if_id == Some(0) {
            return Err(Invalid::ZeroIfId);
        }
        if let Some(m) = &self.mark {
            m.validate()?;
        }
        if let Some(sel) = &self.selector {
            sel.validate()?;
            if self.mode == Mode::Tunnel && sel.family() != self.family() {
                // Cross-family tunnels work in the kernel, but rswan's policies never ask for
                // them; refusing keeps a typo from installing a useless SA.
                return Err(Invalid::MixedFamilies {
                    what: "tunnel-mode SA selector and endpoints",
                });
            }
            if self.mode == Mode::Transport
                && (sel.src.addr != self.src
                    || sel.dst.addr != self.dst
                    || sel.src.len != sel.family().max_prefix()
                    || sel.dst.len != sel.family().max_prefix())
            {
                return Err(Invalid::TransportSelectorNotEndpoints {
                    selector: *sel,
                    src: self.src,
                    dst: self.dst,
                });
            }
        }
        Ok(())
    }
}

/// Request for a fresh SPI for an inbound SA (XFRM_MSG_ALLOCSPI).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpiRequest {
    /// Peer (source of the inbound traffic).
    pub src: IpAddr,
    /// Local address (destination of the inbound SA).
    pub dst: IpAddr,
    pub reqid: u32,
    pub mode: Mode,
    pub mark: Option<Mark>,
    pub if_id: Option<u32>,
    /// SPI range; `None` means 256..=u32::MAX.
    pub range: Option<(u32, u32)>,
}

impl SpiRequest {
    pub fn validate(&self) -> Result<(), Invalid> {
        if Family::of(&self.src) != Family::of(&self.dst) {
            return Err(Invalid::MixedFamilies {
                what: "SPI request source and destination",
            });
        }
        if !ownership::is_owned_reqid(self.reqid) {
            return Err(Invalid::ForeignReqid(self.reqid));
        }
        if let Some((lo, hi)) = self.range {
            if lo < 256 || lo > hi {
                return Err(Invalid::BadSpiRange { lo, hi });
            }
        }
        if self.if_id == Some(0) {
            return Err(Invalid::ZeroIfId);
        }
        if let Some(m) = &self.mark {
            m.validate()?;
        }
        Ok(())
    }
}

/// Direction a policy applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    In,
    Out,
    Fwd,
}

impl Direction {
    pub(crate) fn to_kernel(self) -> u8 {
        match self {
            Direction::In => 0,
            Direction::Out => 1,
            Direction::Fwd => 2,
        }
    }
    pub(crate) fn from_kernel(v: u8) -> Option<Direction> {
        match v {
            0 => Some(Direction::In),
            1 => Some(Direction::Out),
            2 => Some(Direction::Fwd),
            _ => None,
        }
    }
}

/// What a policy does with matching traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Let it pass: through the templates' SAs if there are templates, in the clear if not.
    Allow,
    /// Drop it.
    Block,
}

/// One transform a policy requires ("tmpl" in `ip xfrm`). Always ESP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Template {
    pub mode: Mode,
    /// Tunnel endpoints (source, destination); must be `None` in transport mode.
    pub endpoints: Option<(IpAddr, IpAddr)>,
    /// Must come from [`crate::ownership::reqid`].
    pub reqid: u32,
    /// Optional templates let traffic pass without this transform (used only for IPComp).
    pub optional: bool,
}

/// Most templates the kernel accepts on one policy (XFRM_MAX_DEPTH).
pub const MAX_TEMPLATES: usize = 6;

/// Key the kernel uses to find a policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PolicyId {
    pub selector: Selector,
    pub direction: Direction,
    pub mark: Option<Mark>,
    pub if_id: Option<u32>,
}

/// A security policy to install.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Policy {
    pub selector: Selector,
    pub direction: Direction,
    pub priority: u32,
    pub action: Action,
    pub templates: Vec<Template>,
    pub if_id: Option<u32>,
    pub mark: Option<Mark>,
}

impl Policy {
    pub fn id(&self) -> PolicyId {
        PolicyId {
            selector: self.selector,
            direction: self.direction,
            mark: self.mark,
            if_id: self.if_id,
        }
    }

    pub fn validate(&self) -> Result<(), Invalid> {
        self.selector.validate()?;
        if self.action == Action::Block && !self.templates.is_empty() {
            return Err(Invalid::BlockWithTemplates);
        }
        if self.templates.len() > MAX_TEMPLATES {
            return Err(Invalid::TooManyTemplates(self.templates.len()));
        }
        for t in &self.templates {
            if !ownership::is_owned_reqid(t.reqid) {
                return Err(Invalid::ForeignReqid(t.reqid));
            }
            match (t.mode, t.endpoints) {
                (Mode::Tunnel, None) => return Err(Invalid::TunnelWithoutEndpoints),
                (Mode::Transport, Some((s, d))) => {
                    return Err(Invalid::TransportWithEndpoints { src: s, dst: d })
                }
                (Mode::Tunnel, Some((s, d))) => {
                    if Family::of(&s) != Family::of(&d) {
                        return Err(Invalid::MixedFamilies {
                            what: "template tunnel endpoints",
                        });
                    }
                    if s.is_unspecified() || d.is_unspecified() {
                        return Err(Invalid::UnspecifiedEndpoint);
                    }
                }
                (Mode::Transport, None) => {}
            }
        }
        if self.if_id == Some(0) {
            return Err(Invalid::ZeroIfId);
        }
        if let Some(m) = &self.mark {
            m.validate()?;
        }
        Ok(())
    }
}
