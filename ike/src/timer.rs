//! The timer formulas both IKE versions share, in one place.
//!
//! Retransmission backoff, half-open expiry, cookie secret rotation, fragment reassembly timeout,
//! Child and IKE SA lifetimes with their random jitter, TEMPORARY_FAILURE retries, dead peer
//! detection with the ESP counter reads it needs, and NAT keepalives: each is a pure function of
//! the configuration, a passed-in time and (for jitter) a passed-in random draw, so an IKEv1 core
//! computes exactly what the IKEv2 core does. Which event arms which deadline of which SA is the
//! protocol crate's business: rswan-ikev2 keeps its named hooks (`on_ike_established`,
//! `on_child_installed`, ...) in its own `timer` module on top of these formulas.

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

/// Whether the cookie secret generated at `rotated` is due for replacement at `now`.
pub fn cookie_secret_expired(rotated: Instant, now: Instant) -> bool {
    now.saturating_duration_since(rotated) >= COOKIE_SECRET_LIFETIME
}

/// When an incomplete fragmented message whose first fragment came at `started` is given up
/// (`fragment_timeout`).
pub fn reassembly_deadline(started: Instant, timeout: Duration) -> Instant {
    started + timeout
}

/// Dead peer detection mode (`dpd_mode`; `dpd_delay = 0` disables it whatever the mode).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DpdMode {
    /// Probe when nothing came from the peer for `dpd_delay`: no IKE message and no rise of the
    /// inbound ESP byte counters the driver reports (strongSwan's behaviour).
    #[default]
    OnDemand,
    /// Probe only when there was no traffic in either direction for `dpd_delay`.
    OnIdle,
    /// Answer the peer's probes, never send any.
    Disabled,
}

/// Per-connection lifecycle knobs that the connection and child configurations do not carry (swanctl.conf
/// `rand_time`, `over_time`, `dpd_mode`). `None` means swanctl's default.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConnTimers {
    pub dpd_mode: DpdMode,
    /// IKE SA `rand_time` (default: `over_time`).
    pub ike_rand_time: Option<Duration>,
    /// IKE SA `over_time` (default: 10 % of `rekey_time`): the IKE SA is closed if no rekey
    /// succeeded by `rekey_time + over_time`.
    pub ike_over_time: Option<Duration>,
    /// Child SA `rand_time` (default: `life_time - rekey_time`).
    pub child_rand_time: Option<Duration>,
    /// IKE SA `reauth_time` (0 / `None` = never): break-before-make reauthentication, done by the
    /// side that can initiate the connection; jittered like the IKE rekey.
    pub reauth_time: Option<Duration>,
}

/// When a Child SA is rekeyed and when it dies, from its configuration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChildLifetimes {
    /// Rekey after this long (already reduced by the random jitter); zero = never.
    pub rekey_after: Duration,
    /// Delete after this long; zero = never.
    pub life: Duration,
    pub rekey_bytes: u64,
    pub life_bytes: u64,
}

/// Subtracts `rand % range` (a uniform-ish draw below `range`) from `base`, as swanctl's
/// `rand_time` does, so that two peers with the same configuration rarely rekey at once.
pub fn jittered(base: Duration, range: Duration, rand: u64) -> Duration {
    let range_ms = u64::try_from(range.as_millis()).unwrap_or(u64::MAX);
    if range_ms == 0 {
        return base;
    }
    base.saturating_sub(Duration::from_millis(rand % range_ms))
}

impl ChildLifetimes {
    /// The configured lifetimes (`rekey_after` = `rekey_time`, not yet jittered) with the rekey
    /// moved earlier by up to `rand_time` (default: `life_time - rekey_time`).
    pub fn with_jitter(self, rand_time: Option<Duration>, rand: u64) -> Self {
        let range = rand_time.unwrap_or_else(|| self.life.saturating_sub(self.rekey_after));
        let rekey_after = if self.rekey_after.is_zero() {
            Duration::ZERO
        } else {
            // Never jitter down to zero, which would mean "never".
            jittered(self.rekey_after, range, rand).max(Duration::from_secs(1))
        };
        ChildLifetimes {
            rekey_after,
            ..self
        }
    }

