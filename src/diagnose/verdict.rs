//! The verdict: the most specific cause the evidence supports, checked from the top of the
//! workflow down (a failed Phase 1 explains everything below it) except that, once a Child SA is
//! up, kernel drops and the counters are the evidence.

use super::{Cause, ChildDiag, Diagnosis, Failure, Traffic};
use crate::status::Counters;

/// Kernel counters that name a cause on their own, with the verdict's words and hint.
const KERNEL_CAUSES: &[(&str, &str, &str)] = &[
    (
        "XfrmInTmplMismatch",
        "no matching IPsec selector for decrypted packets",
        "check source NAT in front of the gateway and the subnets on both sides",
    ),
    (
        "XfrmOutPolBlock",
        "no matching IPsec selector, outbound packets dropped",
        "check source NAT on this gateway and local_ts/remote_ts",
    ),
    (
        "XfrmInNoPols",
        "plain-text packets where ESP is required",
        "the peer sends outside the tunnel: check its policies",
    ),
    (
        "XfrmInStateProtoError",
        "ESP integrity/decryption failed",
        "the keys differ: restart the connection on both sides",
    ),
    (
        "XfrmInNoStates",
        "ESP arrived for an SPI we do not have",
        "the peer uses a stale SA: restart the connection on the peer",
    ),
    (
        "XfrmOutNoStates",
        "outbound packets match a policy without an SA",
        "the tunnel is not fully up",
    ),
];

/// Reads a child's counters: `(traffic, reading)`. `first` is the earlier sample, if any.
pub fn reading(
    first: Option<&Counters>,
    last: Option<&Counters>,
) -> (Traffic, String, Option<Counters>) {
    let Some(last) = last else {
        return (
            Traffic::Unknown,
            "counters could not be read from the kernel".into(),
            None,
        );
    };
    let delta = first.map(|f| Counters {
        enc_bytes: last.enc_bytes.saturating_sub(f.enc_bytes),
        enc_packets: last.enc_packets.saturating_sub(f.enc_packets),
        dec_bytes: last.dec_bytes.saturating_sub(f.dec_bytes),
        dec_packets: last.dec_packets.saturating_sub(f.dec_packets),
    });
    // Without a second sample, the totals are the best evidence there is.
    let (enc, dec) = match &delta {
        Some(d) => (d.enc_packets > 0, d.dec_packets > 0),
        None => (last.enc_packets > 0, last.dec_packets > 0),
    };
    let never = last.enc_packets == 0 && last.dec_packets == 0;
    let (t, r) = match (enc, dec) {
        (true, true) => (Traffic::EncAndDec, "traffic flows both ways"),
        (true, false) => (Traffic::EncOnly, "enc rising, dec flat: traffic leaves but nothing comes back (look at the remote side and the path)"),
        (false, true) => (Traffic::DecOnly, "dec rising, enc flat: traffic arrives but nothing goes back through the tunnel (check the return route on this side's LAN)"),
        (false, false) if never => (Traffic::NoTraffic, "both zero: no traffic reaches the gateway from the LAN (check routes and the initiating host)"),
        (false, false) => (Traffic::Idle, "no traffic during the sample (counters did move before)"),
    };
    (t, r.into(), delta)
}

/// The port a peer is reached on when NAT-T moved the IKE SA off 500 (RFC 3948).
const NATT_PORT: u16 = 4500;

