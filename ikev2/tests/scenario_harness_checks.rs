//! The harness's own checks must be able to fail: a key that differs by one bit, a missing policy
//! or a duplicate SA is caught; runs are bounded; the same seed replays byte for byte.

mod harness;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use rswan_ikev2::output::{Direction, KernelOp, SaSpec};

use harness::kernel::KernelModel;
use harness::setup::A_CONN;
use harness::*;

fn established() -> World {
    let mut w = Pair::default().build(30);
    w.trace = false;
    establish(&mut w);
    w
}

/// A's first AddSa operation as its model kernel logged it, and the SA it added.
fn first_add_sa(w: &World) -> (&KernelOp, &SaSpec) {
    w.a.kernel
        .log
        .iter()
        .find_map(|(op, _)| match op {
            KernelOp::AddSa(sa) => Some((op, sa)),
            _ => None,
        })
        .expect("A added no SA")
}

#[test]
fn mirror_check_catches_a_one_bit_key_difference() {
    let mut w = established();
    let sa = w.b.kernel.sas.values_mut().next().unwrap();
    sa.encr.key[0] ^= 1;
    assert!(catch_unwind(AssertUnwindSafe(|| assert_mirrored(
        &w.a.kernel,
        &w.b.kernel
    )))
    .is_err());
}

#[test]
fn mirror_check_catches_a_missing_policy_and_a_missing_sa() {
    let mut w = established();
    let fwd =
        w.b.kernel
            .policies
            .iter()
            .position(|p| p.direction == Direction::Fwd)
            .unwrap();
    let removed = w.b.kernel.policies.remove(fwd);
    assert!(catch_unwind(AssertUnwindSafe(|| assert_mirrored(
        &w.a.kernel,
        &w.b.kernel
    )))
    .is_err());
    w.b.kernel.policies.push(removed);
    assert_eq!(assert_mirrored(&w.a.kernel, &w.b.kernel), 2);
    let key = *w.a.kernel.sas.keys().next().unwrap();
    w.a.kernel.sas.remove(&key);
    assert!(catch_unwind(AssertUnwindSafe(|| assert_mirrored(
        &w.a.kernel,
        &w.b.kernel
    )))
    .is_err());
}

#[test]
fn kernel_model_has_xfrm_semantics() {
    let w = established();
    let (op, sa) = first_add_sa(&w);
    let mut k = KernelModel::default();
    assert!(k.apply(w.now(), op).is_ok());
    assert!(k.apply(w.now(), op).unwrap_err().starts_with("EEXIST"));
    let del = KernelOp::DeleteSa {
        src: sa.src,
        dst: sa.dst,
        spi: sa.spi,
    };
    assert!(k.apply(w.now(), &del).is_ok());
    assert!(k.apply(w.now(), &del).unwrap_err().starts_with("ESRCH"));
    assert!(k.is_empty());
    assert_eq!(k.errors().len(), 2);
}

#[test]
fn runs_are_bounded_whatever_happens() {
    // Nothing initiated: the loop notices at once that nothing will ever happen.
    let mut w = Pair::default().build(31);
    assert_eq!(
        w.run_until(Duration::from_secs(3600), |_| false),
        Err(Stop::Idle)
    );
    assert_eq!(w.elapsed(), Duration::ZERO);
    // A condition that never holds on an established pair: the time limit ends the run.
    let mut w = established();
    let t0 = w.elapsed();
    let r = w.run_until(Duration::from_secs(50_000), |_| false);
    assert!(matches!(r, Err(Stop::TimeLimit) | Err(Stop::Idle)), "{r:?}");
    assert!(w.elapsed() - t0 <= Duration::from_secs(50_000));
}

#[test]
fn same_seed_replays_byte_for_byte_and_another_seed_differs() {
    let run = |seed| {
        let mut w = Pair::default().build(seed);
        w.trace = false;
        w.link.set_both(Impairment {
            loss: 0.2,
            duplicate: 0.1,
            ..Impairment::PERFECT
        });
        w.initiate(Side::A, A_CONN);
        let _ = w.run_until(ESTABLISH_LIMIT, both_up);
        let mut all: Vec<_> =
            w.a.sent
                .iter()
                .chain(&w.b.sent)
                .map(|(t, d)| (*t, d.bytes.clone()))
                .collect();
        all.sort();
        all
    };
    assert_eq!(run(40), run(40));
    assert_ne!(run(40), run(41));
}

#[test]
fn kernel_model_raises_soft_then_hard_expiry_and_forgets_deleted_sas() {
    let w = established();
    let (op, sa) = first_add_sa(&w);
    let (soft, hard) = (sa.lifetime.soft_time, sa.lifetime.hard_time);
    assert!(
        !soft.is_zero() && soft < hard,
        "configured lifetimes {soft:?}/{hard:?}"
    );
    let t0 = w.now();
    let mut k = KernelModel::default();
    k.apply(t0, op).unwrap();
    assert_eq!(k.next_expiry(), Some(t0 + soft));
    assert!(k
        .take_due_expiries(t0 + soft - Duration::from_millis(1))
        .is_empty());
    let x = k.take_due_expiries(t0 + soft);
    assert_eq!(x.len(), 1);
    assert!(!x[0].hard && x[0].spi == sa.spi);
    assert!(!k.sas.is_empty(), "a soft expiry leaves the SA in place");
    let x = k.take_due_expiries(t0 + hard);
    assert!(x.len() == 1 && x[0].hard);
    assert!(k.sas.is_empty(), "a hard expiry removes the SA");
    // An SA deleted before its lifetime ends raises nothing.
    k.apply(t0, op).unwrap();
    k.apply(
        t0,
        &KernelOp::DeleteSa {
            src: sa.src,
            dst: sa.dst,
            spi: sa.spi,
        },
    )
    .unwrap();
    assert_eq!(k.next_expiry(), None);
    assert!(k.take_due_expiries(t0 + hard).is_empty());
}
