//! What a hostile peer can make a responder hold is bounded by `settings.limits`: half-open SAs
//! in total and per source address, one SA per COOKIE, datagram and reassembly size, selectors
//! per payload and after narrowing, kernel policies per child, Child SAs per IKE SA. Past each
//! limit the request is refused with the documented answer (or dropped), never a panic.

mod harness;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use rswan_ikev2::config::{Config, Limits, TsConfig};
use rswan_ikev2::consts::{NotifyType, PayloadType};
use rswan_ikev2::endpoint::Endpoint;
use rswan_ikev2::event::{DropReason, Event, FailureReason};
use rswan_ikev2::output::{Command, Output};
use rswan_ikev2::rng::TestRng;
use rswan_ikev2::wire::TrafficSelector;
use rswan_ikev2::wire::{Message, Notify, Payload};

use harness::setup::A_CONN;
use harness::*;

/// The initiator's real IKE_SA_INIT request (x25519, so any 32 octets are a valid KE).
fn init_request() -> Vec<u8> {
    let mut w = Pair::default().build(70);
    w.trace = false;
    establish(&mut w);
    w.a.sent[0].1.bytes.clone()
}

/// `req` with SPIi replaced, as from another initiator.
fn with_spi(req: &[u8], spi: u64) -> Vec<u8> {
    let mut r = req.to_vec();
    r[..8].copy_from_slice(&spi.to_be_bytes());
    r
}

struct Responder {
    ep: Endpoint<TestRng>,
    local: SocketAddr,
    now: std::time::Instant,
}

impl Responder {
    fn new(limits: Limits, cookie_threshold: usize) -> (Responder, SocketAddr) {
        let w = Pair::default().build(71);
        let mut cfg: Config = w.b.config.clone();
        cfg.settings.limits = limits;
        cfg.settings.cookie_threshold = cookie_threshold;
        // Any source address may talk to us, as on a public gateway.
        cfg.connections[0].remote_addrs = vec![rswan_ikev2::config::AddrSpec::Subnet(
            "0.0.0.0".parse().unwrap(),
            0,
        )];
        let r = Responder {
            ep: Endpoint::new(cfg, TestRng::new(72)),
            local: w.b.addr,
            now: w.now(),
        };
        (r, w.a.addr)
    }

    /// Feeds one datagram; returns (datagrams sent back, drop reasons).
    fn feed(&mut self, from: SocketAddr, bytes: &[u8]) -> (Vec<Vec<u8>>, Vec<DropReason>) {
        self.now += Duration::from_millis(1);
        self.ep.handle_datagram(self.now, self.local, from, bytes);
        let (mut sent, mut dropped) = (Vec::new(), Vec::new());
        while let Some(o) = self.ep.poll_output() {
            match o {
                Output::Send { bytes, .. } => sent.push(bytes),
                Output::Event(Event::Dropped { reason, .. }) => dropped.push(reason),
                _ => {}
            }
        }
        (sent, dropped)
    }

    fn half_open(&self) -> usize {
        self.ep.status().half_open
    }
}

fn ts(s: &str) -> TsConfig {
    TsConfig::Range(s.parse::<TrafficSelector>().unwrap())
}

fn from(ip: &str, port: u16) -> SocketAddr {
    SocketAddr::new(ip.parse::<IpAddr>().unwrap(), port)
}

#[test]
fn one_address_opens_at_most_block_threshold_half_open_sas() {
    let req = init_request();
    let limits = Limits {
        half_open_per_ip: 5,
        ..Limits::default()
    };
    let (mut r, _) = Responder::new(limits, 10_000);
    let mut refused = 0;
    for i in 0..50u16 {
        let (_, dropped) = r.feed(
            from("198.51.100.7", 1000 + i),
            &with_spi(&req, 1 + u64::from(i)),
        );
        refused += dropped
            .iter()
            .filter(|d| **d == DropReason::HalfOpenLimitPerIp)
            .count();
    }
    assert_eq!(r.half_open(), 5);
    assert_eq!(refused, 45);
    // Another address is not affected by the first one's flood.
    let (sent, _) = r.feed(from("198.51.100.8", 500), &with_spi(&req, 99));
    assert_eq!(
        sent.len(),
        1,
        "the other address got its IKE_SA_INIT response"
    );
    assert_eq!(r.half_open(), 6);
}

