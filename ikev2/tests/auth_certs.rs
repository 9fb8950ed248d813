//! Peer certificate validation: chain to the configured CAs at a passed-in time, EKU, name
//! constraints, the IKE ID in subject/SAN, and the AUTH signature, end to end with rcgen PKIs.

mod auth_pki;

use std::net::Ipv4Addr;

use auth_pki::{dns, email, ipsec_ike_eku, key_pair, octets, private_key, Alg, Ca, NOW};
use rcgen::{date_time_ymd, ExtendedKeyUsagePurpose, GeneralSubtree, NameConstraints, SanType};
use rswan_ikev2::auth::{
    choose_scheme, sign, verify_peer, AuthError, Credentials, CredentialsExt, TrustAnchors,
    VerifiedPeer, SUPPORTED_HASHES,
};
use rswan_ikev2::rng::TestRng;
use rswan_ikev2::wire::dn::encode_dn;
use rswan_ikev2::wire::Identity;
use rustls_pki_types::CertificateDer;

struct Peer {
    anchors: TrustAnchors,
    chain: Vec<Vec<u8>>,
    creds: Credentials,
}

/// root (P-256) -> intermediate (RSA) -> end entity `CN=west` with `alg`, customised by `f`.
fn peer(alg: Alg, f: impl FnOnce(&mut rcgen::CertificateParams)) -> Peer {
    let root = Ca::root("Root CA", Alg::P256);
    let inter = root.intermediate("Intermediate CA", Alg::Rsa1);
    let kp = key_pair(alg);
    let ee = inter.issue(&kp, "west", |p| {
        p.subject_alt_names = vec![dns("west.example")];
        f(p)
    });
    let chain = vec![ee, inter.der.clone()];
    let creds = Credentials::new(
        chain
            .iter()
            .map(|c| CertificateDer::from(c.clone()))
            .collect(),
        private_key(&kp),
    )
    .unwrap();
    Peer {
        anchors: TrustAnchors::from_der(vec![root.der.clone()]).unwrap(),
        chain,
        creds,
    }
}

/// The peer signs its octets as IKE_AUTH would and we verify with `id` at `now`.
fn check(p: &Peer, id: &Identity, now: u64) -> Result<VerifiedPeer, AuthError> {
    let msg = octets(9);
    let choice = choose_scheme(&p.creds.key, Some(SUPPORTED_HASHES), false).unwrap();
    let auth = sign(&p.creds.key, choice, &msg, &mut TestRng::new(3)).unwrap();
    let payloads = p.creds.cert_payloads();
    let inter: Vec<&[u8]> = payloads[1..].iter().map(|c| c.data.as_slice()).collect();
    verify_peer(
        &p.anchors,
        &payloads[0].data,
        &inter,
        id,
        now,
        auth.method,
        &auth.data,
        &msg,
    )
}

fn fqdn(s: &str) -> Identity {
    Identity::Fqdn(s.into())
}

#[test]
fn chain_and_signature_for_each_key_type() {
    for alg in [Alg::Rsa2, Alg::P256, Alg::P384, Alg::Ed25519] {
        let p = peer(alg, |_| {});
        let v = check(&p, &fqdn("WEST.example"), NOW).unwrap_or_else(|e| panic!("{alg:?}: {e}"));
        assert_eq!(v.subject, "O=rswan test, CN=west");
        assert_eq!(v.issuer, "O=rswan test, CN=Intermediate CA");
        let expect = match alg {
            Alg::Rsa2 => "RSA PKCS#1 v1.5 SHA-256",
            Alg::P256 => "ECDSA P-256 SHA-256",
            Alg::P384 => "ECDSA P-384 SHA-384",
            _ => "Ed25519",
        };
        assert_eq!(v.scheme.to_string(), expect);
    }
}

