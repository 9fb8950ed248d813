#![allow(dead_code)] // shared by several test binaries, each using a subset
//! Two cores, a link, a virtual clock and two kernel models, driven by one bounded loop:
//! deliver due datagrams, raise due kernel lifetime expiries, fire due timers, drain outputs
//! (answering kernel ops at once), then jump the clock to the earliest of the next delivery, the
//! next expiry and both peers' deadlines. Every run takes a virtual-time limit and counts steps.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rswan_ikev2::config::Config;
use rswan_ikev2::endpoint::Endpoint;
use rswan_ikev2::event::Event;
use rswan_ikev2::output::{Command, KernelEvent, Output};
use rswan_ikev2::rng::TestRng;

use super::clock::Clock;
use super::kernel::KernelModel;
use super::link::{Datagram, Link};

/// Hard bound on loop turns over a world's life, so that no scenario can spin forever whatever the
/// core does (each run also has its own virtual-time limit).
pub const DEFAULT_MAX_STEPS: u64 = 200_000;

pub struct Peer {
    pub name: &'static str,
    pub addr: SocketAddr,
    pub config: Config,
    pub ep: Endpoint<TestRng>,
    pub kernel: KernelModel,
    /// Every event with the virtual time at which it came out.
    pub events: Vec<(Duration, Event)>,
    /// Every datagram this peer sent, with the virtual send time.
    pub sent: Vec<(Duration, Datagram)>,
    /// Datagrams handed to this peer.
    pub received: u64,
    seed: u64,
}

impl Peer {
    fn new(name: &'static str, addr: SocketAddr, config: Config, seed: u64) -> Peer {
        Peer {
            name,
            addr,
            ep: Endpoint::new(config.clone(), TestRng::new(seed)),
            config,
            kernel: KernelModel::default(),
            events: Vec::new(),
            sent: Vec::new(),
            received: 0,
            seed,
        }
    }

    pub fn events(&self) -> impl Iterator<Item = &Event> {
        self.events.iter().map(|(_, e)| e)
    }

    /// This peer's kernel reports the soft lifetime of its inbound SA `spi` at `now`, as an
    /// XFRM EXPIRE with `hard` clear.
    pub fn soft_expire(&mut self, now: Instant, spi: u32) {
        let dst = self.addr.ip();
        self.ep.handle_kernel(
            now,
            KernelEvent::Expire {
                dst,
                spi,
                hard: false,
            },
        );
    }
}

/// Why a run stopped without its condition becoming true.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Nothing in flight and neither peer has a deadline: nothing will ever happen again.
    Idle,
    /// The virtual-time limit of the run was reached.
    TimeLimit,
    /// The step limit was reached (a core that keeps asking to be woken at the same instant).
    StepLimit,
}

pub struct World {
    pub clock: Clock,
    pub link: Link,
    pub a: Peer,
    pub b: Peer,
    pub steps: u64,
    pub max_steps: u64,
    /// Print every event and datagram (shown by `cargo test` only when a test fails).
    pub trace: bool,
    /// The side that last initiated, so checks know which role each peer should show.
    pub initiator: Side,
    /// Wall-clock time (Unix seconds) at the world's start; when set, both endpoints are told
    /// `start + elapsed` before every input, as the driver does (certificate validity).
    pub wall_clock: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    A,
    B,
}

impl World {
    pub fn new(
        a_addr: SocketAddr,
        a_cfg: Config,
        b_addr: SocketAddr,
        b_cfg: Config,
        seed: u64,
    ) -> World {
        World {
            clock: Clock::new(),
            link: Link::new(a_addr, b_addr, seed),
            a: Peer::new("A", a_addr, a_cfg, seed.wrapping_mul(2).wrapping_add(1)),
            b: Peer::new("B", b_addr, b_cfg, seed.wrapping_mul(2).wrapping_add(2)),
            steps: 0,
            max_steps: DEFAULT_MAX_STEPS,
            trace: true,
            initiator: Side::A,
            wall_clock: None,
        }
    }

    /// Tells both endpoints the wall-clock time, if the world has one.
    fn sync_wall_clock(&mut self) {
        if let Some(start) = self.wall_clock {
            let t = start + self.clock.elapsed().as_secs();
            self.a.ep.set_wall_clock(t);
            self.b.ep.set_wall_clock(t);
        }
    }

    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    pub fn elapsed(&self) -> Duration {
        self.clock.elapsed()
    }

