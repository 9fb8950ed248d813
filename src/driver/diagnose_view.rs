//! Collects the evidence for `rswanctl diagnose CONN` from the core's status, the daemon's
//! memory (failures, IKE traffic per peer), the kernel's SA counters and /proc. Counters are
//! sampled twice, `sample` apart, without blocking the daemon loop: the first sample is taken when
//! the request arrives, the answer is built at the deadline.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::Daemon;
use rswan_ikev2::sa::status::{IkeAlgorithms, IkeSaStatus};

use crate::config::values::TsSpec;
use crate::config::Connection;
use crate::control::protocol::Outcome;
use crate::diagnose::memory::{FailureKind, FailureMemo, PeerTraffic};
use crate::diagnose::route::Route;
use crate::diagnose::{
    self, kernel_stats, route, source_nat, Cause, ChildDiag, Diagnosis, Failure, KernelDiag,
    Liveness, Mtu, Phase1, Reachability, Routing, SubnetRoute, Traffic,
};
use crate::status::Counters;

/// A peer silent for longer than this beyond dpd_delay is shown as dead (as in status).
const DEAD_AFTER: Duration = Duration::from_secs(165);
/// Longest sampling interval a client may ask for.
pub(super) const MAX_SAMPLE: Duration = Duration::from_secs(30);

/// Counters of the connection's Child SAs (by inbound SPI) and the kernel's XFRM statistics.
pub(super) struct Sample {
    at: Instant,
    children: HashMap<u32, Counters>,
    xfrm: Option<Vec<(String, u64)>>,
}

/// A diagnose request waiting for its second sample.
pub(super) struct Pending {
    pub conn: String,
    pub deadline: Instant,
    pub first: Sample,
    pub reply: oneshot::Sender<Outcome>,
}

pub(super) fn sample(d: &mut Daemon, now: Instant, conn: &str) -> Sample {
    let status = d.ep.status();
    let mut children = HashMap::new();
    for ike in status
        .connections
        .iter()
        .filter(|c| c.name == conn)
        .flat_map(|c| &c.ike_sas)
    {
        for c in &ike.children {
            // Inbound SA: addressed to us; outbound: to the peer.
            let dec = d.kernel.counters(ike.local.ip(), c.spi_in);
            let enc = d.kernel.counters(ike.remote.ip(), c.spi_out);
            if let (Some(dec), Some(enc)) = (dec, enc) {
                children.insert(
                    c.spi_in,
                    Counters {
                        dec_bytes: dec.bytes,
                        dec_packets: dec.packets,
                        enc_bytes: enc.bytes,
                        enc_packets: enc.packets,
                    },
                );
            }
        }
    }
    Sample {
        at: now,
        children,
        xfrm: kernel_stats::read(),
    }
}

fn failure_view(f: &FailureMemo, now: Instant) -> Failure {
    let mut view = Failure {
        cause: Cause::Other,
        message: f.message.clone(),
        peer: f.peer,
        secs_ago: now.saturating_duration_since(f.at).as_secs(),
        ..Default::default()
    };
    view.cause = match &f.kind {
        FailureKind::PskMismatch => Cause::PskMismatch,
        FailureKind::PeerRejectedAuth => Cause::PeerRejectedAuth,
        FailureKind::AuthFailed(_) => Cause::AuthFailed,
        FailureKind::ProposalMismatch {
            ike,
            parameter,
            ours,
            theirs,
        } => {
            view.parameter = parameter.clone();
            view.ours = ours.clone();
            view.theirs = theirs.clone();
            if *ike {
                Cause::IkeProposalMismatch
            } else {
                Cause::EspProposalMismatch
            }
        }
        FailureKind::PeerNoProposal { ike: true } => Cause::PeerNoProposalIke,
        FailureKind::PeerNoProposal { ike: false } => Cause::PeerNoProposalEsp,
        FailureKind::TsMismatch => Cause::TsMismatch,
        FailureKind::PfsMismatch { child, conflict } => {
            view.parameter = Some("PFS (KE group in esp_proposals)".to_owned());
            view.detail = Some(conflict.describe(child));
            Cause::PfsMismatch
        }
        FailureKind::NoConnection => Cause::NoMatchingConnection,
        FailureKind::Unreachable { retransmits, dpd } => {
            view.retransmits = Some(*retransmits);
            if *dpd {
                Cause::DpdTimeout
            } else {
                Cause::PeerUnreachable
            }
        }
        FailureKind::Kernel { kind } => {
            view.detail = kind.hint().map(str::to_owned);
            Cause::KernelRefused
        }
        FailureKind::Other => Cause::Other,
    };
    view
}

