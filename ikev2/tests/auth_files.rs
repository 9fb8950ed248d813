//! Loading keys and certificates from files, CERTREQ CA hashes, and the send_cert decision.

mod auth_pki;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use auth_pki::{dns, key_pair, Alg, Ca, RSA_KEY_1};
use rcgen::PublicKeyData;
use rswan_ikev2::auth::{
    load_private_key, spki_sha1, AuthError, Credentials, CredentialsExt, PrivateKey, SendCert,
    TrustAnchors, TrustAnchorsExt,
};
use rswan_ikev2::consts::CertEncoding;
use rswan_ikev2::wire::CertReqPayload;

/// A fresh file in a per-test directory with the given mode.
fn write(test: &str, name: &str, contents: &[u8], mode: u32) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rswan-auth-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

fn cleanup(test: &str) {
    let dir = std::env::temp_dir().join(format!("rswan-auth-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(dir);
}

fn openssl(args: &[&str], input: &[u8]) -> Option<Vec<u8>> {
    use std::io::Write;
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    child.stdin.take()?.write_all(input).ok()?;
    let out = child.wait_with_output().ok()?;
    out.status.success().then_some(out.stdout)
}

#[test]
fn private_key_readable_by_others_is_refused() {
    let pem = key_pair(Alg::P256).serialize_pem();
    let path = write("perm", "west.key", pem.as_bytes(), 0o644);
    let e = load_private_key(&path).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "private key {} is readable by other users (mode 0644); chmod 600 it",
            path.display()
        )
    );
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    assert!(matches!(
        load_private_key(&path),
        Err(AuthError::KeyFileReadable { mode: 0o640, .. })
    ));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(matches!(
        load_private_key(&path).unwrap(),
        PrivateKey::EcdsaP256(_)
    ));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
    assert!(load_private_key(&path).is_ok());
    let missing = path.with_file_name("missing.key");
    assert!(load_private_key(&missing)
        .unwrap_err()
        .to_string()
        .starts_with(&format!("private key {}: ", missing.display())));
    let junk = write("perm", "junk.key", b"not a key", 0o600);
    assert!(load_private_key(&junk).is_err());
    cleanup("perm");
}

#[test]
fn key_formats() {
    let cases = [
        (key_pair(Alg::P256).serialize_pem(), "ECDSA P-256"),
        (key_pair(Alg::P384).serialize_pem(), "ECDSA P-384"),
        (key_pair(Alg::Ed25519).serialize_pem(), "Ed25519"),
        (RSA_KEY_1.to_string(), "RSA"),
    ];
    for (pem, kind) in &cases {
        let k = PrivateKey::from_pem_or_der(pem.as_bytes()).unwrap();
        assert_eq!(k.kind(), *kind);
        assert_eq!(
            format!("{k:?}"),
            format!("PrivateKey({kind})"),
            "Debug shows no key material"
        );
        // Traditional PEM (PKCS#1 "RSA PRIVATE KEY", SEC1 "EC PRIVATE KEY") when openssl can make it.
        if *kind != "Ed25519" {
            match openssl(&["pkey", "-traditional"], pem.as_bytes()) {
                Some(trad) => {
                    let text = String::from_utf8(trad.clone()).unwrap();
                    let label = if *kind == "RSA" { "RSA" } else { "EC" };
                    assert!(
                        text.contains(&format!("BEGIN {label} PRIVATE KEY")),
                        "{text}"
                    );
                    let k2 = PrivateKey::from_pem_or_der(&trad).unwrap();
                    assert_eq!(k2.public_key(), k.public_key(), "{kind}");
                }
                None => eprintln!("openssl not available: traditional PEM of {kind} not checked"),
            }
        }
    }
    // Raw PKCS#8 DER.
    let kp = key_pair(Alg::P384);
    let k = PrivateKey::from_pem_or_der(&kp.serialize_der()).unwrap();
    assert_eq!(k.kind(), "ECDSA P-384");
    assert!(PrivateKey::from_pem_or_der(
        b"-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"
    )
    .is_err());
    assert!(PrivateKey::from_pem_or_der(&[0x30, 0x03, 0x02, 0x01, 0x00]).is_err());
}

