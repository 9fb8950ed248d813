#![allow(dead_code)] // shared by several test binaries, each using a subset
//! Virtual time: a fixed base `Instant` plus an offset that only the driver loop advances.

use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug)]
pub struct Clock {
    base: Instant,
    now: Instant,
}

impl Clock {
    pub fn new() -> Clock {
        let base = Instant::now();
        Clock { base, now: base }
    }

    pub fn now(&self) -> Instant {
        self.now
    }

    /// Virtual time since the harness started.
    pub fn elapsed(&self) -> Duration {
        self.now - self.base
    }

    /// Moves forward to `t`; never backwards (a deadline already in the past is "now").
    pub fn advance_to(&mut self, t: Instant) {
        if t > self.now {
            self.now = t;
        }
    }

    pub fn advance(&mut self, d: Duration) {
        self.now += d;
    }

    /// The instant `d` after the harness started.
    pub fn at(&self, d: Duration) -> Instant {
        self.base + d
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}