#[test]
fn half_open_limit_caps_the_total_and_frees_up_after_the_timeout() {
    let req = init_request();
    let limits = Limits {
        half_open: 40,
        ..Limits::default()
    };
    let (mut r, _) = Responder::new(limits, 10_000);
    let mut refused = 0;
    for i in 0..200u32 {
        let ip = format!("198.51.{}.{}", 100 + i / 250, 1 + i % 250);
        let (_, dropped) = r.feed(from(&ip, 500), &with_spi(&req, 1 + u64::from(i)));
        refused += dropped
            .iter()
            .filter(|d| **d == DropReason::HalfOpenLimit)
            .count();
    }
    assert_eq!(r.half_open(), 40);
    assert_eq!(refused, 160);
    // The half-open timeout (30 s) returns everything; a new initiator is served again.
    r.now += Duration::from_secs(31);
    r.ep.handle_timeout(r.now);
    while r.ep.poll_output().is_some() {}
    assert_eq!(r.half_open(), 0);
    assert!(r.ep.poll_timeout().is_none(), "nothing left scheduled");
    let (sent, _) = r.feed(from("203.0.113.9", 500), &with_spi(&req, 7777));
    assert_eq!(sent.len(), 1);
}

/// The COOKIE notify data in a responder's answer.
fn cookie_of(answer: &[u8]) -> Vec<u8> {
    let m = Message::decode(answer).unwrap();
    match m.payloads.first() {
        Some(Payload::Notify(n)) if n.ntype == NotifyType::COOKIE => n.data.clone(),
        other => panic!("no COOKIE in the answer: {other:?}"),
    }
}

fn with_cookie(req: &[u8], cookie: Vec<u8>) -> Vec<u8> {
    let mut m = Message::decode(req).unwrap();
    m.payloads
        .insert(0, Payload::Notify(Notify::cookie(cookie)));
    m.encode()
}

#[test]
fn one_cookie_opens_one_sa_and_is_bound_to_the_source_port() {
    let req = with_spi(&init_request(), 0x1234);
    // cookie_threshold 0: every IKE_SA_INIT must carry a valid COOKIE.
    let (mut r, _) = Responder::new(Limits::default(), 0);
    let (answer, _) = r.feed(from("198.51.100.7", 40000), &req);
    assert_eq!(answer.len(), 1);
    let replay = with_cookie(&req, cookie_of(&answer[0]));
    // Replayed from 3,000 other ports: each just gets a fresh COOKIE demand, no SA.
    for port in 0..3000u16 {
        let (sent, _) = r.feed(from("198.51.100.7", 41000 + port), &replay);
        assert!(sent.len() <= 1);
    }
    assert_eq!(
        r.half_open(),
        0,
        "a cookie from port 40000 opened SAs elsewhere"
    );
    // From its own port it opens exactly one SA, however often it is sent.
    for _ in 0..10 {
        r.feed(from("198.51.100.7", 40000), &replay);
    }
    assert_eq!(r.half_open(), 1);
}

#[test]
fn datagrams_above_max_packet_are_dropped_before_parsing() {
    let req = init_request();
    let (mut r, _) = Responder::new(Limits::default(), 10_000);
    // A 60 KB IKE_SA_INIT: the real request with a huge vendor ID appended.
    let mut m = Message::decode(&req).unwrap();
    m.payloads
        .push(Payload::Unknown(rswan_ikev2::wire::UnknownPayload {
            ptype: PayloadType(43),
            critical: false,
            body: vec![0x55; 60_000],
        }));
    let big = m.encode();
    let (sent, dropped) = r.feed(from("198.51.100.7", 500), &big);
    assert!(sent.is_empty());
    assert_eq!(
        dropped,
        vec![DropReason::TooLarge {
            len: big.len(),
            max: 10_000
        }]
    );
    assert_eq!(r.half_open(), 0);
}