/// The newer of the connection's own failure and one recorded for its peer address (a responder
/// may fail before it knows which connection the peer wants).
fn newest_failure(
    d: &Daemon,
    conn: &str,
    configured_peer: Option<SocketAddr>,
    now: Instant,
) -> Option<Failure> {
    [
        d.memory.conn_failure(conn),
        configured_peer.and_then(|p| d.memory.peer_failure(p.ip())),
    ]
    .into_iter()
    .flatten()
    .max_by_key(|f| f.at)
    .map(|f| failure_view(f, now))
}

fn reachability(
    traffic: Option<&PeerTraffic>,
    peer: Option<SocketAddr>,
    failure: Option<&Failure>,
    now: Instant,
) -> Reachability {
    Reachability {
        peer: peer.map(|p| p.to_string()),
        replies_seen: traffic.is_some_and(|t| t.received > 0),
        reply_ports: traffic.map(|t| t.ports_seen.clone()).unwrap_or_default(),
        last_reply_secs: traffic
            .and_then(|t| t.last_received)
            .map(|(at, _, _)| now.saturating_duration_since(at).as_secs()),
        sent: traffic.map_or(0, |t| t.sent),
        received: traffic.map_or(0, |t| t.received),
        unanswered: traffic.map_or(0, |t| t.sent_since_reply),
        retransmits: failure.and_then(|f| f.retransmits),
    }
}

