//! Cost of one event on a responder holding 10 and 10,000 half-open IKE SAs, side by side in one
//! run: a retransmitted IKE_SA_INIT (found by index, answered from the cache), a datagram for an
//! unknown SPI, and a timer turn with nothing due, each followed by `poll_timeout()` as the
//! driver calls it on every loop turn. With the deadline index and the half-open counters the
//! figures for 10 and 10,000 SAs should be the same; a per-event scan of the SAs would make the
//! second ~1,000 times slower.

#[path = "../tests/harness/mod.rs"]
mod harness;

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use rswan_ikev2::config::{AddrSpec, Limits};
use rswan_ikev2::endpoint::Endpoint;
use rswan_ikev2::rng::TestRng;

use harness::*;

struct Loaded {
    ep: Endpoint<TestRng>,
    local: SocketAddr,
    now: Instant,
    /// (peer, request) of every half-open SA, for retransmissions.
    requests: Vec<(SocketAddr, Vec<u8>)>,
}

fn peer(i: u32) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)), 500)
}

/// A responder with `n` half-open SAs, each from its own address.
fn loaded(n: u32) -> Loaded {
    let mut w = Pair::default().build(90);
    w.trace = false;
    establish(&mut w);
    let init = w.a.sent[0].1.bytes.clone();
    let mut cfg = w.b.config.clone();
    cfg.settings.limits = Limits {
        half_open: 100_000,
        ..Limits::default()
    };
    cfg.settings.cookie_threshold = 1_000_000;
    cfg.settings.half_open_timeout = Duration::from_secs(3600);
    cfg.connections[0].remote_addrs = vec![AddrSpec::Subnet(Ipv4Addr::UNSPECIFIED.into(), 0)];
    let mut ep = Endpoint::new(cfg, TestRng::new(91));
    let now = w.now();
    let mut requests = Vec::new();
    for i in 0..n {
        let mut req = init.clone();
        req[..8].copy_from_slice(&(u64::from(i) + 1).to_be_bytes());
        ep.handle_datagram(now, w.b.addr, peer(i), &req);
        while ep.poll_output().is_some() {}
        requests.push((peer(i), req));
    }
    assert_eq!(ep.status().half_open, n as usize);
    Loaded {
        ep,
        local: w.b.addr,
        now,
        requests,
    }
}

fn per_event(c: &mut Criterion) {
    let mut g = c.benchmark_group("per_event");
    g.measurement_time(Duration::from_secs(3));
    for n in [10u32, 10_000] {
        let mut l = loaded(n);
        let mut k = 0usize;
        g.bench_function(BenchmarkId::new("retransmitted_ike_sa_init", n), |b| {
            b.iter(|| {
                k = (k + 1) % l.requests.len();
                let (from, req) = &l.requests[k];
                l.ep.handle_datagram(l.now, l.local, *from, req);
                while let Some(o) = l.ep.poll_output() {
                    black_box(o);
                }
                black_box(l.ep.poll_timeout())
            })
        });
        // An IKE_AUTH-sized datagram for SPIs nobody has.
        let mut stray = l.requests[0].1.clone();
        stray[8..16].copy_from_slice(&[0xee; 8]);
        stray[18] = 35;
        g.bench_function(BenchmarkId::new("unknown_spi", n), |b| {
            b.iter(|| {
                l.ep.handle_datagram(l.now, l.local, peer(1), &stray);
                while let Some(o) = l.ep.poll_output() {
                    black_box(o);
                }
                black_box(l.ep.poll_timeout())
            })
        });
        g.bench_function(BenchmarkId::new("timer_turn_nothing_due", n), |b| {
            b.iter(|| {
                l.ep.handle_timeout(l.now);
                while let Some(o) = l.ep.poll_output() {
                    black_box(o);
                }
                black_box(l.ep.poll_timeout())
            })
        });
    }
    g.finish();
}

criterion_group!(benches, per_event);
criterion_main!(benches);