/// A peer whose TSr holds 255 single-port selectors against our two local_ts used to make a
/// 510-selector reply, which the encoder could not hold (the daemon panicked).
#[test]
fn selector_explosion_is_refused_with_ts_unacceptable() {
    for max_ts in [64, 255] {
        let mut p = Pair::default();
        p.a.remote_ts = (0..255u16).map(|i| ts(&format!("10.2.0.{i}/32"))).collect();
        // Each of the peer's 255 hosts intersects both: 510 selectors after narrowing.
        p.b.local_ts = vec![ts("10.2.0.0/24[udp]"), ts("10.2.0.0/24[tcp]")];
        p.b_settings.limits.ts_per_payload = max_ts;
        let mut w = p.build(73);
        w.trace = false;
        w.initiate(Side::A, A_CONN);
        w.run_for(Duration::from_secs(5));
        let named = failures(&w.b).iter().any(|f| {
            matches!(
                f,
                FailureReason::LimitExceeded { limit, .. } if limit.setting() == "max_ts"
            )
        });
        assert!(named, "max_ts {max_ts}: {:?}", failures(&w.b));
        assert!(failures(&w.a).iter().any(|f| matches!(
            f,
            FailureReason::PeerError {
                notify: NotifyType::TS_UNACCEPTABLE,
                ..
            }
        )));
        assert!(w.b.kernel.policies.is_empty(), "policies installed");
        // The IKE SA itself stays up; only the child was refused.
        assert_eq!(established_ike(&w.b).len(), 1);
    }
}

#[test]
fn policies_per_child_bound_what_ranges_expand_to() {
    let mut p = Pair::default();
    // Odd ranges split into many prefixes: 10.1.0.1-10.1.0.254 alone is 14 prefixes.
    p.a.local_ts = vec![ts("10.1.0.1-10.1.0.254")];
    p.a.remote_ts = vec![ts("10.2.0.1-10.2.0.254")];
    p.b.local_ts = vec![TsConfig::Range(net("10.2.0.0/24"))];
    p.b.remote_ts = vec![TsConfig::Range(net("10.1.0.0/24"))];
    p.b_settings.limits.policies_per_child = 100;
    let mut w = p.build(74);
    w.trace = false;
    w.initiate(Side::A, A_CONN);
    w.run_for(Duration::from_secs(5));
    let named = failures(&w.b).iter().any(|f| match f {
        FailureReason::LimitExceeded { limit, .. } if limit.setting() == "max_policies" => {
            limit.to_string().contains("588")
        }
        _ => false,
    });
    assert!(named, "{:?}", failures(&w.b));
    assert!(w.b.kernel.policies.is_empty());
    // Within the limit the same selectors are accepted.
    let mut p2 = p.clone();
    p2.b_settings.limits.policies_per_child = 588;
    let mut w = p2.build(75);
    w.trace = false;
    establish(&mut w);
    assert_eq!(installed_children(&w.b), 1);
}

#[test]
fn child_sas_per_ike_sa_are_limited_with_no_additional_sas() {
    let mut p = Pair::default();
    p.b_settings.limits.child_sas_per_ike = 1;
    let mut w = p.build(76);
    w.trace = false;
    establish(&mut w);
    w.command(
        Side::A,
        Command::Initiate {
            conn: A_CONN.into(),
            child: None,
        },
    );
    w.run_for(Duration::from_secs(5));
    assert!(failures(&w.b).iter().any(|f| matches!(
        f,
        FailureReason::LimitExceeded { limit, .. } if limit.setting() == "max_child_sas"
    )));
    assert!(
        failures(&w.a).iter().any(|f| matches!(
            f,
            FailureReason::ChildCreateFailed { why, .. } if why.to_string().contains("NO_ADDITIONAL_SAS")
        )),
        "{:?}",
        failures(&w.a)
    );
    assert_eq!(installed_children(&w.b), 1);
    assert_eq!(established_ike(&w.a).len(), 1, "the IKE SA survives");
}

