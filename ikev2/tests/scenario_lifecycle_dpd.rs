//! Dead peer detection in the two-peer harness: each mode with the peer going silent, on-demand
//! staying quiet while the kernel reports inbound ESP traffic, on-idle counting outbound traffic
//! too, disabled never probing but answering, and dpd_action=restart.

mod harness;

use std::time::Duration;

use rswan_ikev2::config::Action;
use rswan_ikev2::event::{Event, FailureReason};
use rswan_ikev2::output::KernelEvent;
use rswan_ikev2::timer::{ConnTimers, DpdMode, RetransmitPolicy};

use harness::*;

/// DPD every `delay` s in `mode`, and a short retransmit budget (1 s, 2 s, 4 s: 3 retransmits,
/// lost 15 s after the probe).
fn dpd(w: &mut World, s: Side, mode: DpdMode, delay: u64) {
    w.reconfigure(s, |c| {
        c.connections[0].dpd_delay = Duration::from_secs(delay);
        set_conn_timers(
            c,
            ConnTimers {
                dpd_mode: mode,
                ..ConnTimers::default()
            },
        );
        c.settings.retransmit = RetransmitPolicy {
            timeout: Duration::from_secs(1),
            base: 2.0,
            tries: 3,
            limit: None,
        };
    });
}

fn dpd_lost(p: &Peer) -> Option<String> {
    p.events().find_map(|e| match e {
        Event::NegotiationFailed {
            reason: FailureReason::DpdTimeout { .. },
            ..
        } => Some(e.to_string()),
        _ => None,
    })
}

fn requests_sent_by(p: &Peer, since: usize) -> usize {
    // Requests have the R flag (0x20) clear in the IKE header's flags octet.
    p.sent[since..]
        .iter()
        .filter(|(_, d)| d.bytes.get(19).is_some_and(|f| f & 0x20 == 0))
        .count()
}

fn silent_peer_is_lost(mode: DpdMode, seed: u64) {
    let mut w = Pair::default().build(seed);
    dpd(&mut w, Side::A, mode, 30);
    let t0 = establish(&mut w);
    // B goes silent: nothing it sends arrives.
    w.link.dir[1].blackhole = true;
    let t = w.must(
        Duration::from_secs(120),
        |w| dpd_lost(&w.a).is_some(),
        &format!("{mode:?}: peer not declared dead"),
    ) - t0;
    // Probe after 30 s of silence, then 1+2+4+8 s of retransmit budget.
    assert!(
        t >= Duration::from_secs(44) && t <= Duration::from_secs(47),
        "{mode:?}: lost after {t:?}"
    );
    assert_eq!(
        dpd_lost(&w.a).unwrap(),
        "<to-bob> peer 192.0.2.2 lost after 3 retransmits (DPD)"
    );
    assert!(ike_sas(&w.a).is_empty());
    assert!(w.a.kernel.is_empty(), "dead peer's SAs must be removed");
}

#[test]
fn on_demand_declares_a_silent_peer_dead_within_budget() {
    silent_peer_is_lost(DpdMode::OnDemand, 60);
}

#[test]
fn on_idle_declares_a_silent_peer_dead_within_budget() {
    silent_peer_is_lost(DpdMode::OnIdle, 61);
}

#[test]
fn disabled_never_probes_but_answers() {
    let mut w = Pair::default().build(62);
    dpd(&mut w, Side::A, DpdMode::Disabled, 30);
    dpd(&mut w, Side::B, DpdMode::OnDemand, 30);
    establish(&mut w);
    let (a0, b0) = (w.a.sent.len(), w.b.sent.len());
    w.run_for(Duration::from_secs(200));
    assert_eq!(requests_sent_by(&w.a, a0), 0, "disabled DPD sent a request");
    let b_probes = requests_sent_by(&w.b, b0);
    assert!(b_probes >= 5, "B probed {b_probes} times in 200 s");
    // A answered every probe: nobody lost anybody.
    assert!(dpd_lost(&w.a).is_none() && dpd_lost(&w.b).is_none());
    assert!(both_up(&w));
    // And with B silent, A never notices (no probes).
    w.link.dir[1].blackhole = true;
    w.run_for(Duration::from_secs(300));
    assert!(dpd_lost(&w.a).is_none());
    assert_eq!(established_ike(&w.a).len(), 1);
}

/// Feeds A's kernel counters every 10 s for `secs`: inbound and/or outbound bytes rising.
fn traffic(w: &mut World, secs: u64, inbound: bool, outbound: bool) {
    let c = established_ike(&w.a)[0].children[0].clone();
    let (a_ip, b_ip) = (w.a.addr.ip(), w.b.addr.ip());
    for i in 1..=secs / 10 {
        w.run_for(Duration::from_secs(10));
        let now = w.now();
        if inbound {
            w.a.ep.handle_kernel(
                now,
                KernelEvent::Counters {
                    dst: a_ip,
                    spi: c.spi_in,
                    bytes: 1000 * i,
                    packets: 10 * i,
                },
            );
        }
        if outbound {
            w.a.ep.handle_kernel(
                now,
                KernelEvent::Counters {
                    dst: b_ip,
                    spi: c.spi_out,
                    bytes: 1000 * i,
                    packets: 10 * i,
                },
            );
        }
        w.pump();
    }
}

