//! What an exchange handler may touch besides its IKE SA: configuration, the caller's Rng, the
//! output queue, id and token counters, the cookie secret and the failure records.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

use crate::config::Config;
use crate::crypto::{CookieJar, Secret};
use crate::event::{Event, FailureReason};
use crate::output::{KernelOp, Output};
use crate::rng::Rng;
use crate::sa::status::FailureRecord;
use crate::timer::cookie_secret_expired;

/// Everything an exchange handler may touch besides the IKE SA it works on.
pub(crate) struct Core<R: Rng> {
    pub config: Config,
    pub(crate) rng: R,
    pub(crate) out: VecDeque<Output>,
    pub(crate) next_uid: u32,
    pub(crate) next_reqid: u32,
    pub(crate) next_token: u64,
    /// Kernel operation token -> (IKE SA key, Child SA inbound SPI) for results that matter.
    pub(crate) tokens: HashMap<u64, (u64, u32)>,
    pub cookies: CookieJar,
    pub(crate) cookie_rotated: Option<Instant>,
    pub(crate) failures: HashMap<String, FailureRecord>,
    pub(crate) unmatched: Vec<FailureRecord>,
    /// (from, to) of datagrams queued since the last `Endpoint::stamp_sends`, so that the
    /// NAT keepalive timer knows when we last sent to each peer.
    pub(crate) sent: Vec<(SocketAddr, SocketAddr)>,
    /// Seconds since the Unix epoch as last told by the driver (`Endpoint::set_wall_clock`);
    /// certificate validity is judged against it. `None` until the driver sets it.
    pub(crate) wall_clock: Option<u64>,
    /// When the driver last read ESP counters for us (`Endpoint::counter_poll`).
    pub(crate) counters_read: Option<Instant>,
}

impl<R: Rng> Core<R> {
    /// The driver's wall clock (Unix seconds), if it has set one.
    pub fn wall_clock(&self) -> Option<u64> {
        self.wall_clock
    }

    pub fn rng_dyn(&mut self) -> &mut dyn Rng {
        &mut self.rng
    }

    pub fn emit(&mut self, e: Event) {
        self.out.push_back(Output::Event(e));
    }

    pub fn send(&mut self, from: SocketAddr, to: SocketAddr, bytes: Vec<u8>) {
        if !self.sent.contains(&(from, to)) {
            self.sent.push((from, to));
        }
        self.out.push_back(Output::Send { from, to, bytes });
    }

    /// Queues a kernel operation; `owner` ties its result to a Child SA.
    pub fn kernel(&mut self, op: KernelOp, owner: Option<(u64, u32)>) -> u64 {
        self.next_token += 1;
        let token = self.next_token;
        if let Some(o) = owner {
            self.tokens.insert(token, o);
        }
        self.out.push_back(Output::Kernel { token, op });
        token
    }

    /// Records the last failure of a connection (or peer) and reports it.
    pub fn fail(
        &mut self,
        now: Instant,
        conn: Option<String>,
        peer: SocketAddr,
        reason: FailureReason,
    ) {
        let rec = FailureRecord {
            at: now,
            peer,
            reason: reason.clone(),
        };
        match &conn {
            Some(c) => {
                self.failures.insert(c.clone(), rec);
            }
            None => {
                self.unmatched.retain(|r| r.peer.ip() != peer.ip());
                self.unmatched.push(rec);
                // Bounded: a scan from many addresses must not grow this without limit.
                if self.unmatched.len() > 64 {
                    self.unmatched.remove(0);
                }
            }
        }
        self.emit(Event::NegotiationFailed { conn, peer, reason });
    }

    pub fn next_uid(&mut self) -> u32 {
        self.next_uid = self.next_uid.wrapping_add(1);
        self.next_uid
    }

    pub fn next_reqid(&mut self) -> u32 {
        self.next_reqid = self.next_reqid.wrapping_add(1).max(1);
        self.next_reqid
    }

    pub fn random_secret(&mut self, len: usize) -> Secret {
        let mut s = Secret::zeroed(len);
        self.rng.fill(s.as_mut_bytes());
        s
    }

    pub(crate) fn random_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.rng.fill(&mut b);
        u64::from_be_bytes(b)
    }

    /// An inbound ESP SPI; 1..=255 are reserved by IANA (RFC 4303 section 2.1).
    pub fn alloc_esp_spi(&mut self) -> u32 {
        loop {
            let mut b = [0u8; 4];
            self.rng.fill(&mut b);
            let spi = u32::from_be_bytes(b);
            if spi > 0xff {
                return spi;
            }
        }
    }

    /// Replaces the cookie secret when it is older than its lifetime.
    pub fn rotate_cookie_secret(&mut self, now: Instant) {
        match self.cookie_rotated {
            Some(t) if !cookie_secret_expired(t, now) => {}
            Some(_) => {
                self.cookies.rotate(&mut self.rng);
                self.cookie_rotated = Some(now);
            }
            None => self.cookie_rotated = Some(now),
        }
    }
}