/// IKE_AUTH in fragments whose sum exceeds the responder's `max_packet`: the reassembly is given
/// up as soon as it would pass the limit, and the exchange never completes.
#[test]
fn reassembly_stops_at_max_packet() {
    let mut p = Pair::default();
    p.a_settings.fragment_size = 140;
    p.b_settings.fragment_size = 140;
    p.b_settings.limits.max_packet = 200;
    let mut w = p.build(77);
    w.trace = false;
    w.initiate(Side::A, A_CONN);
    w.run_for(Duration::from_secs(10));
    let too_large = count(&w.b, |e| {
        matches!(
            e,
            Event::Dropped {
                reason: DropReason::TooLarge { max: 200, .. },
                ..
            }
        )
    });
    assert!(too_large > 0, "no TooLarge drop");
    assert!(established_ike(&w.b).is_empty());
}

/// The first fragments of a message that never completes are forgotten after
/// `fragment_timeout`, and the SA's timer fires for it.
#[test]
fn incomplete_reassembly_times_out() {
    let mut p = Pair::default();
    p.a_settings.fragment_size = 140;
    p.b_settings.fragment_size = 140;
    p.b_settings.limits.fragment_timeout = Duration::from_secs(2);
    p.b_settings.half_open_timeout = Duration::from_secs(600);
    let mut w = p.build(78);
    w.trace = false;
    // A->B: IKE_SA_INIT is datagram 1, IKE_AUTH fragments follow; lose the second fragment and
    // every retransmission (the link goes dark after the first fragments).
    w.link.drop_nth[0] = vec![3];
    w.initiate(Side::A, A_CONN);
    w.run_for(Duration::from_millis(500));
    assert!(w.b.ep.status().reassembly_bytes > 0, "fragments held");
    w.link.dir[0].blackhole = true;
    w.run_for(Duration::from_secs(3));
    assert_eq!(
        w.b.ep.status().reassembly_bytes,
        0,
        "fragments kept past the timeout"
    );
    assert_eq!(w.b.ep.status().half_open, 1);
}

#[test]
fn deadline_index_expires_exactly_the_due_half_open_sas() {
    // The deadline index must keep every half-open SA's timer: with thousands of SAs, all of
    // them expire on time and poll_timeout is the earliest.
    let req = init_request();
    let limits = Limits {
        half_open: 5000,
        half_open_per_ip: 5000,
        ..Limits::default()
    };
    let (mut r, _) = Responder::new(limits, 10_000);
    let mut rng = TestRng::new(5);
    let t0 = r.now;
    for i in 0..3000u32 {
        let ip = format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256);
        r.feed(from(&ip, 500), &with_spi(&req, rng.next_u64() | 1));
    }
    assert_eq!(r.half_open(), 3000);
    let first = r.ep.poll_timeout().unwrap();
    assert_eq!(
        first,
        t0 + Duration::from_millis(1) + Duration::from_secs(30)
    );
    r.now = t0 + Duration::from_secs(31);
    r.ep.handle_timeout(r.now);
    while r.ep.poll_output().is_some() {}
    // Created 1 ms apart: the first 1,000 (deadlines up to t0 + 31 s) are gone, the rest stay.
    assert_eq!(r.half_open(), 2000);
    assert_eq!(
        r.ep.poll_timeout(),
        Some(t0 + Duration::from_millis(1001) + Duration::from_secs(30))
    );
    r.now = t0 + Duration::from_secs(34);
    r.ep.handle_timeout(r.now);
    while r.ep.poll_output().is_some() {}
    assert_eq!(r.half_open(), 0);
    assert_eq!(r.ep.poll_timeout(), None);
}