#[test]
fn certreq_is_sha1_of_the_ca_spki() {
    let root = Ca::root("Root CA", Alg::P256);
    let other = Ca::root("Other CA", Alg::Rsa2);
    let anchors = TrustAnchors::from_der(vec![root.der.clone(), other.der.clone()]).unwrap();
    let req = anchors.certreq();
    assert_eq!(req.encoding, CertEncoding::X509_SIGNATURE);
    assert_eq!(req.authorities.len(), 40);

    // Independent computation: SHA-1 over the SPKI that rcgen put in the certificate.
    let spki = root.key.subject_public_key_info();
    let want = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &spki);
    assert_eq!(&req.authorities[..20], want.as_ref());
    assert_eq!(spki_sha1(&root.der).unwrap().as_slice(), want.as_ref());
    assert_ne!(&req.authorities[..20], &req.authorities[20..]);

    // And with the OpenSSL CLI: openssl x509 -pubkey | openssl pkey -pubin -outform der | sha1sum.
    let pubkey = openssl(&["x509", "-inform", "der", "-pubkey", "-noout"], &root.der);
    match pubkey.and_then(|pem| openssl(&["pkey", "-pubin", "-outform", "der"], &pem)) {
        Some(der) => {
            let sha = openssl(&["dgst", "-sha1", "-binary"], &der).unwrap();
            assert_eq!(&req.authorities[..20], sha.as_slice());
        }
        None => eprintln!("openssl not available: CLI cross-check skipped"),
    }
}

#[test]
fn answering_a_certreq() {
    let root = Ca::root("Root CA", Alg::P256);
    let inter = root.intermediate("Intermediate CA", Alg::P384);
    let stranger = Ca::root("Other CA", Alg::P256);
    let kp = key_pair(Alg::P256);
    let ee_cert = inter.issue_cert(&kp, "west", |p| {
        p.subject_alt_names = vec![dns("west.example")]
    });
    let ee = ee_cert.der().to_vec();

    // Load through files, as the daemon does: chain PEM (end entity first) and a 0600 key.
    let chain_pem = format!("{}{}", ee_cert.pem(), inter.pem);
    let cert_path = write("certreq", "west.pem", chain_pem.as_bytes(), 0o644);
    let key_path = write("certreq", "west.key", kp.serialize_pem().as_bytes(), 0o600);
    let ca_path = write("certreq", "ca.pem", root.pem.as_bytes(), 0o644);
    let creds = Credentials::from_pem_files(&cert_path, &key_path).unwrap();
    assert_eq!(creds.cert_chain.len(), 2);
    assert_eq!(creds.cert_payloads()[0].data, ee);
    let ours = TrustAnchors::from_pem_files(&[&ca_path]).unwrap();

    let req = |cas: &[&[u8]]| CertReqPayload {
        encoding: CertEncoding::X509_SIGNATURE,
        authorities: cas.iter().flat_map(|c| spki_sha1(c).unwrap()).collect(),
    };
    // The peer trusts our root, our intermediate, or only some other CA.
    assert!(creds.answers_certreq(&req(&[&root.der]), &ours));
    assert!(creds.answers_certreq(&req(&[&stranger.der, &inter.der]), &ours));
    assert!(!creds.answers_certreq(&req(&[&stranger.der]), &ours));
    // Our root is only known if it is in our CA store.
    assert!(!creds.answers_certreq(&req(&[&root.der]), &TrustAnchors::default()));
    // Malformed: not a multiple of 20 octets.
    let bad = CertReqPayload {
        encoding: CertEncoding::X509_SIGNATURE,
        authorities: vec![0; 21],
    };
    assert!(!creds.answers_certreq(&bad, &ours));
    cleanup("certreq");
}

#[test]
fn send_cert_policy() {
    assert!(SendCert::IfAsked.should_send(true));
    assert!(!SendCert::IfAsked.should_send(false));
    assert!(SendCert::Always.should_send(false));
    assert!(!SendCert::Never.should_send(true));
    assert_eq!(SendCert::default(), SendCert::IfAsked);
}