    pub fn peer(&mut self, s: Side) -> &mut Peer {
        match s {
            Side::A => &mut self.a,
            Side::B => &mut self.b,
        }
    }

    pub fn command(&mut self, s: Side, cmd: Command) {
        self.sync_wall_clock();
        let now = self.now();
        self.peer(s).ep.handle_command(now, cmd);
        self.pump();
    }

    /// A's kernel reports the soft lifetime of A's inbound SA `spi` while B is given `cmd` at the
    /// same instant: both sides send before either hears from the other, so A's rekey request and
    /// whatever `cmd` makes B send cross on the wire.
    pub fn soft_expire_crossing(&mut self, spi: u32, cmd: Command) {
        let now = self.now();
        self.a.soft_expire(now, spi);
        self.b.ep.handle_command(now, cmd);
        self.pump();
    }

    /// Initiates `conn` on `s` (its first child).
    pub fn initiate(&mut self, s: Side, conn: &str) {
        self.initiator = s;
        self.command(
            s,
            Command::Initiate {
                conn: conn.to_string(),
                child: None,
            },
        );
    }

    /// The peer loses all state, as a daemon restart would (the kernel model is kept only if
    /// `keep_kernel`; a restarted daemon flushes what it owned).
    pub fn restart(&mut self, s: Side, keep_kernel: bool) {
        let p = self.peer(s);
        p.seed = p.seed.wrapping_add(0x1000);
        p.ep = Endpoint::new(p.config.clone(), TestRng::new(p.seed));
        if !keep_kernel {
            p.kernel = KernelModel::default();
        }
    }

    /// Drains both peers' outputs until neither has anything left: datagrams go onto the link,
    /// kernel ops are applied to the model and answered immediately, events are recorded.
    pub fn pump(&mut self) {
        let now = self.clock.now();
        let elapsed = self.clock.elapsed();
        for side in [Side::A, Side::B] {
            let trace = self.trace;
            let (p, link) = match side {
                Side::A => (&mut self.a, &mut self.link),
                Side::B => (&mut self.b, &mut self.link),
            };
            let mut guard = 0u32;
            while let Some(out) = p.ep.poll_output() {
                guard += 1;
                assert!(guard < 100_000, "peer {} produced unbounded output", p.name);
                match out {
                    Output::Send { from, to, bytes } => {
                        if trace {
                            eprintln!(
                                "[{elapsed:>10.3?}] {} send {} bytes {from} -> {to}",
                                p.name,
                                bytes.len()
                            );
                        }
                        assert_eq!(
                            from.ip(),
                            p.addr.ip(),
                            "peer {} sends from a foreign address",
                            p.name
                        );
                        let d = Datagram { from, to, bytes };
                        p.sent.push((elapsed, d.clone()));
                        link.send(now, d);
                    }
                    Output::Kernel { token, op } => {
                        let result = p.kernel.apply(now, &op).map_err(super::kernel::typed_error);
                        if trace {
                            eprintln!("[{elapsed:>10.3?}] {} kernel {op:?} -> {result:?}", p.name);
                        }
                        p.ep.handle_kernel(now, KernelEvent::OpResult { token, result });
                    }
                    Output::Event(e) => {
                        if trace {
                            eprintln!("[{elapsed:>10.3?}] {} event: {e}", p.name);
                        }
                        p.events.push((elapsed, e));
                    }
                }
            }
        }
    }

