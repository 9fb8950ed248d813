//! The verdict: the most specific cause the evidence supports, checked from the top of the
//! workflow down (a failed Phase 1 explains everything below it) except that, once a Child SA is
//! up, kernel drops and the counters are the evidence.

use super::{ChildDiag, Diagnosis, Failure};
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
) -> (String, String, Option<Counters>) {
    let Some(last) = last else {
        return (
            "unknown".into(),
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
        (true, true) => ("enc-and-dec", "traffic flows both ways"),
        (true, false) => ("enc-only", "enc rising, dec flat: traffic leaves but nothing comes back (look at the remote side and the path)"),
        (false, true) => ("dec-only", "dec rising, enc flat: traffic arrives but nothing goes back through the tunnel (check the return route on this side's LAN)"),
        (false, false) if never => ("no-traffic", "both zero: no traffic reaches the gateway from the LAN (check routes and the initiating host)"),
        (false, false) => ("idle", "no traffic during the sample (counters did move before)"),
    };
    (t.into(), r.into(), delta)
}

fn phase2_cause(f: &Failure) -> bool {
    matches!(
        f.cause.as_str(),
        "esp-proposal-mismatch"
            | "peer-no-proposal-esp"
            | "ts-mismatch"
            | "pfs-mismatch"
            | "kernel-refused"
    )
}

fn failure_verdict(
    f: &Failure,
    d: &Diagnosis,
    local_psk: bool,
    ours_ike: &str,
) -> (String, String) {
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
    let v = match f.cause.as_str() {
        "psk-mismatch" => "Phase 1 failed: PSK mismatch (the peer's AUTH does not match our PSK)".to_owned(),
        "peer-rejected-auth" if local_psk => "Phase 1 failed: PSK mismatch (peer rejected our authentication)".to_owned(),
        "peer-rejected-auth" => "Phase 1 failed: peer rejected our authentication (check our certificate and identity)".to_owned(),
        "auth-failed" => format!("Phase 1 failed: {}", f.message),
        "ike-proposal-mismatch" => format!("Phase 1 failed: IKE proposal mismatch: {}", mismatch()),
        "esp-proposal-mismatch" => format!("Phase 2 failed: ESP proposal mismatch: {}", mismatch()),
        "peer-no-proposal-ike" => format!("Phase 1 failed: IKE proposal mismatch: the peer accepted none of ours (NO_PROPOSAL_CHOSEN; we offered {ours_ike}) — its diagnose names the parameter"),
        "peer-no-proposal-esp" => "Phase 2 failed: ESP proposal mismatch: the peer accepted none of our ESP proposals (NO_PROPOSAL_CHOSEN) — its diagnose names the parameter".to_owned(),
        "ts-mismatch" => format!("Phase 2 failed: traffic selector mismatch (local_ts/remote_ts do not match the peer's): {}", f.message),
        "pfs-mismatch" => format!(
            "Phase 2 rekey failed: PFS mismatch: {}{PFS_HINT}",
            f.detail.as_deref().unwrap_or(&f.message)
        ),
        "no-matching-connection" => format!("Phase 1 failed: no connection matches the peer: {}", f.message),
        "kernel-refused" => match &f.detail {
            Some(hint) => format!("Phase 2 failed: the kernel refused the Child SA: {hint} ({})", f.message),
            None => format!("Phase 2 failed: the kernel refused the Child SA: {}", f.message),
        },
        "peer-unreachable" | "dpd-timeout" => {
            let n = f.retransmits.unwrap_or(0);
            let r = &d.reachability;
            let dpd = if f.cause == "dpd-timeout" { " (DPD)" } else { "" };
            if f.peer.ends_with(":4500") && r.reply_ports.contains(&500) && !r.reply_ports.contains(&4500) {
                format!("peer unreachable on UDP 4500: replies came on 500 but none from {} after {n} retransmits{dpd} (UDP 4500 blocked?)", f.peer)
            } else if r.replies_seen && f.cause == "dpd-timeout" {
                format!("peer lost: no reply from {} after {n} retransmits{dpd} (peer down or path broken)", f.peer)
            } else {
                format!("peer unreachable: no IKE reply from {} after {n} retransmits{dpd} (UDP {} blocked or peer down)", f.peer, f.peer.rsplit(':').next().unwrap_or("500"))
            }
        }
        _ => format!("failed: {}", f.message),
    };
    let cause = match f.cause.as_str() {
        "peer-rejected-auth" if local_psk => "psk-mismatch",
        "peer-no-proposal-ike" => "ike-proposal-mismatch",
        "peer-no-proposal-esp" => "esp-proposal-mismatch",
        "dpd-timeout" => "peer-unreachable",
        c => c,
    };
    (cause.to_owned(), v)
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
pub fn verdict(d: &Diagnosis, local_psk: bool, ours_ike: &str) -> (String, String) {
    let failure = d.phase1.last_failure.as_ref();
    if let Some(c) = d.phase2.iter().find(|c| up_child(c)) {
        // A NAT rule that catches the tunnel's traffic is the cause of the drops it provokes
        // (XfrmInTmplMismatch for the answers), so it comes before the kernel counters. Only
        // with both counters flat (see diagnose_view.rs).
        let flat = d
            .phase2
            .iter()
            .find(|c| up_child(c) && matches!(c.traffic.as_str(), "no-traffic" | "idle"));
        if let (Some(flat), false) = (flat, d.routing.source_nat.is_empty()) {
            let remote = flat
                .remote_ts
                .first()
                .map_or("<remote subnet>", String::as_str);
            return (
                "source-nat".into(),
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
                        "kernel-drops".into(),
                        format!("packets dropped by the kernel: {what} ({name}) — {hint}"),
                    );
                }
            }
        }
        // A rekey that failed on PFS after this Child SA was installed: it carries traffic only
        // until its lifetime ends, so that is the news, not the counters.
        let pfs = failure.filter(|f| {
            f.cause == "pfs-mismatch"
                && d.phase2
                    .iter()
                    .any(|c| up_child(c) && c.installed_secs.is_some_and(|i| f.secs_ago <= i))
        });
        if let Some(f) = pfs {
            return (
                "pfs-mismatch".into(),
                format!(
                    "Phase 2 rekey failed: PFS mismatch: {}; the current Child SA ('{}') works only until its lifetime ends{PFS_HINT}",
                    f.detail.as_deref().unwrap_or(&f.message),
                    c.child
                ),
            );
        }
        let cause = c.traffic.clone();
        let v = match c.traffic.as_str() {
            "enc-only" if c.encap => format!("Phase 2 up but ESP does not come back: enc rising, dec flat ('{}') — ESP-in-UDP is lost on the path or the peer does not route the traffic back", c.child),
            "enc-only" => format!("Phase 2 up but ESP does not come back: enc rising, dec flat ('{}') — ESP may be dropped on the path; try `encap: yes` to force UDP encapsulation", c.child),
            "dec-only" => format!("Phase 2 up, traffic arrives but none goes back: dec rising, enc flat ('{}') — check the return route on this side's LAN", c.child),
            "no-traffic" => {
                if let Some(s) = d.routing.remote_subnets.iter().find(|s| !s.route) {
                    return ("no-route".into(), format!("Phase 2 up but no route to the remote subnet {}: traffic for it never reaches the IPsec policy", s.subnet));
                }
                format!("Phase 2 up but no traffic ('{}'): nothing reaches the gateway from the LAN (check routes and the initiating host)", c.child)
            }
            "idle" => format!("tunnel up ('{}'); no traffic during the sample", c.child),
            "enc-and-dec" => format!("tunnel up ('{}'): traffic flows both ways", c.child),
            _ => format!("tunnel up ('{}'); counters unavailable", c.child),
        };
        return (cause, v);
    }
    if d.phase1.state == "established" {
        if let Some(f) = failure.filter(|f| phase2_cause(f)) {
            return failure_verdict(f, d, local_psk, ours_ike);
        }
        if d.phase2.is_empty() {
            return (
                "ike-only".into(),
                "IKE SA established; no children configured".into(),
            );
        }
        return match failure {
            Some(f) => failure_verdict(f, d, local_psk, ours_ike),
            None => (
                "phase2-pending".into(),
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
                "peer-unreachable".into(),
                format!(
                    "peer unreachable (still trying): no IKE reply from {} after {} retransmits (UDP blocked or peer down)",
                    r.peer.as_deref().unwrap_or("the peer"),
                    r.unanswered - 1
                ),
            );
        }
        return ("connecting".into(), "negotiation in progress".into());
    }
    (
        "idle".into(),
        "no IKE SA and no failed attempt remembered (bring it up with `rswanctl up`)".into(),
    )
}

