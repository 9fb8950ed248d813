//! A responder fed mutated copies of real first messages (the in-CI companion of the
//! `responder_first_datagram` fuzz target): it never panics, answers each datagram with at most one
//! datagram, never touches the kernel for unauthenticated input, and forgets every half-open SA
//! once its timeout has passed.

mod harness;

use std::net::SocketAddr;
use std::time::Duration;

use rswan_ikev2::endpoint::Endpoint;
use rswan_ikev2::output::Output;
use rswan_ikev2::rng::TestRng;

use harness::*;

/// The initiator's IKE_SA_INIT and IKE_AUTH requests of a real establishment.
fn real_requests(ike: &str) -> Vec<Vec<u8>> {
    let mut w = Pair::with_proposals(ike, "aes256gcm16").build(50);
    w.trace = false;
    establish(&mut w);
    w.a.sent.iter().map(|(_, d)| d.bytes.clone()).collect()
}

fn mutate(rng: &mut TestRng, seed: &[u8]) -> Vec<u8> {
    let mut m = seed.to_vec();
    for _ in 0..=(rng.next_u64() % 4) {
        let r = rng.next_u64();
        let pos = if m.is_empty() {
            0
        } else {
            (r >> 8) as usize % m.len()
        };
        match r % 6 {
            0 if !m.is_empty() => m[pos] ^= 1 << ((r >> 40) % 8),
            1 if !m.is_empty() => m[pos] = if r & 0x100_0000 == 0 { 0 } else { 0xff },
            2 => m.truncate(pos),
            3 => m.extend((0..(r >> 48) % 64).map(|i| (i as u8).wrapping_mul(31))),
            // Payload and message length fields are 2 and 4 octets: hit them with odd values.
            4 if m.len() > pos + 1 => {
                m[pos] = (r >> 16) as u8;
                m[pos + 1] = (r >> 24) as u8;
            }
            _ if m.len() > pos + 8 => {
                let chunk: Vec<u8> = m[pos..pos + 8].to_vec();
                m.splice(pos..pos, chunk);
            }
            _ => {}
        }
    }
    m
}

#[test]
fn mutated_first_messages_never_break_the_responder() {
    let mut seeds = real_requests("aes256gcm16-prfsha256-x25519");
    seeds.extend(real_requests("aes128-sha256-prfsha256-ecp256"));
    seeds.extend(real_requests("aes128gcm16-prfsha256-modp2048"));
    let w = Pair::default().build(51);
    let (local, remote): (SocketAddr, SocketAddr) = (w.b.addr, w.a.addr);
    let mut ep = Endpoint::new(w.b.config.clone(), TestRng::new(52));
    let mut rng = TestRng::new(53);
    let mut now = w.now();
    let mut answered = 0;
    for i in 0..3_000 {
        let input = if i < seeds.len() {
            seeds[i].clone()
        } else {
            mutate(&mut rng, &seeds[i % seeds.len()])
        };
        now += Duration::from_millis(1);
        ep.handle_datagram(now, local, remote, &input);
        let mut sends = 0;
        while let Some(out) = ep.poll_output() {
            match out {
                Output::Send { to, .. } => {
                    assert_eq!(to, remote);
                    sends += 1;
                }
                Output::Kernel { op, .. } => panic!("input {i} reached the kernel: {op:?}"),
                Output::Event(_) => {}
            }
        }
        assert!(sends <= 1, "input {i} answered with {sends} datagrams");
        answered += sends;
    }
    eprintln!(
        "{answered} of 3000 inputs answered, {} half-open",
        ep.status().half_open
    );
    // Unmodified IKE_SA_INIT requests were answered, and so were some mutants.
    assert!(answered > 3, "no mutant was answered ({answered} answers)");
    assert!(ep.status().half_open > 0);
    // Every half-open SA expires (30 s) and nothing is left scheduled afterwards.
    for _ in 0..100 {
        match ep.poll_timeout() {
            Some(t) if t <= now + Duration::from_secs(120) => {
                now = now.max(t);
                ep.handle_timeout(now);
                while ep.poll_output().is_some() {}
            }
            _ => break,
        }
    }
    assert_eq!(ep.status().half_open, 0);
    assert!(ep.status().connections.iter().all(|c| c.ike_sas.is_empty()));
}

/// The IKE_AUTH of a real exchange arriving first (no IKE_SA_INIT seen) is dropped silently.
#[test]
fn ike_auth_without_ike_sa_init_is_dropped() {
    let reqs = real_requests("aes256gcm16-prfsha256-x25519");
    let w = Pair::default().build(54);
    let mut ep = Endpoint::new(w.b.config.clone(), TestRng::new(55));
    ep.handle_datagram(w.now(), w.b.addr, w.a.addr, &reqs[1]);
    let mut dropped = false;
    while let Some(out) = ep.poll_output() {
        match out {
            Output::Event(rswan_ikev2::event::Event::Dropped { .. }) => dropped = true,
            Output::Event(_) => {}
            other => panic!("unexpected output {other:?}"),
        }
    }
    assert!(dropped, "no Dropped event");
    assert!(ep.status().connections.iter().all(|c| c.ike_sas.is_empty()));
}
