//! The IKEv2 timer hooks: which event arms or clears which deadline of an IKE or Child SA.
//!
//! The formulas (retransmit backoff, lifetimes and their jitter, DPD, keepalives, half-open and
//! cookie timeouts) are version-neutral and live in `rswan_ike::timer`; they are re-exported here
//! so that the rest of the core names every timer through this one module. The rest of the core
//! never computes or writes a deadline itself. It tells this module what happened, by name, as
//! WireGuard's `timers.c` is told (`on_half_open_created`, `on_ike_established`,
//! `on_ike_superseded`, `on_child_installed`, `on_temporary_failure`, ...), and the hook arms or
//! clears the deadlines in [`IkeDeadlines`] and [`ChildDeadlines`]; when a deadline has come,
//! [`take_due`] clears it for the one handler that acts on it. Deadlines that follow from other
//! state (retransmission, DPD, NAT keepalive, counter polls) are asked for ("when do I retransmit
//! next?"). So the whole timing behaviour of the IKEv2 core can be read, and tuned, here and in the
//! base module.

use std::time::{Duration, Instant};

pub use rswan_ike::timer::{
    cookie_secret_expired, counter_poll_deadline, counter_poll_interval, dpd_deadline,
    half_open_deadline, ike_rekey_deadlines, jittered, keepalive_deadline, reassembly_deadline,
    reauth_deadline, take_due, temporary_failure_retry, ChildLifetimes, ConnTimers, DpdMode,
    NattPolicy, RetransmitAction, RetransmitPolicy, RetransmitTimer, COOKIE_SECRET_LIFETIME,
    DEFAULT_COOKIE_THRESHOLD, DEFAULT_HALF_OPEN_TIMEOUT, IKE_PORT, NATT_PORT, REKEYED_IKE_SA_GRACE,
    TEMPORARY_FAILURE_MAX_RETRIES,
};

/// The deadlines one IKE SA carries. Only the hooks in this module set them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IkeDeadlines {
    /// Responder: the SA is dropped if IKE_AUTH has not completed by then.
    pub half_open: Option<Instant>,
    /// IKE SA rekey (jittered `rekey_time`); `None` when disabled, under way or done.
    pub rekey: Option<Instant>,
    /// The IKE SA is deleted if no rekey succeeded by then (`rekey_time + over_time`).
    pub rekey_overdue: Option<Instant>,
    /// Break-before-make reauthentication (`reauth_time`).
    pub reauth: Option<Instant>,
    /// A rekeyed or redundant IKE SA is removed by then without waiting further for its Delete.
    pub retire: Option<Instant>,
}

impl IkeDeadlines {
    /// Every armed deadline, for the SA's earliest one.
    pub fn all(&self) -> impl Iterator<Item = Instant> {
        [
            self.half_open,
            self.rekey,
            self.rekey_overdue,
            self.reauth,
            self.retire,
        ]
        .into_iter()
        .flatten()
    }
}

/// The deadlines one Child SA carries. Only the hooks in this module set them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChildDeadlines {
    /// Jittered rekey deadline (`rekey_time - rand`), `None` when disabled or started.
    pub rekey: Option<Instant>,
    /// Hard lifetime (`life_time`): deleted then if not rekeyed.
    pub hard_expire: Option<Instant>,
}

/// A responder answered IKE_SA_INIT: the SA is half-open until IKE_AUTH completes.
pub fn on_half_open_created(d: &mut IkeDeadlines, now: Instant, timeout: Duration) {
    d.half_open = Some(half_open_deadline(now, timeout));
}

/// IKE_AUTH completed: no longer half-open; rekey, give-up and (for a side that can initiate)
/// reauthentication deadlines are armed. `rand` is drawn once for the rekey jitter and once more
/// for the reauthentication jitter when `can_reauth`.
pub fn on_ike_established(
    d: &mut IkeDeadlines,
    now: Instant,
    rekey_time: Option<Duration>,
    timers: Option<&ConnTimers>,
    can_reauth: bool,
    mut rand: impl FnMut() -> u64,
) {
    d.half_open = None;
    let Some(rekey_time) = rekey_time else {
        return;
    };
    (d.rekey, d.rekey_overdue) = ike_rekey_deadlines(now, rekey_time, timers, rand());
    if can_reauth {
        d.reauth = reauth_deadline(now, timers, rand());
    }
}

/// The IKE SA `d` was created by rekeying `old`: its own rekey deadlines start now; a rekey does
/// not reauthenticate, so the reauthentication deadline carries over.
pub fn on_ike_rekeyed(
    d: &mut IkeDeadlines,
    old: &IkeDeadlines,
    now: Instant,
    rekey_time: Duration,
    timers: Option<&ConnTimers>,
    rand: u64,
) {
    (d.rekey, d.rekey_overdue) = ike_rekey_deadlines(now, rekey_time, timers, rand);
    d.reauth = old.reauth;
}

/// A new IKE SA took over from this one: it only waits for its Delete, and goes on its own
/// should that never come (the peer's Delete lost for good).
pub fn on_ike_superseded(d: &mut IkeDeadlines, now: Instant, retransmit_budget: Duration) {
    d.rekey = None;
    d.rekey_overdue = None;
    d.retire = Some(now + retransmit_budget + REKEYED_IKE_SA_GRACE);
}

/// A new IKE SA lost a rekey collision (RFC 7296 section 2.8.2): ours is deleted by us at once
/// (`deleting_it`); the peer's waits for the peer's Delete, at most a grace period.
pub fn on_ike_redundant(d: &mut IkeDeadlines, now: Instant, deleting_it: bool) {
    d.rekey = None;
    d.reauth = None;
    d.rekey_overdue = None;
    d.retire = if deleting_it {
        None
    } else {
        Some(now + REKEYED_IKE_SA_GRACE)
    };
}