#[cfg(test)]
mod tests {
    use super::super::{KernelCounter, Routing, SubnetRoute};
    use super::*;

    fn child(traffic: &str, encap: bool) -> ChildDiag {
        ChildDiag {
            child: "net".into(),
            state: "installed".into(),
            encap,
            traffic: traffic.into(),
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
        assert_eq!(reading(Some(&c(5, 5)), Some(&c(9, 5))).0, "enc-only");
        assert_eq!(reading(Some(&c(5, 5)), Some(&c(5, 8))).0, "dec-only");
        assert_eq!(reading(Some(&c(0, 0)), Some(&c(0, 0))).0, "no-traffic");
        assert_eq!(reading(Some(&c(3, 3)), Some(&c(3, 3))).0, "idle");
        assert_eq!(reading(None, Some(&c(3, 3))).0, "enc-and-dec");
        assert_eq!(reading(None, None).0, "unknown");
    }

    #[test]
    fn esp_lost_suggests_forcing_encapsulation_unless_already_encapsulated() {
        let mut d = Diagnosis {
            phase2: vec![child("enc-only", false)],
            ..Default::default()
        };
        let (c, v) = verdict(&d, true, "");
        assert_eq!(c, "enc-only");
        assert!(v.contains("try `encap: yes`"), "{v}");
        d.phase2[0].encap = true;
        assert!(!verdict(&d, true, "").1.contains("encap: yes"));
    }

    #[test]
    fn kernel_drops_during_the_sample_win_over_counters() {
        let mut d = Diagnosis {
            phase2: vec![child("enc-only", false)],
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
            "enc-only",
            "old drops do not count"
        );
        d.kernel.counters[0].delta = Some(3);
        let (c, v) = verdict(&d, true, "");
        assert_eq!(c, "kernel-drops");
        assert!(
            v.contains("no matching IPsec selector") && v.contains("source NAT"),
            "{v}"
        );
    }

    #[test]
    fn no_route_explains_no_traffic() {
        let mut d = Diagnosis {
            phase2: vec![child("no-traffic", false)],
            ..Default::default()
        };
        d.routing = Routing {
            remote_subnets: vec![SubnetRoute {
                subnet: "10.2.0.0/24".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        assert_eq!(verdict(&d, true, "").0, "no-route");
    }

    #[test]
    fn phase1_failures_name_the_cause() {
        let mut d = Diagnosis::default();
        d.phase1.state = "none".into();
        d.phase1.last_failure = Some(Failure {
            cause: "ike-proposal-mismatch".into(),
            parameter: Some("KE group".into()),
            theirs: vec!["MODP_1024".into()],
            ours: vec!["ECP_256".into()],
            ..Default::default()
        });
        let v = verdict(&d, true, "").1;
        assert_eq!(v, "Phase 1 failed: IKE proposal mismatch: KE group — peer offered MODP_1024; we accept ECP_256");
        d.phase1.last_failure = Some(Failure {
            cause: "peer-rejected-auth".into(),
            ..Default::default()
        });
        assert_eq!(
            verdict(&d, true, "").1,
            "Phase 1 failed: PSK mismatch (peer rejected our authentication)"
        );
        d.phase1.last_failure = Some(Failure {
            cause: "peer-unreachable".into(),
            peer: "192.0.2.2:500".into(),
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
            cause: "kernel-refused".into(),
            message: "child 'net': add SA failed".into(),
            detail: Some("load esp4".into()),
            ..Default::default()
        });
        let (cause, v) = verdict(&d, true, "");
        assert_eq!(cause, "kernel-refused");
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
        assert_eq!(c, "peer-unreachable");
        assert!(v.contains("after 2 retransmits"), "{v}");
    }

    #[test]
    fn pfs_mismatch_at_rekey_is_named_while_the_old_child_still_works() {
        let mut d = Diagnosis {
            phase2: vec![ChildDiag {
                installed_secs: Some(30),
                ..child("enc-and-dec", false)
            }],
            ..Default::default()
        };
        d.phase1.state = "established".into();
        d.phase1.last_failure = Some(Failure {
            cause: "pfs-mismatch".into(),
            detail: Some("peer requires CURVE_25519, child 'net' has no PFS group".into()),
            secs_ago: 5,
            ..Default::default()
        });
        let (c, v) = verdict(&d, true, "");
        assert_eq!(c, "pfs-mismatch");
        assert!(v.starts_with("Phase 2 rekey failed: PFS mismatch: peer requires CURVE_25519, child 'net' has no PFS group; the current Child SA ('net') works only until"), "{v}");
        // Older than the Child SA: a later rekey or setup succeeded, the failure explains nothing.
        d.phase1.last_failure.as_mut().unwrap().secs_ago = 60;
        assert_eq!(verdict(&d, true, "").0, "enc-and-dec");
        // No Child SA left (it expired after the failed rekeys): the failure is the verdict.
        d.phase2[0].state = "none".into();
        let (c, v) = verdict(&d, true, "");
        assert_eq!(c, "pfs-mismatch");
        assert!(v.contains("same KE group in esp_proposals"), "{v}");
    }

    #[test]
    fn source_nat_rule_with_flat_enc_counters_is_named() {
        let mut d = Diagnosis {
            phase2: vec![ChildDiag {
                remote_ts: vec!["10.2.0.0/24".into()],
                ..child("no-traffic", false)
            }],
            ..Default::default()
        };
        assert_eq!(
            verdict(&d, true, "").0,
            "no-traffic",
            "no NAT rule, no NAT verdict"
        );
        d.routing.source_nat =
            vec!["table ip nat chain postrouting: oifname eth0 masquerade".into()];
        let (c, v) = verdict(&d, true, "");
        assert_eq!(c, "source-nat");
        assert!(v.starts_with("source NAT may be rewriting the source before the selector check: table ip nat chain postrouting: oifname eth0 masquerade"), "{v}");
        assert!(v.contains("`ip daddr 10.2.0.0/24 accept`"), "{v}");
        // Traffic is encrypted both ways: the rule evidently does not catch the tunnel.
        d.phase2[0].traffic = "enc-and-dec".into();
        assert_eq!(verdict(&d, true, "").0, "enc-and-dec");
    }
}
