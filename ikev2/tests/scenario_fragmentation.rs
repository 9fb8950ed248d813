//! IKE fragmentation (RFC 7383) between two cores with a tiny `fragment_size`: IKE_AUTH goes out
//! as SKF fragments in both directions, fragments delivered in reverse order are reassembled, and
//! a lost fragment is recovered by the retransmission of the whole fragmented request.

mod harness;

use std::time::Duration;

use rswan_ikev2::consts::{ExchangeType, PayloadType};
use rswan_ikev2::event::{DropReason, Event};
use rswan_ikev2::wire::Header;

use harness::link::Datagram;
use harness::*;

/// Small enough that IKE_AUTH needs several fragments (IP datagram size, as strongSwan's
/// `fragment_size`; the IKE message gets this minus 28 octets of IPv4 and UDP headers).
const FRAGMENT_SIZE: usize = 140;

fn pair() -> Pair {
    let mut p = Pair::default();
    p.a_settings.fragment_size = FRAGMENT_SIZE;
    p.b_settings.fragment_size = FRAGMENT_SIZE;
    p
}

fn is_fragment(d: &Datagram) -> bool {
    Header::peek(&d.bytes).is_ok_and(|h| h.next_payload == PayloadType::SKF)
}

fn exchange(d: &Datagram) -> ExchangeType {
    Header::peek(&d.bytes).unwrap().header.exchange
}

fn auth_fragments(p: &Peer) -> Vec<&Datagram> {
    p.sent
        .iter()
        .map(|(_, d)| d)
        .filter(|d| exchange(d) == ExchangeType::IKE_AUTH)
        .collect()
}

#[test]
fn ike_auth_is_fragmented_both_ways_and_reassembled() {
    let mut w = pair().build(21);
    establish(&mut w);
    for p in [&w.a, &w.b] {
        let frags = auth_fragments(p);
        assert!(
            frags.len() >= 3,
            "{}: {} IKE_AUTH datagrams",
            p.name,
            frags.len()
        );
        for d in &frags {
            assert!(is_fragment(d), "{}: IKE_AUTH not sent as SKF", p.name);
            assert!(
                d.bytes.len() <= FRAGMENT_SIZE - 28,
                "{}: {} octets",
                p.name,
                d.bytes.len()
            );
        }
    }
    // IKE_SA_INIT is never fragmented.
    assert!(w
        .a
        .sent
        .iter()
        .filter(|(_, d)| exchange(d) == ExchangeType::IKE_SA_INIT)
        .all(|(_, d)| !is_fragment(d)));
}

#[test]
fn fragments_arriving_in_reverse_order_are_reassembled() {
    let mut w = pair().build(22);
    w.initiate(Side::A, setup::A_CONN);
    // Run until A's IKE_AUTH fragments are on the link, then deliver them to B backwards.
    w.must(
        Duration::from_secs(5),
        |w| !auth_fragments(&w.a).is_empty(),
        "IKE_AUTH sent",
    );
    let mut inflight = Vec::new();
    w.clock.advance(Duration::from_secs(1));
    let now = w.now();
    while let Some(d) = w.link.pop_due(now) {
        inflight.push(d);
    }
    assert!(inflight.len() >= 3 && inflight.iter().all(is_fragment));
    // A forged copy of the last fragment (one flipped ciphertext bit) comes first: it fails
    // its integrity check, is dropped, and does not spoil the reassembly.
    let mut forged = inflight[inflight.len() - 1].clone();
    let at = forged.bytes.len() - 20;
    forged.bytes[at] ^= 1;
    w.b.ep
        .handle_datagram(now, forged.to, forged.from, &forged.bytes);
    for d in inflight.iter().rev() {
        w.b.ep.handle_datagram(now, d.to, d.from, &d.bytes);
    }
    w.pump();
    w.must(ESTABLISH_LIMIT, both_up, "established");
    assert_established(&w);
    assert_eq!(
        count(&w.b, |e| matches!(
            e,
            Event::Dropped {
                reason: DropReason::IntegrityCheckFailed,
                ..
            }
        )),
        1,
        "the forged fragment"
    );
    // A sent its fragments once: B reassembled them without a retransmission.
    assert_eq!(
        auth_fragments(&w.a).len(),
        inflight.len(),
        "no retransmission needed"
    );
}

#[test]
fn a_lost_fragment_is_recovered_by_retransmission() {
    let mut w = pair().build(23);
    // A -> B: datagram 1 is IKE_SA_INIT, 2.. are the IKE_AUTH fragments; lose the second one.
    w.link.drop_nth[0] = vec![3];
    // B -> A: lose B's first IKE_AUTH response fragment, too, so that B must answer A's
    // retransmitted fragments from its cache.
    w.link.drop_nth[1] = vec![2];
    establish(&mut w);
    for p in [&w.a, &w.b] {
        let times: Vec<Duration> = p
            .sent
            .iter()
            .filter(|(_, d)| exchange(d) == ExchangeType::IKE_AUTH)
            .map(|(t, _)| *t)
            .collect();
        // All fragments of one message go out at once; the whole set is sent again.
        let per_send = times.iter().filter(|t| **t == times[0]).count();
        assert!(per_send >= 3, "{}: {per_send} fragments", p.name);
        assert!(
            times.len().is_multiple_of(per_send) && times.len() / per_send >= 2,
            "{}: {} IKE_AUTH datagrams in sets of {per_send}",
            p.name,
            times.len()
        );
    }
}

#[test]
fn small_messages_are_not_fragmented() {
    let mut w = Pair::default().build(24);
    establish(&mut w);
    for p in [&w.a, &w.b] {
        assert!(p.sent.iter().all(|(_, d)| !is_fragment(d)), "{}", p.name);
    }
}