#[test]
fn on_demand_does_not_probe_while_inbound_esp_counters_rise() {
    let mut w = Pair::default().build(63);
    dpd(&mut w, Side::A, DpdMode::OnDemand, 30);
    establish(&mut w);
    let a0 = w.a.sent.len();
    traffic(&mut w, 150, true, false);
    assert_eq!(requests_sent_by(&w.a, a0), 0, "probed although ESP arrived");
    // Traffic stops: a probe goes out within dpd_delay.
    let a1 = w.a.sent.len();
    w.run_for(Duration::from_secs(31));
    assert_eq!(
        requests_sent_by(&w.a, a1),
        1,
        "no probe after the traffic stopped"
    );
}

#[test]
fn on_demand_probes_when_only_outbound_traffic_flows_but_on_idle_does_not() {
    for (mode, probes) in [(DpdMode::OnDemand, true), (DpdMode::OnIdle, false)] {
        let mut w = Pair::default().build(64);
        dpd(&mut w, Side::A, mode, 30);
        establish(&mut w);
        let a0 = w.a.sent.len();
        traffic(&mut w, 100, false, true);
        assert_eq!(
            requests_sent_by(&w.a, a0) > 0,
            probes,
            "{mode:?} with only outbound traffic"
        );
    }
}

#[test]
fn dpd_action_restart_initiates_again() {
    let mut w = Pair::default().build(65);
    dpd(&mut w, Side::A, DpdMode::OnDemand, 30);
    w.reconfigure(Side::A, |c| {
        c.connections[0].children[0].dpd_action = Action::Start
    });
    establish(&mut w);
    w.link.dir[1].blackhole = true;
    w.must(
        Duration::from_secs(120),
        |w| dpd_lost(&w.a).is_some(),
        "peer not declared dead",
    );
    // A restarted right away; once B is reachable again, a fresh IKE SA comes up (B sees
    // INITIAL_CONTACT and replaces its stale one).
    w.link.dir[1].blackhole = false;
    w.must(
        Duration::from_secs(200),
        |w| {
            established_ike(&w.a).len() == 1
                && installed_children(&w.a) == 1
                && established_ike(&w.b).len() == 1
        },
        "a fresh IKE SA after the restart",
    );
    assert_eq!(
        count(&w.a, |e| matches!(e, Event::IkeSaUp { .. })),
        2,
        "restart did not bring up a second IKE SA"
    );
}

#[test]
fn counter_queries_follow_the_dpd_mode() {
    for (mode, n, interval) in [
        (DpdMode::OnDemand, 1, Some(Duration::from_secs(15))),
        (DpdMode::OnIdle, 2, Some(Duration::from_secs(15))),
        (DpdMode::Disabled, 0, None),
    ] {
        let mut w = Pair::default().build(66);
        dpd(&mut w, Side::A, mode, 30);
        establish(&mut w);
        let c = established_ike(&w.a)[0].children[0].clone();
        let q = w.a.ep.counter_queries();
        assert_eq!(q.len(), n, "{mode:?}: {q:?}");
        if n > 0 {
            assert_eq!((q[0].dst, q[0].spi), (w.a.addr.ip(), c.spi_in));
        }
        if n > 1 {
            assert_eq!((q[1].dst, q[1].spi), (w.b.addr.ip(), c.spi_out));
        }
        assert_eq!(w.a.ep.counter_interval(), interval, "{mode:?}");
        // B has no DPD configured.
        assert!(w.b.ep.counter_queries().is_empty());
    }
}

#[test]
fn the_core_says_when_to_read_which_counters() {
    let mut w = Pair::default().build(67);
    dpd(&mut w, Side::A, DpdMode::OnDemand, 30);
    establish(&mut w);
    let ike = established_ike(&w.a)[0].clone();
    let up = ike.established_at.expect("established");
    let first = w.a.ep.poll_counter_timeout().expect("DPD needs counters");
    assert_eq!(first, up + Duration::from_secs(15));
    // Not yet due: nothing to read, and the deadline stays.
    assert!(w
        .a
        .ep
        .counter_poll(first - Duration::from_secs(1))
        .is_empty());
    assert_eq!(w.a.ep.poll_counter_timeout(), Some(first));
    // Due: the inbound SA of the Child SA, and the next read half a dpd_delay later.
    let q = w.a.ep.counter_poll(first);
    assert_eq!(q.len(), 1, "{q:?}");
    assert_eq!(
        (q[0].dst, q[0].spi),
        (w.a.addr.ip(), ike.children[0].spi_in)
    );
    assert_eq!(
        w.a.ep.poll_counter_timeout(),
        Some(first + Duration::from_secs(15))
    );
    // B has no DPD: it never asks.
    assert_eq!(w.b.ep.poll_counter_timeout(), None);
    assert!(w.b.ep.counter_poll(first).is_empty());
}