/// e.g. "AES_GCM_16_256/PRF_HMAC_SHA2_256/CURVE_25519".
fn algorithms_text(a: &IkeAlgorithms) -> String {
    let encr = match a.encr_keysize {
        Some(k) => format!("{}_{k}", a.encr),
        None => a.encr.clone(),
    };
    [
        Some(encr),
        a.integ.clone(),
        Some(a.prf.clone()),
        Some(a.dh_group.clone()),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join("/")
}

fn phase1(ike: Option<&IkeSaStatus>, last_failure: Option<Failure>) -> Phase1 {
    Phase1 {
        state: ike.map_or_else(|| "none".into(), |s| s.state.as_str().to_ascii_lowercase()),
        detail: ike.map(|s| s.detail.to_owned()),
        algorithms: ike.and_then(|s| s.algorithms.as_ref()).map(algorithms_text),
        nat_local: ike.and_then(|s| s.nat_local),
        nat_remote: ike.and_then(|s| s.nat_remote),
        last_failure,
    }
}

/// One entry per configured child, read from its newest Child SA and the two counter samples.
fn phase2(
    cfg: &Connection,
    ikes: &[&IkeSaStatus],
    first: Option<&Sample>,
    last: &Sample,
    now: Instant,
) -> Vec<ChildDiag> {
    cfg.children
        .iter()
        .map(|ch| {
            let sa = ikes
                .iter()
                .flat_map(|s| &s.children)
                .filter(|c| c.name == ch.name)
                .max_by_key(|c| c.unique_id);
            let mut v = ChildDiag {
                child: ch.name.clone(),
                state: "none".into(),
                remote_ts: ch.remote_ts.iter().map(ToString::to_string).collect(),
                traffic: Traffic::None,
                ..Default::default()
            };
            if let Some(c) = sa {
                v.state = c.state.as_str().to_ascii_lowercase();
                v.spi_in = Some(format!("{:08x}", c.spi_in));
                v.spi_out = Some(format!("{:08x}", c.spi_out));
                v.encap = c.encap;
                v.installed_secs = Some(now.saturating_duration_since(c.installed_at).as_secs());
                let before = first.and_then(|f| f.children.get(&c.spi_in));
                let after = last.children.get(&c.spi_in);
                let (t, r, delta) = diagnose::verdict::reading(before, after);
                v.counters = after.copied();
                v.delta = delta;
                v.traffic = t;
                v.reading = r;
            }
            v
        })
        .collect()
}

fn kernel(first: Option<&Sample>, last: &Sample) -> KernelDiag {
    match &last.xfrm {
        Some(x) => KernelDiag {
            available: true,
            counters: kernel_stats::explain(first.and_then(|f| f.xfrm.as_deref()), x),
        },
        None => KernelDiag::default(),
    }
}

/// nftables rules that rewrite the source of the connection's flows. Only with a Child SA up and
/// nothing moving: a NAT rule rewrites new connections from the LAN, so neither they nor their
/// answers use the SAs (answers to connections the peer started are not rewritten: dec-only is
/// not its sign). The only time nft is run.
fn source_nat_rules(
    cfg: &Connection,
    routes: &[(IpAddr, Route)],
    phase2: &[ChildDiag],
) -> Vec<String> {
    let enc_flat = phase2.iter().any(|c| {
        matches!(c.state.as_str(), "installed" | "rekeying" | "rekeyed") && c.traffic.is_flat()
    });
    if !enc_flat {
        return Vec::new();
    }
    let flows: Vec<source_nat::Flow> = cfg
        .children
        .iter()
        .flat_map(|ch| {
            ch.local_ts.iter().flat_map(move |l| {
                ch.remote_ts.iter().filter_map(move |r| {
                    let (TsSpec::Fixed(l), TsSpec::Fixed(r)) = (l, r) else {
                        return None;
                    };
                    Some(source_nat::Flow {
                        src: l.start,
                        dst: r.start,
                        oif: route::resolve(routes, r.start).map(|x| x.interface),
                    })
                })
            })
        })
        .collect();
    source_nat::read_ruleset()
        .map(|rs| source_nat::find(&rs, &flows))
        .unwrap_or_default()
}

fn routing(
    cfg: &Connection,
    routes: &[(IpAddr, Route)],
    peer_route: Option<&Route>,
    phase2: &[ChildDiag],
) -> Routing {
    let mut remote_subnets = Vec::new();
    for ch in &cfg.children {
        for ts in &ch.remote_ts {
            let TsSpec::Fixed(t) = ts else { continue };
            let r = route::resolve(routes, t.start);
            remote_subnets.push(SubnetRoute {
                subnet: ts.to_string(),
                route: r.is_some(),
                via_peer_interface: r
                    .as_ref()
                    .and_then(|r| peer_route.map(|p| p.interface == r.interface)),
                interface: r.map(|r| r.interface),
            });
        }
    }
    Routing {
        source_nat: source_nat_rules(cfg, routes, phase2),
        peer_interface: peer_route.map(|r| r.interface.clone()),
        peer_gateway: peer_route.and_then(|r| r.gateway).map(|g| g.to_string()),
        remote_subnets,
    }
}

fn mtu(peer_route: Option<&Route>, ike: Option<&IkeSaStatus>) -> Mtu {
    let path_mtu = peer_route.and_then(|r| {
        if r.mtu > 0 {
            Some(r.mtu)
        } else {
            route::interface_mtu(&r.interface)
        }
    });
    let ike_fragmentation = ike
        .filter(|s| s.algorithms.is_some())
        .map(|s| s.fragmentation);
    let mut note = match ike_fragmentation {
        Some(true) => "IKE fragmentation (RFC 7383) negotiated: large IKE messages are sent in fragments",
        Some(false) => "IKE fragmentation NOT negotiated (the peer did not announce it): IKE messages larger than the path MTU are IP-fragmented, and lost where fragments are dropped",
        None => "IKE fragmentation unknown (no IKE SA past IKE_SA_INIT); rswan announces it and uses it when the peer does too",
    }
    .to_owned();
    if path_mtu.is_some_and(|m| m < 1280) {
        note.push_str("; the MTU towards the peer is small: large IKE_AUTH messages need fragmentation, ESP packets may need a lower MSS");
    }
    Mtu {
        path_mtu,
        ike_fragmentation,
        note,
    }
}

fn liveness(
    cfg: &Connection,
    ike: Option<&IkeSaStatus>,
    phase1: &Phase1,
    now: Instant,
) -> Liveness {
    let silent = ike
        .and_then(|s| s.last_peer_message)
        .map(|t| now.saturating_duration_since(t));
    Liveness {
        dpd_delay_secs: cfg.dpd_delay.as_secs(),
        dpd_mode: serde_json::to_value(cfg.dpd_mode)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        last_peer_message_secs: silent.map(|s| s.as_secs()),
        peer: match (phase1.state.as_str(), silent) {
            ("established", Some(s)) if s > cfg.dpd_delay + DEAD_AFTER => "dead",
            ("established", _) => "alive",
            _ => "unknown",
        }
        .into(),
    }
}

pub(super) fn build(d: &mut Daemon, now: Instant, conn: &str, first: Option<&Sample>) -> Diagnosis {
    let last = sample(d, now, conn);
    let Some(cfg) = d.config.connection(conn).cloned() else {
        return Diagnosis {
            conn: conn.into(),
            verdict: "connection no longer configured".into(),
            cause: Cause::UnknownConnection,
            ..Default::default()
        };
    };
    let status = d.ep.status();
    let cs = status.connections.iter().find(|c| c.name == conn);
    let ikes: Vec<&IkeSaStatus> = cs.map(|c| c.ike_sas.iter().collect()).unwrap_or_default();
    // The established IKE SA is the evidence; otherwise the newest attempt.
    let ike = ikes
        .iter()
        .find(|s| s.state.as_str() == "ESTABLISHED")
        .or_else(|| ikes.last())
        .copied();

    let configured_peer = cfg
        .remote_host()
        .map(|ip| SocketAddr::new(ip, cfg.remote_port));
    let failure = newest_failure(d, conn, configured_peer, now);
    let peer: Option<SocketAddr> = ike
        .map(|s| s.remote)
        .or(configured_peer)
        .or_else(|| failure.as_ref().map(|f| f.peer));
    let traffic = peer.and_then(|p| d.memory.traffic(p.ip()));
    let reachability = reachability(traffic, peer, failure.as_ref(), now);
    let phase1 = phase1(ike, failure);
    let phase2 = phase2(&cfg, &ikes, first, &last, now);
    let routes = route::read();
    let peer_route = peer.and_then(|p| route::resolve(&routes, p.ip()));
    let routing = routing(&cfg, &routes, peer_route.as_ref(), &phase2);
    let elapsed = first.map(|f| now.saturating_duration_since(f.at));
    let mut out = Diagnosis {
        conn: conn.into(),
        sample_secs: elapsed.map_or(0.0, |e| (e.as_millis() as f64) / 1000.0),
        reachability,
        liveness: liveness(&cfg, ike, &phase1, now),
        phase1,
        phase2,
        kernel: kernel(first, &last),
        routing,
        mtu: mtu(peer_route.as_ref(), ike),
        ..Default::default()
    };
    let local_psk = cfg.local.auth == crate::config::AuthMethod::Psk;
    let (cause, verdict) = diagnose::verdict(&out, local_psk, &cfg.proposals.join(","));
    out.cause = cause;
    out.verdict = verdict;
    out
}

/// Whether a datagram we send expects an answer: an IKE request (Response flag clear in the
/// header's flags octet, RFC 7296 3.1). Responses and NAT keepalives (one octet) do not, so they
/// must not count as unanswered.
pub(super) fn expects_reply(bytes: &[u8]) -> bool {
    const FLAGS_OFFSET: usize = 19;
    const RESPONSE: u8 = 0x20;
    bytes.len() >= 28 && bytes.get(FLAGS_OFFSET).is_some_and(|f| f & RESPONSE == 0)
}
