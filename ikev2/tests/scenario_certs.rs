//! Certificate authentication between two cores (RFC 7296 sections 2.15, 3.6, 3.7; RFC 7427):
//! RSA, ECDSA and Ed25519 keys, AUTH method 14 when both announce SIGNATURE_HASH_ALGORITHMS and
//! the classic methods when one does not, intermediate CAs, CERTREQ and `send_cert`, DN
//! identities, mixed PSK/pubkey rounds, fragmentation of cert-bearing IKE_AUTH, and the named
//! failures an operator reads when a certificate is untrusted, expired, or does not name the ID.
//!
//! The PKI is generated at test time (tests/auth_pki); the world's wall clock is 2026-01-01.

mod auth_pki;
mod harness;

use std::time::Duration;

use auth_pki::{dns, key_pair, private_key, Alg, Ca, NOW};
use rcgen::{date_time_ymd, KeyPair};
use rswan_ikev2::auth::{AuthError, SendCert};
use rswan_ikev2::config::AuthKind;
use rswan_ikev2::consts::{ExchangeType, PayloadType};
use rswan_ikev2::event::{AuthFailure, Event, FailureReason, LogLevel};
use rswan_ikev2::wire::Header;

use harness::certs::{local_pubkey, local_pubkey_with, remote_pubkey};
use harness::link::Datagram;
use harness::*;

/// An end entity: its chain as sent (end entity first) and its key.
struct Ee {
    chain: Vec<Vec<u8>>,
    key: KeyPair,
}

impl Ee {
    fn local(&self, send_cert: SendCert) -> AuthKind {
        local_pubkey(&self.chain, private_key(&self.key), send_cert)
    }
}

/// Issues `cn` with a dNSName SAN `san` under `ca`, with key `alg`.
fn issue(ca: &Ca, alg: Alg, cn: &str, san: &str) -> Ee {
    issue_with(ca, alg, cn, san, |_| {})
}

fn issue_with(
    ca: &Ca,
    alg: Alg,
    cn: &str,
    san: &str,
    f: impl FnOnce(&mut rcgen::CertificateParams),
) -> Ee {
    let key = key_pair(alg);
    let der = ca.issue(&key, cn, |p| {
        p.subject_alt_names = vec![dns(san)];
        f(p)
    });
    Ee {
        chain: vec![der],
        key,
    }
}

/// A remote round trusting `ca` alone.
fn trust(ca: &Ca) -> AuthKind {
    remote_pubkey(std::slice::from_ref(&ca.der))
}

/// A pair where A (alice.example) and B (bob.example) authenticate with these certificates and
/// each trusts `ca`.
/// A's certificate (`alice`, A's identity) and B's (`bob`), both issued by `ca`.
fn alice_bob(ca: &Ca, a: Alg, b: Alg) -> (Ee, Ee) {
    (
        issue(ca, a, "alice", setup::A_ID),
        issue(ca, b, "bob", setup::B_ID),
    )
}

fn cert_pair(alice: &Ee, bob: &Ee, ca: &Ca) -> Pair {
    let mut p = Pair::default();
    p.a.local_auth = alice.local(SendCert::IfAsked);
    p.a.remote_auth = trust(ca);
    p.b.local_auth = bob.local(SendCert::IfAsked);
    p.b.remote_auth = trust(ca);
    p
}

fn world(p: &Pair, seed: u64) -> World {
    let mut w = p.build(seed);
    w.wall_clock = Some(NOW);
    w
}

/// The info lines a peer logged about signature authentication, in order.
fn auth_logs(p: &Peer) -> Vec<String> {
    p.events()
        .filter_map(|e| match e {
            Event::Log {
                level: LogLevel::Info,
                message,
                ..
            } if message.starts_with("authentication of") => Some(message.clone()),
            _ => None,
        })
        .collect()
}

/// Asserts that `p` signed with AUTH `method` and verified its peer's `peer_method` signature.
fn assert_methods(p: &Peer, method: u8, peer_method: u8) {
    let logs = auth_logs(p);
    assert!(
        logs.iter()
            .any(|l| l.contains("(myself)") && l.contains(&format!("(AUTH method {method},"))),
        "{}: own method {method} not used: {logs:?}",
        p.name
    );
    assert!(
        logs.iter().any(|l| !l.contains("(myself)")
            && l.contains(&format!("(AUTH method {peer_method}) successful"))),
        "{}: peer method {peer_method} not verified: {logs:?}",
        p.name
    );
}

