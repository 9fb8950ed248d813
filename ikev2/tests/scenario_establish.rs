//! Establishment with every algorithm rswan supports, one proposal string per case as an operator
//! would write it, on both sides. Each case checks what a user would look at: both `status()`
//! views name the negotiated IKE algorithms, and both kernels hold the same ESP SAs with the
//! negotiated algorithm and identical keys of the right length.

mod harness;

use rswan_ikev2::consts::{EncrId, IntegId};
use rswan_ikev2::output::Direction;

use harness::*;

struct Case {
    ike: &'static str,
    esp: &'static str,
    /// Expected IKE algorithms in `status()`: encryption (base name, key size), integrity, PRF, group.
    ike_encr: (&'static str, Option<u16>),
    ike_integ: Option<&'static str>,
    ike_prf: &'static str,
    ike_dh: &'static str,
    /// Expected ESP SA in the kernel: encryption id, key octets (with salt), ICV bits; integrity id
    /// and key octets.
    esp_encr: (EncrId, usize, Option<u16>),
    esp_integ: Option<(IntegId, usize)>,
}

fn run(case: Case) {
    let mut w = Pair::with_proposals(case.ike, case.esp).build(1);
    establish(&mut w);
    for p in [&w.a, &w.b] {
        let algs = established_ike(p)[0].algorithms.clone().unwrap();
        assert_eq!(
            (algs.encr.as_str(), algs.encr_keysize),
            case.ike_encr,
            "{}: IKE encryption",
            p.name
        );
        assert_eq!(
            algs.integ.as_deref(),
            case.ike_integ,
            "{}: IKE integrity",
            p.name
        );
        assert_eq!(algs.prf, case.ike_prf, "{}: PRF", p.name);
        assert_eq!(algs.dh_group, case.ike_dh, "{}: KE group", p.name);
        for dir in [Direction::In, Direction::Out] {
            let sa = p.kernel.sas_dir(dir)[0];
            assert_eq!(
                (sa.encr.alg, sa.encr.key.len(), sa.encr.icv_bits),
                case.esp_encr,
                "{}: ESP encryption",
                p.name
            );
            assert_eq!(
                sa.integ.as_ref().map(|i| (i.alg, i.key.len())),
                case.esp_integ,
                "{}: ESP integrity",
                p.name
            );
        }
    }
    // Inbound and outbound keys are independent (KEYMAT is split per direction).
    let sa_in = w.a.kernel.sas_dir(Direction::In)[0];
    let sa_out = w.a.kernel.sas_dir(Direction::Out)[0];
    assert_ne!(
        *sa_in.encr.key, *sa_out.encr.key,
        "same key in both directions"
    );
}

const SHA256: Option<(IntegId, usize)> = Some((IntegId::HMAC_SHA2_256_128, 32));

macro_rules! cases {
    ($($name:ident: $case:expr;)*) => { $(#[test] fn $name() { run($case); })* };
}

fn cbc(ike: &'static str, esp: &'static str, bits: u16) -> Case {
    Case {
        ike,
        esp,
        ike_encr: ("AES_CBC", Some(bits)),
        ike_integ: Some("HMAC_SHA2_256_128"),
        ike_prf: "PRF_HMAC_SHA2_256",
        ike_dh: "CURVE_25519",
        esp_encr: (EncrId::AES_CBC, usize::from(bits / 8), None),
        esp_integ: SHA256,
    }
}

fn aead(
    ike: &'static str,
    esp: &'static str,
    name: &'static str,
    id: EncrId,
    bits: u16,
    icv: u16,
) -> Case {
    Case {
        ike,
        esp,
        ike_encr: (name, Some(bits)),
        ike_integ: None,
        ike_prf: "PRF_HMAC_SHA2_256",
        ike_dh: "CURVE_25519",
        // RFC 4106: the kernel key carries the 4-octet salt after the AES key.
        esp_encr: (id, usize::from(bits / 8) + 4, Some(icv)),
        esp_integ: None,
    }
}

fn integ(
    ike: &'static str,
    esp: &'static str,
    name: &'static str,
    id: IntegId,
    key: usize,
) -> Case {
    Case {
        ike,
        esp,
        ike_encr: ("AES_CBC", Some(128)),
        ike_integ: Some(name),
        ike_prf: "PRF_HMAC_SHA2_256",
        ike_dh: "CURVE_25519",
        esp_encr: (EncrId::AES_CBC, 16, None),
        esp_integ: Some((id, key)),
    }
}

fn prf(ike: &'static str, name: &'static str) -> Case {
    Case {
        ike,
        esp: "aes128gcm16",
        ike_encr: ("AES_GCM_16", Some(128)),
        ike_integ: None,
        ike_prf: name,
        ike_dh: "CURVE_25519",
        esp_encr: (EncrId::AES_GCM_16, 20, Some(128)),
        esp_integ: None,
    }
}

fn ke(ike: &'static str, name: &'static str) -> Case {
    Case {
        ike_dh: name,
        ..prf(ike, "PRF_HMAC_SHA2_256")
    }
}

cases! {
    encr_aes_cbc_128: cbc("aes128-sha256-prfsha256-x25519", "aes128-sha256", 128);
    encr_aes_cbc_192: cbc("aes192-sha256-prfsha256-x25519", "aes192-sha256", 192);
    encr_aes_cbc_256: cbc("aes256-sha256-prfsha256-x25519", "aes256-sha256", 256);
    encr_aes_gcm8_128: aead("aes128gcm8-prfsha256-x25519", "aes128gcm8", "AES_GCM_8", EncrId::AES_GCM_8, 128, 64);
    encr_aes_gcm8_192: aead("aes192gcm8-prfsha256-x25519", "aes192gcm8", "AES_GCM_8", EncrId::AES_GCM_8, 192, 64);
    encr_aes_gcm8_256: aead("aes256gcm8-prfsha256-x25519", "aes256gcm8", "AES_GCM_8", EncrId::AES_GCM_8, 256, 64);
    encr_aes_gcm12_128: aead("aes128gcm12-prfsha256-x25519", "aes128gcm12", "AES_GCM_12", EncrId::AES_GCM_12, 128, 96);
    encr_aes_gcm12_192: aead("aes192gcm12-prfsha256-x25519", "aes192gcm12", "AES_GCM_12", EncrId::AES_GCM_12, 192, 96);
    encr_aes_gcm12_256: aead("aes256gcm12-prfsha256-x25519", "aes256gcm12", "AES_GCM_12", EncrId::AES_GCM_12, 256, 96);
    encr_aes_gcm16_128: aead("aes128gcm16-prfsha256-x25519", "aes128gcm16", "AES_GCM_16", EncrId::AES_GCM_16, 128, 128);
    encr_aes_gcm16_192: aead("aes192gcm16-prfsha256-x25519", "aes192gcm16", "AES_GCM_16", EncrId::AES_GCM_16, 192, 128);
    encr_aes_gcm16_256: aead("aes256gcm16-prfsha256-x25519", "aes256gcm16", "AES_GCM_16", EncrId::AES_GCM_16, 256, 128);
    encr_chacha20_poly1305: Case {
        ike_encr: ("CHACHA20_POLY1305", None),
        // RFC 7634: 256-bit key plus 4-octet salt; the ICV is always 128 bits.
        esp_encr: (EncrId::CHACHA20_POLY1305, 36, Some(128)),
        ..aead("chacha20poly1305-prfsha256-x25519", "chacha20poly1305", "", EncrId::CHACHA20_POLY1305, 256, 128)
    };
    encr_3des_opt_in: Case {
        ike_encr: ("3DES_CBC", None),
        esp_encr: (EncrId::TRIPLE_DES, 24, None),
        ..cbc("3des-sha256-prfsha256-x25519", "3des-sha256", 128)
    };
    integ_hmac_sha1_96: integ("aes128-sha1-prfsha256-x25519", "aes128-sha1", "HMAC_SHA1_96", IntegId::HMAC_SHA1_96, 20);
    integ_hmac_sha2_256_128: integ("aes128-sha256-prfsha256-x25519", "aes128-sha256", "HMAC_SHA2_256_128", IntegId::HMAC_SHA2_256_128, 32);
    integ_hmac_sha2_384_192: integ("aes128-sha384-prfsha256-x25519", "aes128-sha384", "HMAC_SHA2_384_192", IntegId::HMAC_SHA2_384_192, 48);
    integ_hmac_sha2_512_256: integ("aes128-sha512-prfsha256-x25519", "aes128-sha512", "HMAC_SHA2_512_256", IntegId::HMAC_SHA2_512_256, 64);
    integ_hmac_md5_96_opt_in: integ("aes128-md5-prfsha256-x25519", "aes128-md5", "HMAC_MD5_96", IntegId::HMAC_MD5_96, 16);
    prf_hmac_sha1: prf("aes128gcm16-prfsha1-x25519", "PRF_HMAC_SHA1");
    prf_hmac_sha2_256: prf("aes128gcm16-prfsha256-x25519", "PRF_HMAC_SHA2_256");
    prf_hmac_sha2_384: prf("aes128gcm16-prfsha384-x25519", "PRF_HMAC_SHA2_384");
    prf_hmac_sha2_512: prf("aes128gcm16-prfsha512-x25519", "PRF_HMAC_SHA2_512");
    ke_modp_2048: ke("aes128gcm16-prfsha256-modp2048", "MODP_2048");
    ke_modp_3072: ke("aes128gcm16-prfsha256-modp3072", "MODP_3072");
    ke_modp_4096: ke("aes128gcm16-prfsha256-modp4096", "MODP_4096");
    ke_ecp_256: ke("aes128gcm16-prfsha256-ecp256", "ECP_256");
    ke_ecp_384: ke("aes128gcm16-prfsha256-ecp384", "ECP_384");
    ke_ecp_521: ke("aes128gcm16-prfsha256-ecp521", "ECP_521");
    ke_curve25519: ke("aes128gcm16-prfsha256-curve25519", "CURVE_25519");
    ke_modp_1024_opt_in: ke("aes128gcm16-prfsha256-modp1024", "MODP_1024");
    ke_modp_1536_opt_in: ke("aes128gcm16-prfsha256-modp1536", "MODP_1536");
}

/// The ESP proposal may differ from IKE's and a responder offering several proposals picks the
/// initiator's first acceptable one.
#[test]
fn responder_with_several_proposals_picks_the_initiators_choice() {
    let mut pair = Pair::default();
    pair.a.ike = "aes128-sha256-prfsha384-ecp384".into();
    pair.a.esp = "chacha20poly1305".into();
    pair.b.ike = "aes256gcm16-prfsha256-x25519,aes128-sha256-prfsha384-ecp384".into();
    pair.b.esp = "aes256gcm16,chacha20poly1305".into();
    let mut w = pair.build(2);
    establish(&mut w);
    let algs = established_ike(&w.b)[0].algorithms.clone().unwrap();
    assert_eq!(algs.dh_group, "ECP_384");
    assert_eq!(
        w.b.kernel.sas_dir(Direction::In)[0].encr.alg,
        EncrId::CHACHA20_POLY1305
    );
}

/// The responder's configuration works as an initiator too (both configs are symmetric).
#[test]
fn responder_side_can_initiate() {
    let mut w = Pair::default().build(3);
    establish_from(&mut w, Side::B);
    assert!(established_ike(&w.b)[0].initiator);
    assert!(!established_ike(&w.a)[0].initiator);
}

#[test]
fn esn_is_negotiated_into_both_kernels() {
    let mut w = Pair::with_proposals("aes256gcm16-prfsha256-x25519", "aes256gcm16-esn").build(4);
    establish(&mut w);
    for p in [&w.a, &w.b] {
        assert!(
            p.kernel.sas.values().all(|s| s.esn),
            "{}: ESN not installed",
            p.name
        );
        assert!(
            established_ike(p)[0].children[0].esn,
            "{}: status does not show ESN",
            p.name
        );
    }
}

/// A KE group in esp_proposals (for PFS on rekeying) must not stop the first Child SA, which is
/// keyed from the IKE SA's key exchange (RFC 7296 section 1.2).
#[test]
fn esp_proposal_with_a_pfs_group_still_establishes_the_first_child() {
    let mut w = Pair::with_proposals("aes256gcm16-prfsha256-x25519", "aes256gcm16-ecp256").build(5);
    establish(&mut w);
    assert_eq!(
        w.a.kernel.sas_dir(Direction::Out)[0].encr.alg,
        EncrId::AES_GCM_16
    );
}

#[test]
fn ipv6_peers_and_selectors_establish() {
    let mut pair = Pair::default();
    pair.a.local_ts = vec![rswan_ikev2::config::TsConfig::Range(net("2001:db8:1::/64"))];
    pair.a.remote_ts = vec![rswan_ikev2::config::TsConfig::Range(net("2001:db8:2::/64"))];
    pair.b.local_ts = pair.a.remote_ts.clone();
    pair.b.remote_ts = pair.a.local_ts.clone();
    let mut w = pair.build_at(
        "[2001:db8::1]:500".parse().unwrap(),
        "[2001:db8::2]:500".parse().unwrap(),
        6,
    );
    establish(&mut w);
    assert_policies(&w.a, &net("2001:db8:1::/64"), &net("2001:db8:2::/64"), true);
    assert_policies(&w.b, &net("2001:db8:2::/64"), &net("2001:db8:1::/64"), true);
    let sa = w.a.kernel.sas_dir(Direction::Out)[0];
    assert_eq!(
        (sa.src.to_string(), sa.dst.to_string()),
        ("2001:db8::1".into(), "2001:db8::2".into())
    );
}
