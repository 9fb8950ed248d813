//! `rswanctl diagnose CONN`: the field troubleshooting workflow (reachability, Phase 1, Phase 2,
//! kernel drops, routing, MTU, liveness) as data, with a one-line verdict naming the most
//! specific cause found. The daemon fills a [`Diagnosis`] (src/driver/diagnose_view.rs); the
//! verdict and the text form are pure functions of it, so both are unit-tested here. The JSON
//! form is a stable interface (docs/json.md).

pub mod kernel_stats;
pub mod memory;
pub mod route;
pub mod source_nat;
pub mod verdict;

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};

use serde::{Deserialize, Serialize};

pub use kernel_stats::KernelCounter;
pub use verdict::verdict;

/// `rswanctl diagnose CONN --json`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Diagnosis {
    pub conn: String,
    /// One line: the most specific cause found.
    pub verdict: String,
    /// Machine-readable cause (see docs/json.md), e.g. `psk-mismatch`, `peer-unreachable`.
    pub cause: Cause,
    /// Seconds between the two counter samples (0: sampled once, no deltas).
    pub sample_secs: f64,
    pub reachability: Reachability,
    pub phase1: Phase1,
    pub phase2: Vec<ChildDiag>,
    pub kernel: KernelDiag,
    pub routing: Routing,
    pub mtu: Mtu,
    pub liveness: Liveness,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Reachability {
    /// The peer's address:port (the IKE SA's, else the configured one, else the last failure's).
    pub peer: Option<String>,
    /// Whether any IKE datagram came from the peer's address since the daemon started.
    pub replies_seen: bool,
    /// Source ports the peer's datagrams came from (500, 4500, ...).
    pub reply_ports: Vec<u16>,
    pub last_reply_secs: Option<u64>,
    pub sent: u64,
    pub received: u64,
    /// IKE requests sent to the peer since its last reply (the first try plus retransmissions).
    pub unanswered: u32,
    /// Retransmissions of the last attempt that gave up (from the failure), if any.
    pub retransmits: Option<u32>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Phase1 {
    /// none | connecting | established | deleting
    pub state: String,
    /// The core's exact state name (INIT_SENT, AUTH_SENT, ESTABLISHED, REKEYING, ...).
    pub detail: Option<String>,
    /// e.g. "AES_GCM_16_256/PRF_HMAC_SHA2_256/CURVE_25519".
    pub algorithms: Option<String>,
    /// NAT detected in front of us / the peer (NAT-D), when known.
    pub nat_local: Option<bool>,
    pub nat_remote: Option<bool>,
    pub last_failure: Option<Failure>,
}

/// The causes a diagnosis names, in the JSON as kebab-case strings (docs/json.md). A failure's
/// cause is one of the first group; the verdict maps the peer-side and DPD variants onto the
/// cause it reports and adds the evidence-based ones.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cause {
    PskMismatch,
    /// The peer sent AUTHENTICATION_FAILED.
    PeerRejectedAuth,
    AuthFailed,
    IkeProposalMismatch,
    EspProposalMismatch,
    /// The peer sent NO_PROPOSAL_CHOSEN (only it knows the failing parameter).
    PeerNoProposalIke,
    PeerNoProposalEsp,
    TsMismatch,
    NoMatchingConnection,
    PeerUnreachable,
    DpdTimeout,
    PfsMismatch,
    /// The kernel refused a Child SA or its policies (missing module, exhausted resources).
    KernelRefused,
    SourceNat,
    KernelDrops,
    NoRoute,
    EncAndDec,
    EncOnly,
    DecOnly,
    Idle,
    NoTraffic,
    /// A Child SA is up but its counters could not be read.
    Unknown,
    IkeOnly,
    Phase2Pending,
    Connecting,
    UnknownConnection,
    /// Also what an older or newer peer's unknown cause reads as.
    #[default]
    #[serde(other)]
    Other,
}

impl Cause {
    /// Failures of a Child SA negotiation: the IKE SA may be up while they explain Phase 2.
    pub fn is_phase2(self) -> bool {
        matches!(
            self,
            Cause::EspProposalMismatch
                | Cause::PeerNoProposalEsp
                | Cause::TsMismatch
                | Cause::PfsMismatch
                | Cause::KernelRefused
        )
    }
}

/// What a Child SA's counters say about its traffic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Traffic {
    EncAndDec,
    EncOnly,
    DecOnly,
    Idle,
    NoTraffic,
    /// Counters could not be read.
    Unknown,
    /// No Child SA.
    #[default]
    None,
}

impl Traffic {
    /// Nothing moved during the sample (or ever).
    pub fn is_flat(self) -> bool {
        matches!(self, Traffic::NoTraffic | Traffic::Idle)
    }
}