fn failure_verdict(f: &Failure, d: &Diagnosis, local_psk: bool, ours_ike: &str) -> (Cause, String) {
    let mismatch = || {
        format!(
            "{} — peer offered {}; we accept {}",
            f.parameter
                .as_deref()
                .unwrap_or("no proposal combines the acceptable transforms"),
            super::list(&f.theirs),
            super::list(&f.ours)
        )
    };
    let v = match f.cause {
        Cause::PskMismatch => "Phase 1 failed: PSK mismatch (the peer's AUTH does not match our PSK)".to_owned(),
        Cause::PeerRejectedAuth if local_psk => "Phase 1 failed: PSK mismatch (peer rejected our authentication)".to_owned(),
        Cause::PeerRejectedAuth => "Phase 1 failed: peer rejected our authentication (check our certificate and identity)".to_owned(),
        Cause::AuthFailed => format!("Phase 1 failed: {}", f.message),
        Cause::IkeProposalMismatch => format!("Phase 1 failed: IKE proposal mismatch: {}", mismatch()),
        Cause::EspProposalMismatch => format!("Phase 2 failed: ESP proposal mismatch: {}", mismatch()),
        Cause::PeerNoProposalIke => format!("Phase 1 failed: IKE proposal mismatch: the peer accepted none of ours (NO_PROPOSAL_CHOSEN; we offered {ours_ike}) — its diagnose names the parameter"),
        Cause::PeerNoProposalEsp => "Phase 2 failed: ESP proposal mismatch: the peer accepted none of our ESP proposals (NO_PROPOSAL_CHOSEN) — its diagnose names the parameter".to_owned(),
        Cause::TsMismatch => format!("Phase 2 failed: traffic selector mismatch (local_ts/remote_ts do not match the peer's): {}", f.message),
        Cause::PfsMismatch => format!(
            "Phase 2 rekey failed: PFS mismatch: {}{PFS_HINT}",
            f.detail.as_deref().unwrap_or(&f.message)
        ),
        Cause::NoMatchingConnection => format!("Phase 1 failed: no connection matches the peer: {}", f.message),
        Cause::KernelRefused => match &f.detail {
            Some(hint) => format!("Phase 2 failed: the kernel refused the Child SA: {hint} ({})", f.message),
            None => format!("Phase 2 failed: the kernel refused the Child SA: {}", f.message),
        },
        Cause::PeerUnreachable | Cause::DpdTimeout => {
            let n = f.retransmits.unwrap_or(0);
            let r = &d.reachability;
            let is_dpd = f.cause == Cause::DpdTimeout;
            let dpd = if is_dpd { " (DPD)" } else { "" };
            if f.peer.port() == NATT_PORT && r.reply_ports.contains(&500) && !r.reply_ports.contains(&NATT_PORT) {
                format!("peer unreachable on UDP 4500: replies came on 500 but none from {} after {n} retransmits{dpd} (UDP 4500 blocked?)", f.peer)
            } else if r.replies_seen && is_dpd {
                format!("peer lost: no reply from {} after {n} retransmits{dpd} (peer down or path broken)", f.peer)
            } else {
                format!("peer unreachable: no IKE reply from {} after {n} retransmits{dpd} (UDP {} blocked or peer down)", f.peer, f.peer.port())
            }
        }
        _ => format!("failed: {}", f.message),
    };
    let cause = match f.cause {
        Cause::PeerRejectedAuth if local_psk => Cause::PskMismatch,
        Cause::PeerNoProposalIke => Cause::IkeProposalMismatch,
        Cause::PeerNoProposalEsp => Cause::EspProposalMismatch,
        Cause::DpdTimeout => Cause::PeerUnreachable,
        c => c,
    };
    (cause, v)
}

/// ", the kernel counts XfrmInTmplMismatch +3" for the named causes that rose, or nothing.
fn kernel_rises(d: &Diagnosis) -> String {
    let rose: Vec<String> = d
        .kernel
        .counters
        .iter()
        .filter(|k| k.delta.unwrap_or(0) > 0 && KERNEL_CAUSES.iter().any(|(n, _, _)| *n == k.name))
        .map(|k| format!("{} +{}", k.name, k.delta.unwrap_or(0)))
        .collect();
    if rose.is_empty() {
        String::new()
    } else {
        format!(" (the kernel counts {})", rose.join(", "))
    }
}

const PFS_HINT: &str = " — put the same KE group in esp_proposals on both sides (or none on both)";

fn up_child(c: &ChildDiag) -> bool {
    matches!(c.state.as_str(), "installed" | "rekeying" | "rekeyed")
}

