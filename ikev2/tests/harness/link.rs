#![allow(dead_code)] // shared by several test binaries, each using a subset
//! The in-memory network between the two peers: a priority queue of datagrams in flight, ordered by
//! delivery time, with seeded loss, duplication and reordering so that every run is reproducible.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rswan_ikev2::rng::TestRng;

/// Impairments applied to one direction of the link.
#[derive(Clone, Copy, Debug)]
pub struct Impairment {
    /// One-way latency every datagram gets.
    pub delay: Duration,
    /// Probability that a datagram is dropped.
    pub loss: f64,
    /// Probability that a datagram is delivered twice (the copy gets its own delay draw).
    pub duplicate: f64,
    /// Probability that a datagram is held back by an extra delay drawn uniformly in `[0, jitter]`,
    /// which lets later datagrams overtake it.
    pub reorder: f64,
    pub jitter: Duration,
    /// When set, every datagram in this direction is dropped (a silent or unplugged peer).
    pub blackhole: bool,
}

impl Impairment {
    pub const PERFECT: Impairment = Impairment {
        delay: Duration::from_millis(10),
        loss: 0.0,
        duplicate: 0.0,
        reorder: 0.0,
        jitter: Duration::ZERO,
        blackhole: false,
    };

    pub fn lossy(loss: f64) -> Impairment {
        Impairment {
            loss,
            ..Impairment::PERFECT
        }
    }
}

impl Default for Impairment {
    fn default() -> Self {
        Impairment::PERFECT
    }
}

/// A datagram on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Datagram {
    pub from: SocketAddr,
    pub to: SocketAddr,
    pub bytes: Vec<u8>,
}

/// What happened to datagrams on the link, per direction (index 0: A->B, 1: B->A).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkStats {
    pub sent: [u64; 2],
    pub dropped: [u64; 2],
    pub duplicated: [u64; 2],
    pub delayed: [u64; 2],
    pub delivered: [u64; 2],
}

#[derive(Debug)]
struct InFlight {
    at: Instant,
    // Ties on `at` are broken by send order, so equal-delay datagrams keep FIFO order.
    seq: u64,
    dir: usize,
    dgram: Datagram,
}

impl PartialEq for InFlight {
    fn eq(&self, o: &Self) -> bool {
        self.at == o.at && self.seq == o.seq
    }
}
impl Eq for InFlight {}
impl PartialOrd for InFlight {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for InFlight {
    // Reversed so that the max-heap pops the earliest delivery first.
    fn cmp(&self, o: &Self) -> Ordering {
        (o.at, o.seq).cmp(&(self.at, self.seq))
    }
}

/// Two-directional link between address `a` and address `b`.
pub struct Link {
    pub a: SocketAddr,
    pub b: SocketAddr,
    /// `dir[0]` applies to A->B, `dir[1]` to B->A.
    pub dir: [Impairment; 2],
    rng: TestRng,
    queue: BinaryHeap<InFlight>,
    seq: u64,
    pub stats: LinkStats,
    /// Scripted loss: the 1-based send numbers, per direction, of datagrams to drop (e.g. "the
    /// responder's second message"), on top of the random impairments.
    pub drop_nth: [Vec<u64>; 2],
}

impl Link {
    pub fn new(a: SocketAddr, b: SocketAddr, seed: u64) -> Link {
        Link {
            a,
            b,
            dir: [Impairment::PERFECT; 2],
            rng: TestRng::new(seed),
            queue: BinaryHeap::new(),
            seq: 0,
            stats: LinkStats::default(),
            drop_nth: [Vec::new(), Vec::new()],
        }
    }

    /// Same impairment in both directions.
    pub fn set_both(&mut self, imp: Impairment) {
        self.dir = [imp; 2];
    }

    fn direction(&self, d: &Datagram) -> Option<usize> {
        if d.from.ip() == self.a.ip() && d.to.ip() == self.b.ip() {
            Some(0)
        } else if d.from.ip() == self.b.ip() && d.to.ip() == self.a.ip() {
            Some(1)
        } else {
            None
        }
    }

    /// Uniform draw in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.unit() < p
    }

    /// Puts a datagram on the wire at `now`. A datagram addressed to neither peer is a harness
    /// misuse, not a network event, so it panics with the addresses.
    pub fn send(&mut self, now: Instant, dgram: Datagram) {
        let dir = self.direction(&dgram).unwrap_or_else(|| {
            panic!(
                "datagram {} -> {} is not on this link",
                dgram.from, dgram.to
            )
        });
        self.stats.sent[dir] += 1;
        let imp = self.dir[dir];
        let scripted = self.drop_nth[dir].contains(&self.stats.sent[dir]);
        if scripted || imp.blackhole || self.chance(imp.loss) {
            self.stats.dropped[dir] += 1;
            return;
        }
        let copies = if self.chance(imp.duplicate) {
            self.stats.duplicated[dir] += 1;
            2
        } else {
            1
        };
        for _ in 0..copies {
            let mut at = now + imp.delay;
            if self.chance(imp.reorder) {
                self.stats.delayed[dir] += 1;
                at += imp.jitter.mul_f64(self.unit());
            }
            self.seq += 1;
            self.queue.push(InFlight {
                at,
                seq: self.seq,
                dir,
                dgram: dgram.clone(),
            });
        }
    }

    /// When the next datagram lands, if any is in flight.
    pub fn next_delivery(&self) -> Option<Instant> {
        self.queue.peek().map(|f| f.at)
    }

    /// Takes the next datagram due at or before `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<Datagram> {
        if self.queue.peek()?.at > now {
            return None;
        }
        let f = self.queue.pop()?;
        self.stats.delivered[f.dir] += 1;
        Some(f.dgram)
    }

    pub fn in_flight(&self) -> usize {
        self.queue.len()
    }

    /// Drops everything in flight (a cable pulled mid-exchange).
    pub fn flush(&mut self) {
        self.queue.clear();
    }
}