    /// The limits handed to the kernel: the soft time equals our own rekey timer (whichever
    /// fires first starts the rekey; the other finds it under way), bytes are left to the kernel.
    pub fn kernel(&self) -> crate::kernel::Lifetime {
        crate::kernel::Lifetime {
            soft_time: self.rekey_after,
            hard_time: self.life,
            soft_bytes: self.rekey_bytes,
            hard_bytes: self.life_bytes,
        }
    }

    pub fn rekey_at(&self, installed: Instant) -> Option<Instant> {
        (!self.rekey_after.is_zero()).then(|| installed + self.rekey_after)
    }

    pub fn expire_at(&self, installed: Instant) -> Option<Instant> {
        (!self.life.is_zero()).then(|| installed + self.life)
    }
}

/// IKE SA rekey deadline and the deadline after which an unrekeyed IKE SA is closed.
pub fn ike_rekey_deadlines(
    established: Instant,
    rekey_time: Duration,
    timers: Option<&ConnTimers>,
    rand: u64,
) -> (Option<Instant>, Option<Instant>) {
    if rekey_time.is_zero() {
        return (None, None);
    }
    let over = timers
        .and_then(|t| t.ike_over_time)
        .unwrap_or(rekey_time / 10);
    let range = timers.and_then(|t| t.ike_rand_time).unwrap_or(over);
    let rekey = jittered(rekey_time, range, rand).max(Duration::from_secs(1));
    (
        Some(established + rekey),
        Some(established + rekey_time + over),
    )
}

/// How long to wait before retrying a request the peer answered with TEMPORARY_FAILURE (RFC 7296
/// section 2.25: not immediately, so that the peer can finish what it is doing). Random in
/// 1..=4 s, so that two peers that refused each other do not collide again.
pub fn temporary_failure_retry(rand: u64) -> Duration {
    Duration::from_millis(1_000 + rand % 3_000)
}

/// When an IKE SA established at `established` is reauthenticated (`None`: never).
pub fn reauth_deadline(
    established: Instant,
    timers: Option<&ConnTimers>,
    rand: u64,
) -> Option<Instant> {
    let t = timers
        .and_then(|t| t.reauth_time)
        .filter(|t| !t.is_zero())?;
    let range = timers.and_then(|t| t.ike_rand_time).unwrap_or(t / 10);
    Some(established + jittered(t, range, rand).max(Duration::from_secs(1)))
}

/// How long a rekeyed IKE SA waits for its Delete beyond the retransmit budget before it is
/// removed without one (the peer's Delete was lost for good).
pub const REKEYED_IKE_SA_GRACE: Duration = Duration::from_secs(30);

/// After this many TEMPORARY_FAILURE answers in a row the request is given up.
pub const TEMPORARY_FAILURE_MAX_RETRIES: u32 = 10;

/// When the next DPD probe is due: `dpd_delay` after the last sign of life that counts for the
/// mode. `None` when DPD is off.
pub fn dpd_deadline(mode: DpdMode, delay: Duration, last_activity: Instant) -> Option<Instant> {
    if delay.is_zero() || mode == DpdMode::Disabled {
        return None;
    }
    Some(last_activity + delay)
}

/// Clears `deadline` and says so if it has come: the handler that acts on it runs once.
pub fn take_due(deadline: &mut Option<Instant>, now: Instant) -> bool {
    if deadline.is_some_and(|d| now >= d) {
        *deadline = None;
        return true;
    }
    false
}

/// How often the driver reads the ESP counters of the SAs DPD watches (`dpd_delay`): twice per
/// delay, so that a rise is noticed before a probe would be due, at most once a second.
pub fn counter_poll_interval(dpd_delay: Duration) -> Duration {
    (dpd_delay / 2).max(Duration::from_secs(1))
}