/// `(cause, verdict)` for the evidence. `ours_ike` is our IKE proposal list (for the
/// initiator's side of a NO_PROPOSAL_CHOSEN, where only the peer knows the failing parameter).
pub fn verdict(d: &Diagnosis, local_psk: bool, ours_ike: &str) -> (Cause, String) {
    let failure = d.phase1.last_failure.as_ref();
    if let Some(c) = d.phase2.iter().find(|c| up_child(c)) {
        return child_up_verdict(d, c, failure);
    }
    if d.phase1.state == "established" {
        if let Some(f) = failure.filter(|f| f.cause.is_phase2()) {
            return failure_verdict(f, d, local_psk, ours_ike);
        }
        if d.phase2.is_empty() {
            return (
                Cause::IkeOnly,
                "IKE SA established; no children configured".into(),
            );
        }
        return match failure {
            Some(f) => failure_verdict(f, d, local_psk, ours_ike),
            None => (
                Cause::Phase2Pending,
                "IKE SA established, no Child SA installed yet".into(),
            ),
        };
    }
    if let Some(f) = failure {
        return failure_verdict(f, d, local_psk, ours_ike);
    }
    let r = &d.reachability;
    if d.phase1.state == "connecting" {
        if !r.replies_seen && r.unanswered >= 2 {
            return (
                Cause::PeerUnreachable,
                format!(
                    "peer unreachable (still trying): no IKE reply from {} after {} retransmits (UDP blocked or peer down)",
                    r.peer.as_deref().unwrap_or("the peer"),
                    r.unanswered - 1
                ),
            );
        }
        return (Cause::Connecting, "negotiation in progress".into());
    }
    (
        Cause::Idle,
        "no IKE SA and no failed attempt remembered (bring it up with `rswanctl up`)".into(),
    )
}

/// A Child SA is up: source NAT, kernel drops and a failed PFS rekey explain more than the
/// counters, which come last.
fn child_up_verdict(d: &Diagnosis, c: &ChildDiag, failure: Option<&Failure>) -> (Cause, String) {
    // A NAT rule that catches the tunnel's traffic is the cause of the drops it provokes
    // (XfrmInTmplMismatch for the answers), so it comes before the kernel counters. Only
    // with both counters flat (see diagnose_view.rs).
    let flat = d.phase2.iter().find(|c| up_child(c) && c.traffic.is_flat());
    if let (Some(flat), false) = (flat, d.routing.source_nat.is_empty()) {
        let remote = flat
            .remote_ts
            .first()
            .map_or("<remote subnet>", String::as_str);
        return (
            Cause::SourceNat,
            format!(
                "source NAT may be rewriting the source before the selector check: {} — nothing is encrypted on '{}' (enc flat), the traffic leaves unencrypted or is dropped{}; exempt the tunnel from NAT, e.g. `ip daddr {remote} accept` before that rule",
                d.routing.source_nat.join("; "),
                flat.child,
                kernel_rises(d)
            ),
        );
    }
    for (name, what, hint) in KERNEL_CAUSES {
        if let Some(k) = d.kernel.counters.iter().find(|k| k.name == *name) {
            // Only a rise during the sample counts: old drops may predate the tunnel.
            if k.delta.unwrap_or(0) > 0 {
                return (
                    Cause::KernelDrops,
                    format!("packets dropped by the kernel: {what} ({name}) — {hint}"),
                );
            }
        }
    }
    // A rekey that failed on PFS after this Child SA was installed: it carries traffic only
    // until its lifetime ends, so that is the news, not the counters.
    let pfs = failure.filter(|f| {
        f.cause == Cause::PfsMismatch
            && d.phase2
                .iter()
                .any(|c| up_child(c) && c.installed_secs.is_some_and(|i| f.secs_ago <= i))
    });
    if let Some(f) = pfs {
        return (
            Cause::PfsMismatch,
            format!(
                "Phase 2 rekey failed: PFS mismatch: {}; the current Child SA ('{}') works only until its lifetime ends{PFS_HINT}",
                f.detail.as_deref().unwrap_or(&f.message),
                c.child
            ),
        );
    }
    traffic_verdict(d, c)
}

/// What the Child SA's counters say, with the route check for a tunnel without traffic.
fn traffic_verdict(d: &Diagnosis, c: &ChildDiag) -> (Cause, String) {
    let cause = Cause::from(c.traffic);
    let v = match c.traffic {
        Traffic::EncOnly if c.encap => format!("Phase 2 up but ESP does not come back: enc rising, dec flat ('{}') — ESP-in-UDP is lost on the path or the peer does not route the traffic back", c.child),
        Traffic::EncOnly => format!("Phase 2 up but ESP does not come back: enc rising, dec flat ('{}') — ESP may be dropped on the path; try `encap: yes` to force UDP encapsulation", c.child),
        Traffic::DecOnly => format!("Phase 2 up, traffic arrives but none goes back: dec rising, enc flat ('{}') — check the return route on this side's LAN", c.child),
        Traffic::NoTraffic => {
            if let Some(s) = d.routing.remote_subnets.iter().find(|s| !s.route) {
                return (Cause::NoRoute, format!("Phase 2 up but no route to the remote subnet {}: traffic for it never reaches the IPsec policy", s.subnet));
            }
            format!("Phase 2 up but no traffic ('{}'): nothing reaches the gateway from the LAN (check routes and the initiating host)", c.child)
        }
        Traffic::Idle => format!("tunnel up ('{}'); no traffic during the sample", c.child),
        Traffic::EncAndDec => format!("tunnel up ('{}'): traffic flows both ways", c.child),
        _ => format!("tunnel up ('{}'); counters unavailable", c.child),
    };
    (cause, v)
}