/// A Child SA was installed at `now` with these lifetimes.
pub fn on_child_installed(limits: &ChildLifetimes, now: Instant) -> ChildDeadlines {
    ChildDeadlines {
        rekey: limits.rekey_at(now),
        hard_expire: limits.expire_at(now),
    }
}

/// A rekey of the Child SA started on the kernel's soft lifetime instead of our own timer.
pub fn on_child_soft_expired(d: &mut ChildDeadlines) {
    d.rekey = None;
}

/// The Child SA lost a rekey collision (RFC 7296 section 2.8.1): it is deleted, never rekeyed
/// or expired.
pub fn on_child_redundant(d: &mut ChildDeadlines) {
    *d = ChildDeadlines::default();
}

/// The peer answered `what` with TEMPORARY_FAILURE: it is retried after a random delay (RFC 7296
/// section 2.25), which is returned for the log.
pub fn on_temporary_failure<P>(
    deferred: &mut Vec<(Instant, P)>,
    what: P,
    now: Instant,
    rand: u64,
) -> Duration {
    let delay = temporary_failure_retry(rand);
    deferred.push((now + delay, what));
    delay
}

#[cfg(test)]
mod tests {
    use super::*;

    fn child(rekey: u64, life: u64) -> crate::config::ChildConfig {
        crate::config::ChildConfig {
            name: "net".into(),
            local_ts: Vec::new(),
            remote_ts: Vec::new(),
            esp_proposals: crate::proposal::ProposalSet::default_esp(),
            mode: crate::config::Mode::Tunnel,
            start_action: crate::config::Action::None,
            dpd_action: crate::config::Action::None,
            close_action: crate::config::Action::None,
            rekey_time: Duration::from_secs(rekey),
            life_time: Duration::from_secs(life),
            rekey_bytes: 500,
            life_bytes: 1000,
        }
    }

    #[test]
    fn child_rekey_is_jittered_below_rekey_time_within_rand_time() {
        let settings = crate::config::Settings::default();
        let cc = child(3600, 3960);
        let mut seen = std::collections::BTreeSet::new();
        for rand in [0u64, 1, 359_999, 360_000, u64::MAX, 123_456_789] {
            let l = cc.lifetimes(&settings, "c", rand);
            assert!(l.rekey_after <= Duration::from_secs(3600));
            assert!(
                l.rekey_after > Duration::from_secs(3240),
                "{:?}",
                l.rekey_after
            );
            assert_eq!(l.life, Duration::from_secs(3960));
            seen.insert(l.rekey_after);
        }
        assert!(seen.len() > 3, "jitter does not vary: {seen:?}");
        let k = cc.lifetimes(&settings, "c", 7).kernel();
        assert_eq!((k.soft_bytes, k.hard_bytes), (500, 1000));
        assert_eq!(k.hard_time, Duration::from_secs(3960));
    }

    #[test]
    fn zero_lifetimes_mean_never_and_rand_time_override_applies() {
        let mut settings = crate::config::Settings::default();
        let t0 = Instant::now();
        let never = child(0, 0).lifetimes(&settings, "c", 99);
        assert_eq!((never.rekey_at(t0), never.expire_at(t0)), (None, None));
        settings.conn_timers.insert(
            "c".into(),
            ConnTimers {
                child_rand_time: Some(Duration::ZERO),
                ..ConnTimers::default()
            },
        );
        let exact = child(60, 90).lifetimes(&settings, "c", 12_345);
        assert_eq!(exact.rekey_at(t0), Some(t0 + Duration::from_secs(60)));
    }

    #[test]
    fn hooks_arm_and_clear_the_ike_sa_deadlines() {
        let t0 = Instant::now();
        let hour = Duration::from_secs(3600);
        let mut d = IkeDeadlines::default();
        on_half_open_created(&mut d, t0, DEFAULT_HALF_OPEN_TIMEOUT);
        assert_eq!(d.half_open, Some(t0 + DEFAULT_HALF_OPEN_TIMEOUT));
        let mut draws = 0;
        on_ike_established(&mut d, t0, Some(hour), None, false, || {
            draws += 1;
            0
        });
        assert_eq!(draws, 1, "no reauthentication, no second draw");
        assert_eq!(d.half_open, None);
        assert_eq!(d.rekey, Some(t0 + hour));
        assert_eq!(d.rekey_overdue, Some(t0 + hour + hour / 10));
        let budget = Duration::from_secs(10);
        on_ike_superseded(&mut d, t0, budget);
        assert_eq!((d.rekey, d.rekey_overdue), (None, None));
        assert_eq!(d.retire, Some(t0 + budget + REKEYED_IKE_SA_GRACE));
        on_ike_redundant(&mut d, t0, true);
        assert_eq!(d, IkeDeadlines::default());
        on_ike_redundant(&mut d, t0, false);
        assert_eq!(d.retire, Some(t0 + REKEYED_IKE_SA_GRACE));
    }

    #[test]
    fn a_temporary_failure_is_retried_within_one_to_four_seconds() {
        let t0 = Instant::now();
        let mut deferred = Vec::new();
        let delay = on_temporary_failure(&mut deferred, "rekey", t0, 2_500);
        assert_eq!(delay, Duration::from_millis(3_500));
        assert_eq!(deferred, vec![(t0 + delay, "rekey")]);
    }
}