    /// The earliest instant at which something happens, if anything will.
    pub fn next_wakeup(&self) -> Option<Instant> {
        [
            self.link.next_delivery(),
            self.a.ep.poll_timeout(),
            self.b.ep.poll_timeout(),
            self.a.kernel.next_expiry(),
            self.b.kernel.next_expiry(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Everything due at the current instant: outputs, datagrams whose delivery time has come,
    /// kernel lifetime expiries, timers whose deadline has passed.
    fn process(&mut self) -> Result<(), Stop> {
        self.steps += 1;
        if self.steps > self.max_steps {
            return Err(Stop::StepLimit);
        }
        self.sync_wall_clock();
        self.pump();
        let now = self.clock.now();
        while let Some(d) = self.link.pop_due(now) {
            let p = if d.to.ip() == self.a.addr.ip() {
                &mut self.a
            } else {
                &mut self.b
            };
            p.received += 1;
            p.ep.handle_datagram(now, d.to, d.from, &d.bytes);
            self.pump();
        }
        for side in [Side::A, Side::B] {
            let due = self.peer(side).kernel.take_due_expiries(now);
            for x in due {
                if self.trace {
                    eprintln!(
                        "[{:>10.3?}] {side:?} kernel expire {x:?}",
                        self.clock.elapsed()
                    );
                }
                let ev = KernelEvent::Expire {
                    dst: x.dst,
                    spi: x.spi,
                    hard: x.hard,
                };
                self.peer(side).ep.handle_kernel(now, ev);
                self.pump();
            }
        }
        for side in [Side::A, Side::B] {
            let p = self.peer(side);
            if p.ep.poll_timeout().is_some_and(|t| t <= now) {
                p.ep.handle_timeout(now);
                self.pump();
            }
        }
        Ok(())
    }

    /// Jumps the clock to the next thing scheduled, but not beyond `limit`.
    fn advance(&mut self, limit: Instant) -> Result<(), Stop> {
        match self.next_wakeup() {
            None => Err(Stop::Idle),
            Some(t) if t > limit => {
                self.clock.advance_to(limit);
                Err(Stop::TimeLimit)
            }
            Some(t) => {
                self.clock.advance_to(t);
                Ok(())
            }
        }
    }

    /// One turn of the loop at the current instant, then one jump of the clock (not beyond
    /// `limit`). Returns `Err` if nothing can happen any more or a bound was hit.
    pub fn step(&mut self, limit: Instant) -> Result<(), Stop> {
        self.process()?;
        self.advance(limit)
    }

    /// Runs until `done` holds (checked after everything due at an instant was processed, before
    /// the clock moves on), for at most `max` of virtual time from now. Returns the virtual time
    /// (since the start of the world) at which `done` first held.
    pub fn run_until(
        &mut self,
        max: Duration,
        mut done: impl FnMut(&World) -> bool,
    ) -> Result<Duration, Stop> {
        let limit = self.clock.now() + max;
        loop {
            self.process()?;
            if done(self) {
                return Ok(self.elapsed());
            }
            self.advance(limit)?;
        }
    }

    /// `run_until(limit, done)` that must succeed: otherwise the test fails naming `what`, why the
    /// run stopped and both sides' state ([`World::state`]). Returns the virtual time (since the
    /// start of the world) at which `done` first held.
    pub fn must(
        &mut self,
        limit: Duration,
        done: impl FnMut(&World) -> bool,
        what: &str,
    ) -> Duration {
        match self.run_until(limit, done) {
            Ok(t) => t,
            Err(stop) => panic!("{what}: {stop:?}: {}", self.state()),
        }
    }

    /// Asserts `cond` on the world as it is; on failure names `what` and both sides' state.
    pub fn check(&self, cond: impl FnOnce(&World) -> bool, what: &str) {
        assert!(cond(self), "{what}: {}", self.state());
    }

    /// Both sides as a failing test shows them: the IKE SAs `status()` lists, the failures
    /// reported so far and the SAs in the model kernel.
    pub fn state(&self) -> String {
        let side = |p: &Peer| {
            format!(
                "{} IKE SAs {:?}, failures {:?}, kernel SAs {:?}",
                p.name,
                super::ike_sas(p),
                super::failures(p),
                p.kernel.sas.keys().collect::<Vec<_>>()
            )
        };
        format!("{}; {}", side(&self.a), side(&self.b))
    }

    /// Changes peer `s`'s configuration and reloads its endpoint with it, now.
    pub fn reconfigure(&mut self, s: Side, f: impl FnOnce(&mut Config)) {
        let now = self.now();
        let p = self.peer(s);
        f(&mut p.config);
        let cfg = p.config.clone();
        p.ep.reload(now, cfg);
    }

    /// Runs for `d` of virtual time (or until nothing is scheduled any more), whatever happens.
    pub fn run_for(&mut self, d: Duration) -> Stop {
        let limit = self.clock.now() + d;
        loop {
            if let Err(stop) = self.step(limit) {
                if stop == Stop::Idle {
                    self.clock.advance_to(limit);
                }
                return stop;
            }
        }
    }

    /// Runs until neither peer nor the link has anything scheduled before `max` from now (timers
    /// further out, such as rekeying, do not count).
    pub fn settle(&mut self, max: Duration) -> Stop {
        self.run_for(max)
    }
}