#[cfg(test)]
mod tests {
    use super::super::{KernelCounter, Routing, SubnetRoute};
    use super::*;

    fn child(traffic: Traffic, encap: bool) -> ChildDiag {
        ChildDiag {
            child: "net".into(),
            state: "installed".into(),
            encap,
            traffic,
            ..Default::default()
        }
    }

    #[test]
    fn counters_are_read_from_the_deltas() {
        let c = |e, d| Counters {
            enc_packets: e,
            dec_packets: d,
            ..Default::default()
        };
        assert_eq!(reading(Some(&c(5, 5)), Some(&c(9, 5))).0, Traffic::EncOnly);
        assert_eq!(reading(Some(&c(5, 5)), Some(&c(5, 8))).0, Traffic::DecOnly);
        assert_eq!(
            reading(Some(&c(0, 0)), Some(&c(0, 0))).0,
            Traffic::NoTraffic
        );
        assert_eq!(reading(Some(&c(3, 3)), Some(&c(3, 3))).0, Traffic::Idle);
        assert_eq!(reading(None, Some(&c(3, 3))).0, Traffic::EncAndDec);
        assert_eq!(reading(None, None).0, Traffic::Unknown);
    }

    #[test]
    fn esp_lost_suggests_forcing_encapsulation_unless_already_encapsulated() {
        let mut d = Diagnosis {
            phase2: vec![child(Traffic::EncOnly, false)],
            ..Default::default()
        };
        let (c, v) = verdict(&d, true, "");
        assert_eq!(c, Cause::EncOnly);
        assert!(v.contains("try `encap: yes`"), "{v}");
        d.phase2[0].encap = true;
        assert!(!verdict(&d, true, "").1.contains("encap: yes"));
    }

    #[test]
    fn kernel_drops_during_the_sample_win_over_counters() {
        let mut d = Diagnosis {
            phase2: vec![child(Traffic::EncOnly, false)],
            ..Default::default()
        };
        d.kernel.counters.push(KernelCounter {
            name: "XfrmInTmplMismatch".into(),
            value: 7,
            delta: Some(0),
            meaning: String::new(),
        });
        assert_eq!(
            verdict(&d, true, "").0,
            Cause::EncOnly,
            "old drops do not count"
        );
        d.kernel.counters[0].delta = Some(3);
        let (c, v) = verdict(&d, true, "");
        assert_eq!(c, Cause::KernelDrops);
        assert!(
            v.contains("no matching IPsec selector") && v.contains("source NAT"),
            "{v}"
        );
    }