#[test]
fn signature_over_other_octets_fails_after_a_good_chain() {
    let p = peer(Alg::P256, |_| {});
    let msg = octets(9);
    let choice = choose_scheme(&p.creds.key, None, false).unwrap();
    let auth = sign(&p.creds.key, choice, &msg, &mut TestRng::new(3)).unwrap();
    let e = verify_peer(
        &p.anchors,
        &p.chain[0],
        &[&p.chain[1]],
        &fqdn("west.example"),
        NOW,
        auth.method,
        &auth.data,
        &octets(10),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "signature verification failed (ECDSA P-256 SHA-256)"
    );
    // The signature checked against another valid certificate (another key) fails.
    let other = peer(Alg::P256, |_| {});
    let e = verify_peer(
        &other.anchors,
        &other.chain[0],
        &[&other.chain[1]],
        &fqdn("west.example"),
        NOW,
        auth.method,
        &auth.data,
        &msg,
    )
    .unwrap_err();
    assert!(matches!(e, AuthError::SignatureInvalid { .. }), "{e}");
    // A chain from a different CA that merely has the same name as ours is not trusted.
    let e = verify_peer(
        &p.anchors,
        &other.chain[0],
        &[&other.chain[1]],
        &fqdn("west.example"),
        NOW,
        auth.method,
        &auth.data,
        &msg,
    )
    .unwrap_err();
    assert!(e.to_string().contains("bad signature"), "{e}");
}

#[test]
fn missing_intermediate_is_unknown_ca() {
    let p = peer(Alg::P256, |_| {});
    let msg = octets(9);
    let e = verify_peer(
        &p.anchors,
        &p.chain[0],
        &[],
        &fqdn("west.example"),
        NOW,
        rswan_ikev2::consts::AuthMethod::ECDSA_SHA256_P256,
        &[0; 64],
        &msg,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "certificate for 'O=rswan test, CN=west' not trusted: unknown issuer 'O=rswan test, \
         CN=Intermediate CA' (not among the configured cacerts)"
    );
}

#[test]
fn unknown_ca() {
    let p = peer(Alg::P384, |_| {});
    let other = Ca::root("Other CA", Alg::P384);
    let stranger = Peer {
        anchors: TrustAnchors::from_der(vec![other.der.clone()]).unwrap(),
        ..p
    };
    let e = check(&stranger, &fqdn("west.example"), NOW).unwrap_err();
    assert_eq!(
        e.to_string(),
        "certificate for 'O=rswan test, CN=west' not trusted: unknown issuer 'O=rswan test, \
         CN=Root CA' (not among the configured cacerts)"
    );
}

#[test]
fn validity_is_checked_at_the_passed_time() {
    let p = peer(Alg::P256, |c| {
        c.not_before = date_time_ymd(2026, 3, 1);
        c.not_after = date_time_ymd(2026, 6, 1);
    });
    let e = check(&p, &fqdn("west.example"), NOW).unwrap_err();
    assert_eq!(
        e.to_string(),
        "certificate for 'O=rswan test, CN=west' is not valid before 2026-03-01 00:00:00 UTC \
         (now 2026-01-01 00:00:00 UTC)"
    );
    let april = NOW + 100 * 86400;
    check(&p, &fqdn("west.example"), april).unwrap();
    let july = NOW + 190 * 86400;
    let e = check(&p, &fqdn("west.example"), july).unwrap_err();
    assert!(matches!(e, AuthError::Expired { .. }));
    assert!(
        e.to_string().starts_with(
            "certificate for 'O=rswan test, CN=west' expired at 2026-06-01 00:00:00 UTC"
        ),
        "{e}"
    );
    // The CAs expire in 2040: a chain checked in 2041 fails on them, named as such.
    let e = check(
        &peer(Alg::P256, |c| c.not_after = date_time_ymd(2050, 1, 1)),
        &fqdn("west.example"),
        2_240_611_200,
    )
    .unwrap_err();
    assert!(e.to_string().contains("CA"), "{e}");
}

#[test]
fn id_must_be_in_subject_or_san() {
    let p = peer(Alg::P256, |c| {
        c.subject_alt_names = vec![
            dns("west.example"),
            email("west@example.org"),
            SanType::IpAddress(Ipv4Addr::new(192, 0, 2, 1).into()),
        ]
    });
    check(&p, &fqdn("west.example"), NOW).unwrap();
    check(&p, &Identity::Rfc822("West@Example.org".into()), NOW).unwrap();
    check(&p, &Identity::Ipv4(Ipv4Addr::new(192, 0, 2, 1)), NOW).unwrap();
    // The subject DN as ID_DER_ASN1_DN, though rcgen encodes UTF8String and we PrintableString.
    let subject = Identity::DerAsn1Dn(encode_dn("O=rswan test, CN=west").unwrap());
    check(&p, &subject, NOW).unwrap();

    let e = check(&p, &fqdn("east.example"), NOW).unwrap_err();
    assert_eq!(
        e.to_string(),
        "IKE ID 'east.example' not in certificate subject/SAN (subject 'O=rswan test, CN=west', \
         SAN: DNS:west.example, email:west@example.org, IP:192.0.2.1)"
    );
    for id in [
        Identity::Ipv4(Ipv4Addr::new(192, 0, 2, 2)),
        Identity::Rfc822("east@example.org".into()),
        Identity::DerAsn1Dn(encode_dn("O=rswan test, CN=east").unwrap()),
        Identity::DerAsn1Dn(encode_dn("CN=west").unwrap()),
        Identity::KeyId(b"west".to_vec()),
        // An FQDN that is only the CN, not a SAN, does not count.
        fqdn("west"),
    ] {
        assert!(
            matches!(
                check(&p, &id, NOW),
                Err(AuthError::IdNotInCertificate { .. })
            ),
            "{id}"
        );
    }
}