impl From<Traffic> for Cause {
    fn from(t: Traffic) -> Cause {
        match t {
            Traffic::EncAndDec => Cause::EncAndDec,
            Traffic::EncOnly => Cause::EncOnly,
            Traffic::DecOnly => Cause::DecOnly,
            Traffic::Idle => Cause::Idle,
            Traffic::NoTraffic => Cause::NoTraffic,
            Traffic::Unknown | Traffic::None => Cause::Unknown,
        }
    }
}

/// The last failed negotiation remembered for this connection (or its peer address).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    /// One of the failure causes of [`Cause`] (psk-mismatch ... pfs-mismatch, other).
    pub cause: Cause,
    /// The operator line as logged.
    pub message: String,
    pub peer: SocketAddr,
    pub secs_ago: u64,
    /// The first transform type without overlap (encryption, integrity, PRF, KE group, ESN).
    pub parameter: Option<String>,
    /// Our acceptable values and the peer's offer, for that parameter.
    pub ours: Vec<String>,
    pub theirs: Vec<String>,
    pub retransmits: Option<u32>,
    /// The core's words for the cause when they say more than the message (e.g. which side
    /// requires which PFS group).
    #[serde(default)]
    pub detail: Option<String>,
}

impl Default for Failure {
    fn default() -> Self {
        Failure {
            cause: Cause::Other,
            message: String::new(),
            peer: SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 0),
            secs_ago: 0,
            parameter: None,
            ours: Vec::new(),
            theirs: Vec::new(),
            retransmits: None,
            detail: None,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChildDiag {
    pub child: String,
    /// none | installing | installed | rekeying | rekeyed | deleting
    pub state: String,
    pub spi_in: Option<String>,
    pub spi_out: Option<String>,
    /// ESP in UDP (NAT-T or `encap: yes`).
    pub encap: bool,
    /// Seconds since this Child SA was installed (a failure younger than that happened to it,
    /// e.g. its rekey).
    #[serde(default)]
    pub installed_secs: Option<u64>,
    pub remote_ts: Vec<String>,
    /// Totals at the second sample.
    pub counters: Option<crate::status::Counters>,
    /// Rise between the samples.
    pub delta: Option<crate::status::Counters>,
    pub traffic: Traffic,
    /// What the counters say, in words.
    pub reading: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct KernelDiag {
    /// False when /proc/net/xfrm_stat could not be read.
    pub available: bool,
    /// Non-zero counters only.
    pub counters: Vec<KernelCounter>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Routing {
    /// Interface and gateway of the route to the peer (main table).
    pub peer_interface: Option<String>,
    pub peer_gateway: Option<String>,
    pub remote_subnets: Vec<SubnetRoute>,
    /// nftables NAT rules that rewrite the source of LAN-to-remote-subnet traffic after the
    /// IPsec policy matched (see source_nat.rs), as nft-like text.
    #[serde(default)]
    pub source_nat: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SubnetRoute {
    pub subnet: String,
    pub route: bool,
    pub interface: Option<String>,
    /// Whether that route leaves by the interface that reaches the peer.
    pub via_peer_interface: Option<bool>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Mtu {
    /// The MTU towards the peer: the route's, else the interface's.
    pub path_mtu: Option<u32>,
    /// IKE fragmentation (RFC 7383) negotiated on the IKE SA; `None` without an IKE SA past
    /// IKE_SA_INIT.
    #[serde(default)]
    pub ike_fragmentation: Option<bool>,
    pub note: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Liveness {
    /// 0 = DPD off.
    pub dpd_delay_secs: u64,
    /// on-demand | on-idle | disabled
    pub dpd_mode: String,
    pub last_peer_message_secs: Option<u64>,
    /// alive | dead | unknown
    pub peer: String,
}

fn secs(s: Option<u64>) -> String {
    s.map_or_else(|| "never".into(), |s| format!("{s}s ago"))
}

/// The text form: the verdict first, then the evidence in the workflow's order.
pub fn render(d: &Diagnosis) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "{}: {}", d.conn, d.verdict);
    render_reachability(&mut o, d);
    render_phase1(&mut o, d);
    render_phase2(&mut o, d);
    render_kernel(&mut o, d);
    render_routing(&mut o, d);
    render_mtu_liveness(&mut o, d);
    o
}

fn render_reachability(o: &mut String, d: &Diagnosis) {
    let r = &d.reachability;
    let peer = r.peer.as_deref().unwrap_or("unknown");
    let _ = write!(o, "  reachability: peer {peer}; ");
    if r.replies_seen {
        let ports: Vec<String> = r.reply_ports.iter().map(ToString::to_string).collect();
        let _ = write!(
            o,
            "IKE replies seen from port {} (last {})",
            ports.join(", "),
            secs(r.last_reply_secs)
        );
    } else {
        o.push_str("no IKE reply seen");
    }
    let _ = write!(
        o,
        "; {} sent, {} received, {} unanswered",
        r.sent, r.received, r.unanswered
    );
    if let Some(n) = r.retransmits {
        let _ = write!(o, "; last attempt gave up after {n} retransmits");
    }
    o.push('\n');
}

fn render_phase1(o: &mut String, d: &Diagnosis) {
    let p = &d.phase1;
    let _ = write!(o, "  phase 1: IKE SA {}", p.state);
    if let Some(x) = &p.detail {
        let _ = write!(o, " ({x})");
    }
    if let Some(a) = &p.algorithms {
        let _ = write!(o, ", {a}");
    }
    match (p.nat_local, p.nat_remote) {
        (Some(true), _) | (_, Some(true)) => {
            let _ = write!(
                o,
                ", NAT: {}",
                match (p.nat_local == Some(true), p.nat_remote == Some(true)) {
                    (true, true) => "both sides",
                    (true, false) => "in front of us",
                    _ => "in front of the peer",
                }
            );
        }
        _ => {}
    }
    o.push('\n');
    if let Some(f) = &p.last_failure {
        let _ = writeln!(
            o,
            "    last failure {}s ago with {}: {}",
            f.secs_ago, f.peer, f.message
        );
        if let (Some(param), Some(detail)) = (&f.parameter, &f.detail) {
            let _ = writeln!(o, "    parameter: {param}: {detail}");
        } else if let Some(param) = &f.parameter {
            let _ = writeln!(
                o,
                "    parameter: {param}; peer offered {}; we accept {}",
                list(&f.theirs),
                list(&f.ours)
            );
        }
    }
}

fn render_phase2(o: &mut String, d: &Diagnosis) {
    if d.phase2.is_empty() {
        o.push_str("  phase 2: no children configured\n");
    }
    for c in &d.phase2 {
        let _ = write!(o, "  phase 2: {}: {}", c.child, c.state);
        if let (Some(i), Some(out)) = (&c.spi_in, &c.spi_out) {
            let _ = write!(o, ", SPIs {i}_i {out}_o");
        }
        if c.encap {
            o.push_str(", ESP in UDP");
        }
        if let Some(n) = &c.counters {
            let _ = write!(
                o,
                ", enc {} pkts, dec {} pkts",
                n.enc_packets, n.dec_packets
            );
            if let Some(dl) = &c.delta {
                let _ = write!(
                    o,
                    " (+{} / +{} in {:.1}s)",
                    dl.enc_packets, dl.dec_packets, d.sample_secs
                );
            }
        }
        if !c.reading.is_empty() {
            let _ = write!(o, ": {}", c.reading);
        }
        o.push('\n');
    }
}

fn render_kernel(o: &mut String, d: &Diagnosis) {
    if !d.kernel.available {
        o.push_str("  kernel: /proc/net/xfrm_stat not readable\n");
    } else if d.kernel.counters.is_empty() {
        o.push_str("  kernel: no XFRM drops counted\n");
    } else {
        o.push_str("  kernel:\n");
        for k in &d.kernel.counters {
            let delta = k.delta.map(|x| format!(" (+{x})")).unwrap_or_default();
            let _ = writeln!(o, "    {} {}{delta}: {}", k.name, k.value, k.meaning);
        }
    }
}

fn render_routing(o: &mut String, d: &Diagnosis) {
    let rt = &d.routing;
    let _ = write!(
        o,
        "  routing: peer via {}",
        rt.peer_interface.as_deref().unwrap_or("no route")
    );
    if let Some(g) = &rt.peer_gateway {
        let _ = write!(o, " (gateway {g})");
    }
    for s in &rt.remote_subnets {
        match (&s.interface, s.via_peer_interface) {
            (Some(i), Some(true)) => {
                let _ = write!(o, "; {} via {i} (towards the peer)", s.subnet);
            }
            (Some(i), _) => {
                let _ = write!(o, "; {} via {i}, NOT the peer's interface", s.subnet);
            }
            (None, _) => {
                let _ = write!(o, "; {}: no route", s.subnet);
            }
        }
    }
    for r in &rt.source_nat {
        let _ = write!(o, "; source NAT on the tunnel's traffic: {r}");
    }
    o.push('\n');
}

fn render_mtu_liveness(o: &mut String, d: &Diagnosis) {
    let _ = write!(o, "  mtu: ");
    if let Some(m) = d.mtu.path_mtu {
        let _ = write!(o, "{m} towards the peer; ");
    }
    let _ = writeln!(o, "{}", d.mtu.note);
    let l = &d.liveness;
    if l.dpd_delay_secs == 0 {
        o.push_str("  liveness: DPD off");
    } else {
        let _ = write!(
            o,
            "  liveness: DPD every {}s ({})",
            l.dpd_delay_secs, l.dpd_mode
        );
    }
    let _ = writeln!(
        o,
        "; last message from the peer {}; peer {}",
        secs(l.last_peer_message_secs),
        l.peer
    );
}

fn list(v: &[String]) -> String {
    if v.is_empty() {
        "nothing".into()
    } else {
        v.join(", ")
    }
}
