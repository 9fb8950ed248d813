//! Every timer policy of the core in one place.
//!
//! The rest of the core never computes a deadline itself: it asks this module ("when do I retransmit
//! next?", "when does this half-open SA expire?") so that the whole timing behaviour can be read, and
//! tuned, here. Later policies (DPD, rekey, lifetimes, keepalives) belong here too.

use std::time::{Duration, Instant};

/// Retransmission of our own requests (RFC 7296 section 2.1), with strongSwan's defaults:
/// `retransmit_timeout` 4 s, `retransmit_base` 1.8, `retransmit_tries` 5, so a silent peer is given up
/// after about 165 s.
#[derive(Clone, Debug, PartialEq)]
pub struct RetransmitPolicy {
    /// Wait before the first retransmission.
    pub timeout: Duration,
    /// Each further wait is the previous one times this factor.
    pub base: f64,
    /// Retransmissions after the first send; the request is abandoned when the wait after the last
    /// one expires.
    pub tries: u32,
    /// Upper bound for a single wait (strongSwan's `retransmit_limit`); `None` means unbounded.
    pub limit: Option<Duration>,
}

impl Default for RetransmitPolicy {
    fn default() -> Self {
        RetransmitPolicy {
            timeout: Duration::from_secs(4),
            base: 1.8,
            tries: 5,
            limit: None,
        }
    }
}

impl RetransmitPolicy {
    /// How long to wait after send number `sent` (0 = the original transmission) before either
    /// retransmitting or, once `sent == tries`, giving up.
    pub fn wait_after(&self, sent: u32) -> Duration {
        // A base below 1 would shrink the waits; treat it as a constant interval instead.
        let base = if self.base.is_finite() && self.base >= 1.0 {
            self.base
        } else {
            1.0
        };
        let exp = i32::try_from(sent).unwrap_or(i32::MAX);
        let secs = self.timeout.as_secs_f64() * base.powi(exp);
        // Duration::from_secs_f64 panics on overflow; clamp to a day, far beyond any sane budget.
        let secs = if secs.is_finite() {
            secs.min(86_400.0)
        } else {
            86_400.0
        };
        let wait = Duration::from_secs_f64(secs);
        match self.limit {
            Some(limit) if wait > limit => limit,
            _ => wait,
        }
    }

    /// The total time from the first send until the request is abandoned.
    pub fn budget(&self) -> Duration {
        (0..=self.tries).map(|n| self.wait_after(n)).sum()
    }
}

/// What the retransmit timer of an outstanding request says should happen at its deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetransmitAction {
    /// Resend the request; the new deadline is already armed.
    Resend,
    /// The budget is spent: the peer is considered lost.
    GiveUp { retransmits: u32 },
}

/// The retransmit state of one outstanding request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetransmitTimer {
    sent: u32,
    deadline: Instant,
}

impl RetransmitTimer {
    /// Arms the timer for a request first sent at `now`.
    pub fn start(policy: &RetransmitPolicy, now: Instant) -> Self {
        RetransmitTimer {
            sent: 0,
            deadline: now + policy.wait_after(0),
        }
    }

    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Retransmissions made so far (the original send is not counted).
    pub fn retransmits(&self) -> u32 {
        self.sent
    }

    /// Called when `now >= deadline()`. Either re-arms for one more retransmission or gives up.
    pub fn expire(&mut self, policy: &RetransmitPolicy, now: Instant) -> RetransmitAction {
        if self.sent >= policy.tries {
            return RetransmitAction::GiveUp {
                retransmits: self.sent,
            };
        }
        self.sent += 1;
        self.deadline = now + policy.wait_after(self.sent);
        RetransmitAction::Resend
    }
}

/// How long a responder keeps an IKE SA that answered IKE_SA_INIT but has not seen IKE_AUTH
/// (strongSwan `half_open_timeout`, 30 s).
pub const DEFAULT_HALF_OPEN_TIMEOUT: Duration = Duration::from_secs(30);

/// Half-open SAs above which IKE_SA_INIT requests must echo a COOKIE (strongSwan `cookie_threshold`).
pub const DEFAULT_COOKIE_THRESHOLD: usize = 30;

/// The deadline at which a responder's half-open IKE SA created at `created` is dropped.
pub fn half_open_deadline(created: Instant, timeout: Duration) -> Instant {
    created + timeout
}

/// How long a generated COOKIE secret is used before it is replaced (RFC 7296 section 2.6 suggests
/// regenerating it periodically; the previous version stays valid for one more period so that a
/// client that fetched a cookie just before the change is not rejected).
pub const COOKIE_SECRET_LIFETIME: Duration = Duration::from_secs(120);

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: Duration, b: Duration) -> bool {
        let d = a.as_secs_f64() - b.as_secs_f64();
        d.abs() < 1e-6
    }

    #[test]
    fn default_schedule_matches_strongswan() {
        let p = RetransmitPolicy::default();
        let expected = [4.0, 7.2, 12.96, 23.328, 41.9904, 75.58272];
        for (n, secs) in expected.iter().enumerate() {
            assert!(
                close(p.wait_after(n as u32), Duration::from_secs_f64(*secs)),
                "wait after send {n}: {:?}",
                p.wait_after(n as u32)
            );
        }
        // strongSwan documents "about 165 s" until a peer is declared dead.
        let total = p.budget().as_secs_f64();
        assert!((165.0..166.0).contains(&total), "budget {total}");
    }

    #[test]
    fn timer_resends_tries_times_then_gives_up() {
        let p = RetransmitPolicy {
            timeout: Duration::from_secs(1),
            base: 2.0,
            tries: 3,
            limit: None,
        };
        let t0 = Instant::now();
        let mut t = RetransmitTimer::start(&p, t0);
        assert_eq!(t.deadline(), t0 + Duration::from_secs(1));
        let mut now = t.deadline();
        let mut waits = Vec::new();
        loop {
            match t.expire(&p, now) {
                RetransmitAction::Resend => {
                    waits.push(t.deadline() - now);
                    now = t.deadline();
                }
                RetransmitAction::GiveUp { retransmits } => {
                    assert_eq!(retransmits, 3);
                    break;
                }
            }
        }
        assert_eq!(
            waits,
            vec![
                Duration::from_secs(2),
                Duration::from_secs(4),
                Duration::from_secs(8)
            ]
        );
        assert_eq!(now - t0, p.budget());
    }

    #[test]
    fn limit_caps_each_wait_and_odd_bases_do_not_panic() {
        let p = RetransmitPolicy {
            timeout: Duration::from_secs(4),
            base: 1.8,
            tries: 50,
            limit: Some(Duration::from_secs(60)),
        };
        assert_eq!(p.wait_after(40), Duration::from_secs(60));
        let weird = RetransmitPolicy {
            timeout: Duration::from_secs(4),
            base: f64::NAN,
            tries: 3,
            limit: None,
        };
        assert_eq!(weird.wait_after(2), Duration::from_secs(4));
        let huge = RetransmitPolicy {
            timeout: Duration::from_secs(4),
            base: 1e300,
            tries: u32::MAX,
            limit: None,
        };
        assert_eq!(huge.wait_after(u32::MAX), Duration::from_secs(86_400));
    }

    #[test]
    fn zero_tries_gives_up_at_first_deadline() {
        let p = RetransmitPolicy {
            tries: 0,
            ..RetransmitPolicy::default()
        };
        let t0 = Instant::now();
        let mut t = RetransmitTimer::start(&p, t0);
        assert_eq!(
            t.expire(&p, t.deadline()),
            RetransmitAction::GiveUp { retransmits: 0 }
        );
    }
}
