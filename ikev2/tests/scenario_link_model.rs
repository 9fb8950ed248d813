//! The harness's link model on its own: scenario tests only mean something if "30 % loss" really
//! drops about 30 %, duplicates arrive twice, reordering overtakes, and a seed replays exactly.

#[path = "harness/link.rs"]
mod link;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use link::{Datagram, Impairment, Link};

fn addrs() -> (SocketAddr, SocketAddr) {
    (
        "192.0.2.1:500".parse().unwrap(),
        "192.0.2.2:500".parse().unwrap(),
    )
}

fn dgram(from: SocketAddr, to: SocketAddr, n: u32) -> Datagram {
    Datagram {
        from,
        to,
        bytes: n.to_be_bytes().to_vec(),
    }
}

/// Sends `n` numbered datagrams A->B, one per millisecond, then drains everything; returns the
/// numbers in delivery order with their delivery offsets.
fn run(link: &mut Link, n: u32) -> Vec<(u32, Duration)> {
    let (a, b) = (link.a, link.b);
    let base = Instant::now();
    for i in 0..n {
        link.send(base + Duration::from_millis(i as u64), dgram(a, b, i));
    }
    let mut out = Vec::new();
    while let Some(t) = link.next_delivery() {
        while let Some(d) = link.pop_due(t) {
            out.push((
                u32::from_be_bytes(d.bytes[..4].try_into().unwrap()),
                t - base,
            ));
        }
    }
    out
}

fn inversions(order: &[(u32, Duration)]) -> usize {
    order.windows(2).filter(|w| w[1].0 < w[0].0).count()
}

#[test]
fn perfect_link_delivers_everything_once_in_order_after_the_delay() {
    let (a, b) = addrs();
    let mut link = Link::new(a, b, 1);
    let got = run(&mut link, 200);
    assert_eq!(got.len(), 200);
    assert_eq!(inversions(&got), 0);
    for (i, (n, at)) in got.iter().enumerate() {
        assert_eq!(*n as usize, i);
        assert_eq!(
            *at,
            Duration::from_millis(i as u64) + Impairment::PERFECT.delay
        );
    }
    assert_eq!(link.stats.delivered, [200, 0]);
}

#[test]
fn nothing_is_delivered_before_its_time() {
    let (a, b) = addrs();
    let mut link = Link::new(a, b, 1);
    let now = Instant::now();
    link.send(now, dgram(a, b, 7));
    assert!(link.pop_due(now).is_none());
    assert!(link.pop_due(now + Duration::from_millis(9)).is_none());
    assert_eq!(link.next_delivery(), Some(now + Duration::from_millis(10)));
    assert_eq!(
        link.pop_due(now + Duration::from_millis(10)),
        Some(dgram(a, b, 7))
    );
    assert_eq!(link.in_flight(), 0);
}

#[test]
fn loss_rate_matches_the_configured_probability() {
    let (a, b) = addrs();
    let mut link = Link::new(a, b, 42);
    link.set_both(Impairment::lossy(0.3));
    let got = run(&mut link, 20_000);
    let lost = 20_000 - got.len();
    // 3 sigma of a binomial(20000, 0.3) is about 194.
    assert!(
        (5_800..=6_200).contains(&lost),
        "lost {lost} of 20000 at p=0.3"
    );
    assert_eq!(link.stats.dropped[0] as usize, lost);
    // Loss alone never reorders or duplicates.
    assert_eq!(inversions(&got), 0);
}

#[test]
fn same_seed_replays_exactly_and_another_seed_differs() {
    let (a, b) = addrs();
    let imp = Impairment {
        loss: 0.2,
        duplicate: 0.1,
        reorder: 0.3,
        jitter: Duration::from_millis(50),
        ..Impairment::PERFECT
    };
    let mk = |seed| {
        let mut l = Link::new(a, b, seed);
        l.set_both(imp);
        run(&mut l, 2_000)
    };
    assert_eq!(mk(7), mk(7));
    assert_ne!(mk(7), mk(8));
}

#[test]
fn duplication_delivers_extra_copies_at_the_configured_rate() {
    let (a, b) = addrs();
    let mut link = Link::new(a, b, 3);
    link.set_both(Impairment {
        duplicate: 0.25,
        ..Impairment::PERFECT
    });
    let got = run(&mut link, 20_000);
    let extra = got.len() - 20_000;
    assert!(
        (4_800..=5_200).contains(&extra),
        "{extra} duplicates of 20000 at p=0.25"
    );
    // Every datagram still arrives at least once.
    let mut seen = vec![0u32; 20_000];
    for (n, _) in &got {
        seen[*n as usize] += 1;
    }
    assert!(seen.iter().all(|&c| c == 1 || c == 2));
    assert_eq!(seen.iter().filter(|&&c| c == 2).count(), extra);
}

#[test]
fn reordering_lets_later_datagrams_overtake_and_adds_bounded_delay() {
    let (a, b) = addrs();
    let mut link = Link::new(a, b, 11);
    let jitter = Duration::from_millis(40);
    link.set_both(Impairment {
        reorder: 0.3,
        jitter,
        ..Impairment::PERFECT
    });
    let got = run(&mut link, 5_000);
    assert_eq!(got.len(), 5_000, "reordering must not lose anything");
    assert!(
        inversions(&got) > 500,
        "only {} inversions",
        inversions(&got)
    );
    let delayed = link.stats.delayed[0];
    assert!(
        (1_350..=1_650).contains(&delayed),
        "{delayed} held back of 5000 at p=0.3"
    );
    for (n, at) in &got {
        let sent = Duration::from_millis(*n as u64);
        assert!(*at >= sent + Impairment::PERFECT.delay);
        assert!(*at <= sent + Impairment::PERFECT.delay + jitter);
    }
}

#[test]
fn blackhole_silences_one_direction_only() {
    let (a, b) = addrs();
    let mut link = Link::new(a, b, 5);
    link.dir[1].blackhole = true;
    let now = Instant::now();
    for i in 0..10 {
        link.send(now, dgram(a, b, i));
        link.send(now, dgram(b, a, i));
    }
    let mut got = Vec::new();
    while let Some(d) = link.pop_due(now + Duration::from_secs(1)) {
        got.push(d);
    }
    assert_eq!(got.len(), 10);
    assert!(got.iter().all(|d| d.to == b));
    assert_eq!(link.stats.sent, [10, 10]);
    assert_eq!(link.stats.dropped, [0, 10]);
}

#[test]
fn per_direction_impairments_are_independent() {
    let (a, b) = addrs();
    let mut link = Link::new(a, b, 9);
    link.dir[0].loss = 0.5;
    let now = Instant::now();
    for i in 0..4_000 {
        link.send(now, dgram(a, b, i));
        link.send(now, dgram(b, a, i));
    }
    assert_eq!(link.stats.dropped[1], 0);
    assert!((1_850..=2_150).contains(&link.stats.dropped[0]));
}

#[test]
fn scripted_drops_hit_exactly_the_numbered_datagrams() {
    let (a, b) = addrs();
    let mut link = Link::new(a, b, 1);
    link.drop_nth[0] = vec![2, 5];
    let got: Vec<u32> = run(&mut link, 6).into_iter().map(|(n, _)| n).collect();
    // Send numbers are 1-based: datagrams 1 and 4 (0-based) are the 2nd and 5th sent.
    assert_eq!(got, vec![0, 2, 3, 5]);
    assert_eq!(link.stats.dropped, [2, 0]);
}