/// When the driver reads ESP counters next: `interval` after the last read, or after `needed_since`
/// (the first IKE SA that needs them) before any read. `None` if that is beyond the clock's range.
pub fn counter_poll_deadline(
    last_read: Option<Instant>,
    needed_since: Instant,
    interval: Duration,
) -> Option<Instant> {
    last_read.unwrap_or(needed_since).checked_add(interval)
}

/// The IANA port for IKE and ESP-in-UDP after NAT detection (RFC 3948, RFC 7296 section 2.23):
/// the port a floating initiator sends to.
pub const NATT_PORT: u16 = 4500;

/// The IKE port (RFC 7296 section 2): an initiator on it floats to the NAT-T port.
pub const IKE_PORT: u16 = 500;

/// NAT traversal knobs (strongswan.conf `port_nat_t`, `keep_alive`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NattPolicy {
    /// Our local NAT-T port: IKE floats to it, and ESP-in-UDP SAs use it as our side's port.
    pub port: u16,
    /// NAT keepalive interval for the side behind a NAT (zero = no keepalives). RFC 3948 section
    /// 4 suggests 20 s, strongSwan's default.
    pub keepalive: Duration,
}

impl Default for NattPolicy {
    fn default() -> Self {
        NattPolicy {
            port: NATT_PORT,
            keepalive: Duration::from_secs(20),
        }
    }
}

/// When the next NAT keepalive is due: `interval` after the last datagram we sent to the peer,
/// only for the side behind a NAT (its mapping is what would time out). `None`: none due.
pub fn keepalive_deadline(
    behind_nat: bool,
    interval: Duration,
    last_sent: Option<Instant>,
) -> Option<Instant> {
    if !behind_nat || interval.is_zero() {
        return None;
    }
    Some(last_sent? + interval)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keepalives_only_behind_nat_and_after_silence() {
        let t0 = Instant::now();
        let i = Duration::from_secs(20);
        assert_eq!(keepalive_deadline(true, i, Some(t0)), Some(t0 + i));
        assert_eq!(keepalive_deadline(false, i, Some(t0)), None);
        assert_eq!(keepalive_deadline(true, Duration::ZERO, Some(t0)), None);
        assert_eq!(keepalive_deadline(true, i, None), None);
        assert_eq!(NattPolicy::default().keepalive, i);
    }

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

    #[test]
    fn ike_rekey_defaults_to_ten_percent_over_time() {
        let t0 = Instant::now();
        let (r, e) = ike_rekey_deadlines(t0, Duration::from_secs(14_400), None, 5_000_000);
        let r = r.unwrap() - t0;
        assert!(r <= Duration::from_secs(14_400) && r >= Duration::from_secs(12_960));
        assert_eq!(e, Some(t0 + Duration::from_secs(15_840)));
        assert_eq!(
            ike_rekey_deadlines(t0, Duration::ZERO, None, 1),
            (None, None)
        );
    }

    #[test]
    fn dpd_off_when_delay_zero_or_disabled() {
        let t0 = Instant::now();
        let d = Duration::from_secs(30);
        assert_eq!(dpd_deadline(DpdMode::OnDemand, d, t0), Some(t0 + d));
        assert_eq!(dpd_deadline(DpdMode::OnIdle, Duration::ZERO, t0), None);
        assert_eq!(dpd_deadline(DpdMode::Disabled, d, t0), None);
    }

    #[test]
    fn temporary_failure_retry_waits_one_to_four_seconds() {
        for r in [0u64, 2_999, 3_000, u64::MAX] {
            let d = temporary_failure_retry(r);
            assert!(
                d >= Duration::from_secs(1) && d < Duration::from_secs(4),
                "{d:?}"
            );
        }
    }

    #[test]
    fn a_deadline_fires_once_and_only_when_due() {
        let t0 = Instant::now();
        let mut d = Some(t0 + Duration::from_secs(5));
        assert!(!take_due(&mut d, t0));
        assert!(d.is_some());
        assert!(take_due(&mut d, t0 + Duration::from_secs(5)));
        assert_eq!(d, None);
        assert!(!take_due(&mut d, t0 + Duration::from_secs(6)));
    }
}
