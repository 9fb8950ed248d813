//! Builds the control socket's status snapshot from the core's status, the configuration and the
//! kernel's SA counters.

use std::time::{Duration, Instant};

use rswan_ikev2::sa::status::{ChildSaStatus, IkeSaStatus, Status as CoreStatus};

use super::Daemon;
use crate::config::Connection;
use crate::status::{
    Algorithms, ChildStatus, ConnStatus, Counters, DaemonInfo, IkeSaStatus as IkeView, Status,
};

/// A peer that has not been heard from for this long, beyond the DPD interval, is shown as dead:
/// by then every retransmission of a liveness check (4 s x 1.8^n, 5 tries) would have failed.
const DEAD_AFTER: Duration = Duration::from_secs(165);

pub(super) fn build(d: &mut Daemon, now: Instant, only_with_sas: bool) -> Status {
    let core: CoreStatus = d.ep.status();
    let mut connections = Vec::new();
    let config = d.config.clone();
    for cfg in &config.connections {
        let cs = core.connections.iter().find(|c| c.name == cfg.name);
        let ike_sas: Vec<&IkeSaStatus> = cs.map(|c| c.ike_sas.iter().collect()).unwrap_or_default();
        if only_with_sas && ike_sas.is_empty() {
            continue;
        }
        let mut children = Vec::new();
        for ch in &cfg.children {
            let sa = ike_sas.iter().find_map(|ike| {
                ike.children
                    .iter()
                    .find(|c| c.name == ch.name)
                    .map(|c| (*ike, c))
            });
            children.push(child_view(d, cfg, &ch.name, sa));
        }
        // Child SAs the peer created under names we do not configure would be invisible
        // otherwise; list them too.
        for ike in &ike_sas {
            for c in &ike.children {
                if cfg.child(&c.name).is_none() {
                    children.push(child_view(d, cfg, &c.name, Some((*ike, c))));
                }
            }
        }
        let up = children
            .iter()
            .filter(|c| c.state == "installed" || c.state == "rekeying")
            .count();
        connections.push(ConnStatus {
            name: cfg.name.clone(),
            local_addrs: cfg.local_addrs.iter().map(ToString::to_string).collect(),
            remote_addrs: cfg.remote_addrs.iter().map(ToString::to_string).collect(),
            children_total: cfg.children.len(),
            children_up: up,
            ike_sas: ike_sas.iter().map(|s| ike_view(s, cfg, now)).collect(),
            children,
            last_failure: cs.and_then(|c| c.last_failure.as_ref()).map(|f| {
                format!(
                    "{} (peer {}, {}s ago)",
                    f.reason,
                    f.peer,
                    now.saturating_duration_since(f.at).as_secs()
                )
            }),
        });
    }
    Status {
        daemon: DaemonInfo {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            pid: std::process::id(),
            config: d.opts.config.display().to_string(),
            uptime_secs: now.saturating_duration_since(d.started).as_secs(),
        },
        connections,
        half_open: core.half_open,
        reassembly_bytes: core.reassembly_bytes,
    }
}

fn ike_view(s: &IkeSaStatus, cfg: &Connection, now: Instant) -> IkeView {
    let state = s.state.as_str().to_ascii_lowercase();
    let silent = s
        .last_peer_message
        .map(|t| now.saturating_duration_since(t));
    let peer = match (state.as_str(), silent) {
        ("established", Some(silent)) if silent > cfg.dpd_delay + DEAD_AFTER => "dead",
        ("established", _) => "alive",
        _ => "unknown",
    };
    IkeView {
        state,
        initiator: s.initiator,
        local: s.local.to_string(),
        remote: s.remote.to_string(),
        local_id: s.local_id.clone().unwrap_or_default(),
        remote_id: s.remote_id.clone().unwrap_or_default(),
        spi_i: format!("{:016x}", s.spis.initiator),
        spi_r: format!("{:016x}", s.spis.responder),
        algorithms: s
            .algorithms
            .as_ref()
            .map(|a| Algorithms {
                encr: Some(match a.encr_keysize {
                    Some(k) => format!("{}_{k}", a.encr),
                    None => a.encr.clone(),
                }),
                integ: a.integ.clone(),
                prf: Some(a.prf.clone()),
                dh: Some(a.dh_group.clone()),
                esn: None,
            })
            .unwrap_or_default(),
        peer: peer.to_owned(),
        established_secs: s
            .established_at
            .map(|t| now.saturating_duration_since(t).as_secs()),
        fragmentation: s.fragmentation,
        remote_cert: s.remote_cert.clone(),
    }
}

fn child_view(
    d: &mut Daemon,
    cfg: &Connection,
    name: &str,
    sa: Option<(&IkeSaStatus, &ChildSaStatus)>,
) -> ChildStatus {
    let conf = cfg.child(name);
    let mut v = ChildStatus {
        name: name.to_owned(),
        state: "none".into(),
        mode: conf
            .map(|c| format!("{:?}", c.mode).to_ascii_lowercase())
            .unwrap_or_default(),
        local_ts: conf
            .map(|c| c.local_ts.iter().map(ToString::to_string).collect())
            .unwrap_or_default(),
        remote_ts: conf
            .map(|c| c.remote_ts.iter().map(ToString::to_string).collect())
            .unwrap_or_default(),
        ..Default::default()
    };
    let Some((ike, c)) = sa else { return v };
    v.state = c.state.as_str().to_ascii_lowercase();
    v.mode = c.mode.to_string().to_ascii_lowercase();
    v.spi_in = Some(format!("{:08x}", c.spi_in));
    v.spi_out = Some(format!("{:08x}", c.spi_out));
    v.reqid = Some(c.reqid);
    v.local_ts = c.local_ts.clone();
    v.remote_ts = c.remote_ts.clone();
    v.algorithms = Algorithms {
        encr: Some(match c.encr_keysize {
            Some(k) => format!("{}_{k}", c.encr_alg),
            None => c.encr_alg.clone(),
        }),
        integ: c.integ_alg.clone(),
        prf: None,
        dh: None,
        esn: Some(c.esn),
    };
    // Inbound SA: addressed to us; outbound: to the peer.
    let dec = d.kernel.counters(ike.local.ip(), c.spi_in);
    let enc = d.kernel.counters(ike.remote.ip(), c.spi_out);
    if let (Some(dec), Some(enc)) = (dec, enc) {
        v.counters = Some(Counters {
            dec_bytes: dec.bytes,
            dec_packets: dec.packets,
            enc_bytes: enc.bytes,
            enc_packets: enc.packets,
        });
    }
    v
}