/// Both sides signed with `method` and verified the other's AUTH with it.
fn assert_both_methods(w: &World, method: u8) {
    assert_methods(&w.a, method, method);
    assert_methods(&w.b, method, method);
}

fn root() -> Ca {
    Ca::root("Root CA", Alg::P256)
}

/// Runs `w` from A's initiation until both sides gave up, and returns A's and B's failures.
fn fail_run(w: &mut World) -> (Vec<FailureReason>, Vec<FailureReason>) {
    w.initiate(Side::A, setup::A_CONN);
    w.run_for(Duration::from_secs(60));
    for p in [&w.a, &w.b] {
        assert!(
            established_ike(p).is_empty(),
            "{}: established despite the failure",
            p.name
        );
        assert!(p
            .kernel
            .sas_dir(rswan_ikev2::output::Direction::In)
            .is_empty());
    }
    (
        failures(&w.a).into_iter().cloned().collect(),
        failures(&w.b).into_iter().cloned().collect(),
    )
}

/// The certificate failure a peer reported about `peer_id`.
fn cert_failure(fs: &[FailureReason], peer_id: &str) -> AuthError {
    fs.iter()
        .find_map(|f| match f {
            FailureReason::AuthenticationFailed {
                peer_id: p,
                why: AuthFailure::Certificate(e),
            } if p == peer_id => Some(e.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no certificate failure for {peer_id}: {fs:?}"))
}

// ---------------------------------------------------------------------------------------------
// Algorithms and AUTH methods
// ---------------------------------------------------------------------------------------------

#[test]
fn rsa_both_sides_use_method_14_when_both_announce_hashes() {
    let ca = root();
    let (alice, bob) = alice_bob(&ca, Alg::Rsa1, Alg::Rsa2);
    let mut w = world(&cert_pair(&alice, &bob, &ca), 1);
    establish(&mut w);
    for p in [&w.a, &w.b] {
        assert_methods(p, 14, 14);
        assert!(
            auth_logs(p)
                .iter()
                .any(|l| l.contains("(myself)") && l.contains("1 certificate(s) sent")),
            "{}: {:?}",
            p.name,
            auth_logs(p)
        );
    }
    // B verified A's certificate and shows A's identity and certificate subject.
    assert_eq!(
        established_ike(&w.b)[0].remote_id.as_deref(),
        Some(setup::A_ID)
    );
    assert_eq!(
        established_ike(&w.b)[0].remote_cert.as_deref(),
        Some("O=rswan test, CN=alice")
    );
    assert_eq!(
        established_ike(&w.a)[0].remote_cert.as_deref(),
        Some("O=rswan test, CN=bob")
    );
    assert!(auth_logs(&w.b).iter().any(
        |l| l.contains("certificate 'O=rswan test, CN=alice' issued by 'O=rswan test, CN=Root CA'")
    ));
}

#[test]
fn rsa_pss_signs_with_pss_and_the_peer_verifies_it() {
    let ca = root();
    let (alice, bob) = alice_bob(&ca, Alg::Rsa1, Alg::Rsa2);
    let mut p = cert_pair(&alice, &bob, &ca);
    // Only B signs with PSS (strongswan.conf charon.rsa_pss); A keeps PKCS#1 v1.5.
    p.b_settings.rsa_pss = true;
    let mut w = world(&p, 3);
    establish(&mut w);
    assert_methods(&w.a, 14, 14);
    let a_logs = auth_logs(&w.a);
    assert!(
        a_logs
            .iter()
            .any(|l| !l.contains("(myself)") && l.contains("RSASSA-PSS SHA-256")),
        "A did not verify a PSS signature from B: {a_logs:?}"
    );
    let b_logs = auth_logs(&w.b);
    assert!(
        b_logs
            .iter()
            .any(|l| !l.contains("(myself)") && l.contains("RSA PKCS#1 v1.5 SHA-256")),
        "B should have verified PKCS#1 v1.5 from A: {b_logs:?}"
    );
}

#[test]
fn rsa_falls_back_to_method_1_when_the_responder_does_not_announce_hashes() {
    let ca = root();
    let (alice, bob) = alice_bob(&ca, Alg::Rsa1, Alg::Rsa2);
    let mut p = cert_pair(&alice, &bob, &ca);
    // B: signature_authentication = no. A still announces, B neither answers nor uses A's list.
    p.b_settings.signature_authentication = false;
    let mut w = world(&p, 2);
    establish(&mut w);
    assert_both_methods(&w, 1);
}

#[test]
fn rsa_falls_back_to_method_1_when_the_initiator_does_not_announce_hashes() {
    let ca = root();
    let (alice, bob) = alice_bob(&ca, Alg::Rsa1, Alg::Rsa2);
    let mut p = cert_pair(&alice, &bob, &ca);
    p.a_settings.signature_authentication = false;
    let mut w = world(&p, 3);
    establish(&mut w);
    assert_both_methods(&w, 1);
}

#[test]
fn ecdsa_p256_both_sides() {
    let ca = root();
    let (alice, bob) = alice_bob(&ca, Alg::P256, Alg::P256);
    let mut w = world(&cert_pair(&alice, &bob, &ca), 4);
    establish(&mut w);
    assert_both_methods(&w, 14);
}

#[test]
fn ecdsa_p384_both_sides_and_rfc4754_method_10_without_rfc7427() {
    let ca = Ca::root("Root CA", Alg::P384);
    let (alice, bob) = alice_bob(&ca, Alg::P384, Alg::P384);
    let mut p = cert_pair(&alice, &bob, &ca);
    let mut w = world(&p, 5);
    establish(&mut w);
    assert_both_methods(&w, 14);
    p.a_settings.signature_authentication = false;
    let mut w = world(&p, 6);
    establish(&mut w);
    assert_both_methods(&w, 10);
}

#[test]
fn ed25519_both_sides() {
    let ca = root();
    let (alice, bob) = alice_bob(&ca, Alg::Ed25519, Alg::Ed25519);
    let mut w = world(&cert_pair(&alice, &bob, &ca), 7);
    establish(&mut w);
    assert_both_methods(&w, 14);
}

#[test]
fn ed25519_without_rfc7427_is_a_named_local_failure() {
    let ca = root();
    let (alice, bob) = alice_bob(&ca, Alg::Ed25519, Alg::P256);
    let mut p = cert_pair(&alice, &bob, &ca);
    // B does not announce hashes, so A's Ed25519 key has no method it may use.
    p.b_settings.signature_authentication = false;
    let mut w = world(&p, 8);
    let (fa, _) = fail_run(&mut w);
    let e = cert_failure(&fa, &format!("{} (myself)", setup::A_ID));
    assert!(
        e.to_string().contains("Ed25519 needs the peer to announce"),
        "{e}"
    );
}

#[test]
fn pubkey_round_without_credentials_is_a_named_local_failure() {
    let ca = root();
    let (alice, bob) = alice_bob(&ca, Alg::P256, Alg::P256);
    let mut p = cert_pair(&alice, &bob, &ca);
    p.a.local_auth = AuthKind::Pubkey(std::sync::Arc::default());
    let mut w = world(&p, 27);
    let (fa, _) = fail_run(&mut w);
    assert_eq!(
        cert_failure(&fa, &format!("{} (myself)", setup::A_ID)),
        AuthError::NoCredentials
    );
}

#[test]
fn mixed_rsa_and_ecdsa() {
    let ca = Ca::root("Root CA", Alg::Rsa1);
    let (alice, bob) = alice_bob(&ca, Alg::Rsa2, Alg::P384);
    let mut w = world(&cert_pair(&alice, &bob, &ca), 9);
    establish(&mut w);
    assert_both_methods(&w, 14);
    assert!(
        auth_logs(&w.a).iter().any(|l| l.contains("ECDSA")),
        "{:?}",
        auth_logs(&w.a)
    );
    assert!(
        auth_logs(&w.b).iter().any(|l| l.contains("RSA")),
        "{:?}",
        auth_logs(&w.b)
    );
}

// ---------------------------------------------------------------------------------------------
// Chains, CERTREQ, send_cert
// ---------------------------------------------------------------------------------------------

#[test]
fn chain_with_intermediate_ca() {
    let ca = root();
    let inter = ca.intermediate("Intermediate CA", Alg::Rsa1);
    let mut alice = issue(&inter, Alg::P256, "alice", setup::A_ID);
    // A sends its end entity and the intermediate; B trusts only the root.
    alice.chain.push(inter.der.clone());
    let bob = issue(&ca, Alg::P256, "bob", setup::B_ID);
    let mut w = world(&cert_pair(&alice, &bob, &ca), 10);
    establish(&mut w);
    assert!(auth_logs(&w.a)
        .iter()
        .any(|l| l.contains("(myself)") && l.contains("2 certificate(s) sent")));
    assert!(auth_logs(&w.b)
        .iter()
        .any(|l| l.contains("issued by 'O=rswan test, CN=Intermediate CA'")));
}

#[test]
fn intermediate_missing_from_the_chain_is_unknown_issuer() {
    let ca = root();
    let inter = ca.intermediate("Intermediate CA", Alg::Rsa1);
    let alice = issue(&inter, Alg::P256, "alice", setup::A_ID);
    let bob = issue(&ca, Alg::P256, "bob", setup::B_ID);
    let mut w = world(&cert_pair(&alice, &bob, &ca), 11);
    let (_, fb) = fail_run(&mut w);
    assert_eq!(
        cert_failure(&fb, setup::A_ID).to_string(),
        "certificate for 'O=rswan test, CN=alice' not trusted: unknown issuer 'O=rswan test, \
         CN=Intermediate CA' (not among the configured cacerts)"
    );
}

#[test]
fn send_cert_never_without_the_peer_cert_is_a_named_failure() {
    let ca = root();
    let (alice, bob) = alice_bob(&ca, Alg::P256, Alg::P256);
    let mut p = cert_pair(&alice, &bob, &ca);
    p.a.local_auth = alice.local(SendCert::Never);
    let mut w = world(&p, 12);
    let (fa, fb) = fail_run(&mut w);
    assert_eq!(
        cert_failure(&fb, setup::A_ID),
        AuthError::NoPeerCertificate {
            id: setup::A_ID.into()
        }
    );
    assert!(
        fb[0]
            .to_string()
            .contains("'alice.example' sent no certificate"),
        "{}",
        fb[0]
    );
    // B answered AUTHENTICATION_FAILED: A names that.
    assert!(
        fa.contains(&FailureReason::PeerRejectedAuthentication),
        "{fa:?}"
    );
}

#[test]
fn ifasked_sends_no_cert_when_the_peer_sends_no_certreq() {
    let ca = root();
    let (alice, bob) = alice_bob(&ca, Alg::P256, Alg::P256);
    let mut p = cert_pair(&alice, &bob, &ca);
    // B (responder) sends no CERTREQ in IKE_SA_INIT, so A (send_cert = ifasked) sends no cert.
    p.b.local_auth = local_pubkey_with(&bob.chain, private_key(&bob.key), SendCert::IfAsked, false);
    let mut w = world(&p, 13);
    let (_, fb) = fail_run(&mut w);
    assert!(matches!(
        cert_failure(&fb, setup::A_ID),
        AuthError::NoPeerCertificate { .. }
    ));
    // With send_cert = always, A sends it unasked and all is well.
    p.a.local_auth = alice.local(SendCert::Always);
    let mut w = world(&p, 14);
    establish(&mut w);
}

#[test]
fn responder_sends_certreq_for_its_cas_in_ike_sa_init() {
    let ca = root();
    let (alice, bob) = alice_bob(&ca, Alg::P256, Alg::P256);
    let mut w = world(&cert_pair(&alice, &bob, &ca), 15);
    establish(&mut w);
    let resp =
        w.b.sent
            .iter()
            .map(|(_, d)| d)
            .find(|d| exchange(d) == ExchangeType::IKE_SA_INIT)
            .unwrap();
    let msg = rswan_ikev2::wire::Message::decode(&resp.bytes).unwrap();
    let req = msg
        .payloads
        .iter()
        .find_map(|p| match p {
            rswan_ikev2::wire::Payload::CertReq(r) => Some(r),
            _ => None,
        })
        .expect("CERTREQ in the IKE_SA_INIT response");
    let id = rswan_ikev2::auth::spki_sha1(&ca.der).unwrap();
    assert_eq!(req.authorities, id.to_vec());
    assert!(msg
        .notify(rswan_ikev2::consts::NotifyType::SIGNATURE_HASH_ALGORITHMS)
        .is_some());
}

/// The configurations `p` describes, for tests that edit them before building the world.
fn configs(p: &Pair) -> (rswan_ikev2::Config, rswan_ikev2::Config) {
    let a_addr = setup::A_ADDR.parse().unwrap();
    let b_addr = setup::B_ADDR.parse().unwrap();
    let a = setup::config(
        &p.a,
        &p.a_settings,
        setup::A_CONN,
        setup::A_CHILD,
        a_addr,
        b_addr,
        setup::A_ID,
        setup::B_ID,
    );
    let b = setup::config(
        &p.b,
        &p.b_settings,
        setup::B_CONN,
        setup::B_CHILD,
        b_addr,
        a_addr,
        setup::B_ID,
        setup::A_ID,
    );
    (a, b)
}

fn world_from(a: rswan_ikev2::Config, b: rswan_ikev2::Config, seed: u64) -> World {
    let mut w = World::new(
        setup::A_ADDR.parse().unwrap(),
        a,
        setup::B_ADDR.parse().unwrap(),
        b,
        seed,
    );
    w.wall_clock = Some(NOW);
    w
}

#[test]
fn undecided_responder_asks_for_the_cas_of_every_candidate_connection() {
    // B has a PSK connection for another peer at the same address, listed first: IKE_SA_INIT
    // picks it by address and proposals; only IDi in IKE_AUTH selects the pubkey one. B's
    // CERTREQ must already name that one's CA, or A (send_cert = ifasked) would send no cert.
    let ca = root();
    let (alice, bob) = alice_bob(&ca, Alg::P256, Alg::P256);
    let (a, mut b) = configs(&cert_pair(&alice, &bob, &ca));
    let mut other = b.connections[0].clone();
    other.name = "carol".into();
    other.local.auth = AuthKind::Psk;
    other.remote.auth = AuthKind::Psk;
    other.remote.id = Some(rswan_ikev2::wire::Identity::Fqdn("carol.example".into()));
    b.connections.insert(0, other);
    let mut w = world_from(a, b, 30);
    establish(&mut w);
    assert_methods(&w.b, 14, 14);
}

#[test]
fn psk_only_peers_send_no_certreq() {
    let mut w = world(&Pair::default(), 16);
    establish(&mut w);
    let resp =
        w.b.sent
            .iter()
            .map(|(_, d)| d)
            .find(|d| exchange(d) == ExchangeType::IKE_SA_INIT)
            .unwrap();
    let msg = rswan_ikev2::wire::Message::decode(&resp.bytes).unwrap();
    assert!(!msg
        .payloads
        .iter()
        .any(|p| matches!(p, rswan_ikev2::wire::Payload::CertReq(_))));
}

// ---------------------------------------------------------------------------------------------
// Named failures
// ---------------------------------------------------------------------------------------------

#[test]
fn untrusted_ca_fails_named_on_both_sides() {
    let ca = root();
    let evil = Ca::root("Evil CA", Alg::P256);
    let alice = issue(&evil, Alg::P256, "alice", setup::A_ID);
    let bob = issue(&ca, Alg::P256, "bob", setup::B_ID);
    let mut w = world(&cert_pair(&alice, &bob, &ca), 17);
    let (fa, fb) = fail_run(&mut w);
    assert_eq!(
        cert_failure(&fb, setup::A_ID).to_string(),
        "certificate for 'O=rswan test, CN=alice' not trusted: unknown issuer 'O=rswan test, \
         CN=Evil CA' (not among the configured cacerts)"
    );
    assert!(
        fb[0].to_string().starts_with(
            "authentication of 'alice.example' failed: certificate for 'O=rswan test, CN=alice' \
             not trusted"
        ),
        "{}",
        fb[0]
    );
    assert!(
        fa.contains(&FailureReason::PeerRejectedAuthentication),
        "{fa:?}"
    );
    // The status' failure memory keeps B's reason for the operator.
    let st = w.b.ep.status();
    let last = st
        .connections
        .iter()
        .find(|c| c.name == setup::B_CONN)
        .and_then(|c| c.last_failure.as_ref())
        .expect("B remembers the failure");
    assert!(
        matches!(
            &last.reason,
            FailureReason::AuthenticationFailed {
                why: AuthFailure::Certificate(AuthError::UnknownCa { .. }),
                ..
            }
        ),
        "{:?}",
        last.reason
    );
}

#[test]
fn untrusted_responder_cert_fails_named_at_the_initiator() {
    let ca = root();
    let evil = Ca::root("Evil CA", Alg::P256);
    let alice = issue(&ca, Alg::P256, "alice", setup::A_ID);
    let bob = issue(&evil, Alg::P256, "bob", setup::B_ID);
    let mut w = world(&cert_pair(&alice, &bob, &ca), 18);
    let (fa, fb) = fail_run(&mut w);
    assert!(matches!(
        cert_failure(&fa, setup::B_ID),
        AuthError::UnknownCa { .. }
    ));
    // A told B with an INFORMATIONAL AUTHENTICATION_FAILED; B names it and holds no SA.
    assert!(
        fb.contains(&FailureReason::PeerRejectedAuthentication),
        "{fb:?}"
    );
}

#[test]
fn expired_certificate_is_named() {
    let ca = root();
    let alice = issue_with(&ca, Alg::P256, "alice", setup::A_ID, |p| {
        p.not_after = date_time_ymd(2025, 12, 1);
    });
    let bob = issue(&ca, Alg::P256, "bob", setup::B_ID);
    let mut w = world(&cert_pair(&alice, &bob, &ca), 19);
    let (_, fb) = fail_run(&mut w);
    let e = cert_failure(&fb, setup::A_ID);
    assert!(matches!(e, AuthError::Expired { .. }), "{e:?}");
    assert!(
        e.to_string()
            .starts_with("certificate for 'O=rswan test, CN=alice' expired at 2025-12-01"),
        "{e}"
    );
}

#[test]
fn validity_follows_the_drivers_wall_clock() {
    let ca = root();
    let alice = issue_with(&ca, Alg::P256, "alice", setup::A_ID, |p| {
        p.not_after = date_time_ymd(2026, 6, 1);
    });
    let bob = issue(&ca, Alg::P256, "bob", setup::B_ID);
    let p = cert_pair(&alice, &bob, &ca);
    // Valid on 2026-01-01 ...
    let mut w = world(&p, 20);
    establish(&mut w);
    // ... expired on 2026-07-01.
    let mut w = p.build(20);
    w.wall_clock = Some(NOW + 181 * 86_400);
    let (_, fb) = fail_run(&mut w);
    assert!(matches!(
        cert_failure(&fb, setup::A_ID),
        AuthError::Expired { .. }
    ));
    // A driver that never sets the clock gets a named failure, not a silent pass.
    let mut w = p.build(20);
    let (_, fb) = fail_run(&mut w);
    assert_eq!(cert_failure(&fb, setup::A_ID), AuthError::NoWallClock);
}

#[test]
fn id_not_in_certificate_is_named() {
    let ca = root();
    let alice = issue(&ca, Alg::P256, "alice", "someone-else.example");
    let bob = issue(&ca, Alg::P256, "bob", setup::B_ID);
    let mut w = world(&cert_pair(&alice, &bob, &ca), 21);
    let (_, fb) = fail_run(&mut w);
    assert_eq!(
        cert_failure(&fb, setup::A_ID).to_string(),
        "IKE ID 'alice.example' not in certificate subject/SAN (subject 'O=rswan test, \
         CN=alice', SAN: DNS:someone-else.example)"
    );
}

#[test]
fn psk_signature_mismatch_is_method_not_allowed() {
    // B expects a certificate from A, but A authenticates with the PSK.
    let ca = root();
    let bob = issue(&ca, Alg::P256, "bob", setup::B_ID);
    let mut p = Pair::default();
    p.b.local_auth = bob.local(SendCert::IfAsked);
    p.b.remote_auth = trust(&ca);
    p.a.remote_auth = trust(&ca);
    let mut w = world(&p, 22);
    let (_, fb) = fail_run(&mut w);
    assert!(
        fb.iter().any(|f| matches!(
            f,
            FailureReason::AuthenticationFailed {
                why: AuthFailure::MethodNotAllowed(_),
                ..
            }
        )),
        "{fb:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Identities and mixed rounds
// ---------------------------------------------------------------------------------------------

#[test]
fn psk_local_and_pubkey_remote_mixed() {
    let ca = root();
    let bob = issue(&ca, Alg::Rsa2, "bob", setup::B_ID);
    let mut p = Pair::default();
    // A: local psk, remote pubkey. B: local pubkey, remote psk.
    p.a.remote_auth = trust(&ca);
    p.b.local_auth = bob.local(SendCert::IfAsked);
    let mut w = world(&p, 23);
    establish(&mut w);
    assert!(auth_logs(&w.a)
        .iter()
        .any(|l| l.contains("'bob.example'") && l.contains("successful")));
    // B authenticated A by PSK: no certificate to show.
    assert_eq!(established_ike(&w.b)[0].remote_cert, None);
    assert!(auth_logs(&w.b)
        .iter()
        .any(|l| l.contains("(myself)") && l.contains("1 certificate(s) sent")));
}

#[test]
fn unset_local_id_uses_the_certificate_subject_dn() {
    let ca = root();
    let (alice, bob) = alice_bob(&ca, Alg::P256, Alg::P256);
    let mut p = cert_pair(&alice, &bob, &ca);
    p.a.omit_local_id = true;
    p.b.omit_remote_id = true;
    let mut w = world(&p, 24);
    establish(&mut w);
    // ID_DER_ASN1_DN with the certificate's subject octets. (rcgen writes UTF8String values,
    // which the wire Identity display shows as `asn1dn:#hex` since its string form would
    // re-encode as PrintableString.)
    let subject = rswan_ikev2::auth::CertInfo::parse(&alice.chain[0])
        .unwrap()
        .subject
        .to_vec();
    let dn = rswan_ikev2::wire::Identity::DerAsn1Dn(subject).to_string();
    assert_eq!(established_ike(&w.a)[0].local_id.as_deref(), Some(&*dn));
    assert_eq!(established_ike(&w.b)[0].remote_id.as_deref(), Some(&*dn));
}

#[test]
fn configured_dn_remote_id_matches_the_certificate_subject() {
    let ca = root();
    let (alice, bob) = alice_bob(&ca, Alg::P256, Alg::P256);
    let mut p = cert_pair(&alice, &bob, &ca);
    p.a.omit_local_id = true;
    let (ca_cfg, mut cb_cfg) = configs(&p);
    // Written in the other attribute order's string form an operator would type; the match is by
    // attribute, whatever string type the certificate used.
    let dn = rswan_ikev2::wire::dn::encode_dn("O=rswan test, CN=ALICE").unwrap();
    cb_cfg.connections[0].remote.id = Some(rswan_ikev2::wire::Identity::DerAsn1Dn(dn));
    let mut w = world_from(ca_cfg, cb_cfg, 25);
    establish(&mut w);
}

// ---------------------------------------------------------------------------------------------
// Fragmentation
// ---------------------------------------------------------------------------------------------

fn exchange(d: &Datagram) -> ExchangeType {
    Header::peek(&d.bytes).unwrap().header.exchange
}

fn is_fragment(d: &Datagram) -> bool {
    Header::peek(&d.bytes).is_ok_and(|h| h.next_payload == PayloadType::SKF)
}

#[test]
fn cert_ike_auth_is_fragmented_at_576_and_reassembled_out_of_order() {
    let ca = Ca::root("Root CA", Alg::Rsa1);
    let inter = ca.intermediate("Intermediate CA", Alg::Rsa2);
    let mut alice = issue(&inter, Alg::Rsa2, "alice", setup::A_ID);
    alice.chain.push(inter.der.clone());
    let bob = issue(&ca, Alg::Rsa1, "bob", setup::B_ID);
    let mut p = cert_pair(&alice, &bob, &ca);
    p.a_settings.fragment_size = 576;
    p.b_settings.fragment_size = 576;
    let mut w = world(&p, 26);
    w.initiate(Side::A, setup::A_CONN);
    let auth = |p: &Peer| -> Vec<Datagram> {
        p.sent
            .iter()
            .map(|(_, d)| d.clone())
            .filter(|d| exchange(d) == ExchangeType::IKE_AUTH)
            .collect()
    };
    w.must(
        Duration::from_secs(5),
        |w| !auth(&w.a).is_empty(),
        "IKE_AUTH sent",
    );
    // Take A's fragments off the link and deliver them to B in reverse order.
    w.clock.advance(Duration::from_secs(1));
    let now = w.now();
    let mut inflight = Vec::new();
    while let Some(d) = w.link.pop_due(now) {
        inflight.push(d);
    }
    assert!(
        inflight.len() >= 4 && inflight.iter().all(is_fragment),
        "{} datagrams",
        inflight.len()
    );
    assert!(inflight.iter().all(|d| d.bytes.len() <= 576 - 28));
    w.b.ep.set_wall_clock(NOW + 1);
    for d in inflight.iter().rev() {
        w.b.ep.handle_datagram(now, d.to, d.from, &d.bytes);
    }
    w.pump();
    w.must(ESTABLISH_LIMIT, both_up, "established");
    assert_established(&w);
    // B's response carried its certificate, fragmented too.
    assert!(auth(&w.b).len() >= 2 && auth(&w.b).iter().all(is_fragment));
    assert_both_methods(&w, 14);
}