    #[test]
    fn no_route_explains_no_traffic() {
        let mut d = Diagnosis {
            phase2: vec![child(Traffic::NoTraffic, false)],
            ..Default::default()
        };
        d.routing = Routing {
            remote_subnets: vec![SubnetRoute {
                subnet: "10.2.0.0/24".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        assert_eq!(verdict(&d, true, "").0, Cause::NoRoute);
    }

    #[test]
    fn phase1_failures_name_the_cause() {
        let mut d = Diagnosis::default();
        d.phase1.state = "none".into();
        d.phase1.last_failure = Some(Failure {
            cause: Cause::IkeProposalMismatch,
            parameter: Some("KE group".into()),
            theirs: vec!["MODP_1024".into()],
            ours: vec!["ECP_256".into()],
            ..Default::default()
        });
        let v = verdict(&d, true, "").1;
        assert_eq!(v, "Phase 1 failed: IKE proposal mismatch: KE group — peer offered MODP_1024; we accept ECP_256");
        d.phase1.last_failure = Some(Failure {
            cause: Cause::PeerRejectedAuth,
            ..Default::default()
        });
        assert_eq!(
            verdict(&d, true, "").1,
            "Phase 1 failed: PSK mismatch (peer rejected our authentication)"
        );
        d.phase1.last_failure = Some(Failure {
            cause: Cause::PeerUnreachable,
            peer: "192.0.2.2:500".parse().unwrap(),
            retransmits: Some(5),
            ..Default::default()
        });
        assert_eq!(verdict(&d, true, "").1, "peer unreachable: no IKE reply from 192.0.2.2:500 after 5 retransmits (UDP 500 blocked or peer down)");
    }

    #[test]
    fn a_kernel_refusal_names_its_cause_not_other() {
        let mut d = Diagnosis::default();
        d.phase1.state = "none".into();
        d.phase1.last_failure = Some(Failure {
            cause: Cause::KernelRefused,
            message: "child 'net': add SA failed".into(),
            detail: Some("load esp4".into()),
            ..Default::default()
        });
        let (cause, v) = verdict(&d, true, "");
        assert_eq!(cause, Cause::KernelRefused);
        assert_eq!(
            v,
            "Phase 2 failed: the kernel refused the Child SA: load esp4 (child 'net': add SA failed)"
        );
    }

    #[test]
    fn unanswered_attempt_in_progress_is_unreachable() {
        let mut d = Diagnosis::default();
        d.phase1.state = "connecting".into();
        d.reachability.peer = Some("192.0.2.2:500".into());
        d.reachability.unanswered = 3;
        let (c, v) = verdict(&d, true, "");
        assert_eq!(c, Cause::PeerUnreachable);
        assert!(v.contains("after 2 retransmits"), "{v}");
    }

    #[test]
    fn pfs_mismatch_at_rekey_is_named_while_the_old_child_still_works() {
        let mut d = Diagnosis {
            phase2: vec![ChildDiag {
                installed_secs: Some(30),
                ..child(Traffic::EncAndDec, false)
            }],
            ..Default::default()
        };
        d.phase1.state = "established".into();
        d.phase1.last_failure = Some(Failure {
            cause: Cause::PfsMismatch,
            detail: Some("peer requires CURVE_25519, child 'net' has no PFS group".into()),
            secs_ago: 5,
            ..Default::default()
        });
        let (c, v) = verdict(&d, true, "");
        assert_eq!(c, Cause::PfsMismatch);
        assert!(v.starts_with("Phase 2 rekey failed: PFS mismatch: peer requires CURVE_25519, child 'net' has no PFS group; the current Child SA ('net') works only until"), "{v}");
        // Older than the Child SA: a later rekey or setup succeeded, the failure explains nothing.
        d.phase1.last_failure.as_mut().unwrap().secs_ago = 60;
        assert_eq!(verdict(&d, true, "").0, Cause::EncAndDec);
        // No Child SA left (it expired after the failed rekeys): the failure is the verdict.
        d.phase2[0].state = "none".into();
        let (c, v) = verdict(&d, true, "");
        assert_eq!(c, Cause::PfsMismatch);
        assert!(v.contains("same KE group in esp_proposals"), "{v}");
    }

    #[test]
    fn source_nat_rule_with_flat_enc_counters_is_named() {
        let mut d = Diagnosis {
            phase2: vec![ChildDiag {
                remote_ts: vec!["10.2.0.0/24".into()],
                ..child(Traffic::NoTraffic, false)
            }],
            ..Default::default()
        };
        assert_eq!(
            verdict(&d, true, "").0,
            Cause::NoTraffic,
            "no NAT rule, no NAT verdict"
        );
        d.routing.source_nat =
            vec!["table ip nat chain postrouting: oifname eth0 masquerade".into()];
        let (c, v) = verdict(&d, true, "");
        assert_eq!(c, Cause::SourceNat);
        assert!(v.starts_with("source NAT may be rewriting the source before the selector check: table ip nat chain postrouting: oifname eth0 masquerade"), "{v}");
        assert!(v.contains("`ip daddr 10.2.0.0/24 accept`"), "{v}");
        // Traffic is encrypted both ways: the rule evidently does not catch the tunnel.
        d.phase2[0].traffic = Traffic::EncAndDec;
        assert_eq!(verdict(&d, true, "").0, Cause::EncAndDec);
    }
}