#[test]
fn extended_key_usage() {
    for (ekus, ok) in [
        (vec![], true),
        (vec![ExtendedKeyUsagePurpose::ServerAuth], true),
        (vec![ExtendedKeyUsagePurpose::ClientAuth], true),
        (vec![ipsec_ike_eku()], true),
        (
            vec![ExtendedKeyUsagePurpose::CodeSigning, ipsec_ike_eku()],
            true,
        ),
        (vec![ExtendedKeyUsagePurpose::CodeSigning], false),
        (vec![ExtendedKeyUsagePurpose::EmailProtection], false),
    ] {
        let p = peer(Alg::P256, |c| c.extended_key_usages = ekus.clone());
        let r = check(&p, &fqdn("west.example"), NOW);
        assert_eq!(r.is_ok(), ok, "{ekus:?}: {r:?}");
        if !ok {
            let e = r.unwrap_err().to_string();
            assert!(
                e.starts_with("certificate for 'O=rswan test, CN=west' is not for IKE"),
                "{e}"
            );
        }
    }
    let e = check(
        &peer(Alg::P256, |c| {
            c.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning]
        }),
        &fqdn("west.example"),
        NOW,
    )
    .unwrap_err();
    assert!(e.to_string().contains("1.3.6.1.5.5.7.3.3"), "{e}");
}

#[test]
fn name_constraints_of_the_ca_apply() {
    let mut root = Ca::root("Constrained CA", Alg::P256);
    root.params.name_constraints = Some(NameConstraints {
        permitted_subtrees: vec![GeneralSubtree::DnsName("example.org".into())],
        excluded_subtrees: vec![],
    });
    root.der = root.params.self_signed(&root.key).unwrap().der().to_vec();
    let anchors = TrustAnchors::from_der(vec![root.der.clone()]).unwrap();
    let run = |san: &str| {
        let kp = key_pair(Alg::P256);
        let ee = root.issue(&kp, "west", |p| p.subject_alt_names = vec![dns(san)]);
        let creds =
            Credentials::new(vec![CertificateDer::from(ee.clone())], private_key(&kp)).unwrap();
        let p = Peer {
            anchors: TrustAnchors::from_der(vec![root.der.clone()]).unwrap(),
            chain: vec![ee],
            creds,
        };
        check(&p, &fqdn(san), NOW)
    };
    assert!(!anchors.is_empty());
    run("west.example.org").unwrap();
    let e = run("west.example.com").unwrap_err();
    assert_eq!(
        e.to_string(),
        "certificate for 'O=rswan test, CN=west' rejected: outside the issuing CA's name constraints"
    );
}

#[test]
fn credentials_refuse_a_key_that_is_not_the_certificates() {
    let p = peer(Alg::P256, |_| {});
    let chain: Vec<_> = p
        .chain
        .iter()
        .map(|c| CertificateDer::from(c.clone()))
        .collect();
    let e = Credentials::new(chain, private_key(&key_pair(Alg::P256))).unwrap_err();
    assert!(matches!(e, AuthError::KeyMismatch { .. }), "{e}");
    assert!(Credentials::new(vec![], private_key(&key_pair(Alg::P256))).is_err());
}

#[test]
fn malformed_certificates_are_errors_not_panics() {
    let p = peer(Alg::P256, |_| {});
    let ee = &p.chain[0];
    for k in (0..ee.len()).step_by(7) {
        let r = verify_peer(
            &p.anchors,
            &ee[..k],
            &[],
            &fqdn("west.example"),
            NOW,
            rswan_ikev2::consts::AuthMethod::DIGITAL_SIGNATURE,
            &[],
            &[],
        );
        assert!(r.is_err());
    }
    assert!(TrustAnchors::from_der(vec![vec![0x30, 0x00]]).is_err());
}
