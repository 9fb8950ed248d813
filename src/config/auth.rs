//! `connections.<conn>.local` and `.remote`: identity, and for `auth: pubkey` the certificate
//! files, their private key (found in `secrets` by public key, as strongSwan does) and the CAs.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rswan_ikev2::auth::{name_string, CertInfo, SanEntry, TrustAnchors};

use super::credentials::{self, KeyEntry};
use super::model::Auth;
use super::schema::{AuthDoc, AuthMethod};
use super::values::{self, AddrSpec, Identity};
use super::{parse_opt, ConfigError, Secrets};

type ErrFn<'a> = &'a dyn Fn(&[&str], String) -> ConfigError;

/// An error at the first of `keys` that is written in the file (so it gets a line), else at the
/// last one.
fn at_first_written(err: ErrFn<'_>, keys: &[&[&str]], message: String) -> ConfigError {
    for k in keys {
        let e = err(k, message.clone());
        if e.line.is_some() {
            return e;
        }
    }
    err(keys.last().copied().unwrap_or(&[]), message)
}

/// A certificate and the file it was read from.
type CertFromFile = (PathBuf, Vec<u8>);

/// The certificates of a `certs`/`cacerts` list, read from their files in order.
fn read_list(
    paths: &[PathBuf],
    key: &[&str],
    err: ErrFn<'_>,
) -> Result<Vec<CertFromFile>, ConfigError> {
    let mut certs = Vec::new();
    for p in paths {
        let ders = credentials::read_certs(p).map_err(|e| err(key, e))?;
        certs.extend(ders.into_iter().map(|d| (p.clone(), d)));
    }
    Ok(certs)
}

fn resolve_all(files: &[String], dir: &Path) -> Vec<PathBuf> {
    files.iter().map(|f| credentials::resolve(dir, f)).collect()
}

fn file_name(p: &Path) -> String {
    p.file_name().map_or_else(
        || p.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

pub(super) fn build_local(
    conn: &str,
    doc: AuthDoc,
    local_addrs: &[AddrSpec],
    secrets: &Secrets,
    dir: &Path,
    err: ErrFn<'_>,
) -> Result<Auth, ConfigError> {
    let key = |k: &'static str| -> [&str; 4] { ["connections", conn, "local", k] };
    let method = doc.auth.unwrap_or(AuthMethod::Pubkey);
    if doc.cacerts.is_some() {
        return Err(err(
            &key("cacerts"),
            "cacerts belongs under remote: the CAs that issue the peer's certificate".into(),
        ));
    }
    let id = match parse_opt(doc.id, &key("id"), values::parse_identity, err)? {
        Some(Identity::Any) => {
            return Err(err(
                &key("id"),
                "%any is not allowed as our own identity".into(),
            ))
        }
        other => other,
    };
    let files = doc.certs.unwrap_or_default();
    if method == AuthMethod::Psk {
        return local_psk(conn, id, &files, local_addrs, err);
    }
    if files.is_empty() {
        return Err(at_first_written(
            err,
            &[
                &key("auth"),
                &["connections", conn, "local"],
                &["connections", conn],
            ],
            "auth: pubkey (the default) needs certs: our certificate file first, then any \
             intermediate CA certificates to send along; use auth: psk for a pre-shared key"
                .into(),
        ));
    }
    let paths = resolve_all(&files, dir);
    let chain = read_list(&paths, &key("certs"), err)?;
    let Some((ee_path, ee)) = chain.first() else {
        return Err(err(
            &key("certs"),
            "no certificate in the listed files".into(),
        ));
    };
    let subject = credentials::subject(ee);
    if credentials::public_key(ee).is_none() {
        return Err(err(
            &key("certs"),
            format!(
                "certificate {} ({subject}) has a key type rswan cannot sign with (RSA, ECDSA P-256/P-384/P-521 and Ed25519 are supported)",
                file_name(ee_path)
            ),
        ));
    }
    let entry = private_key_for(conn, secrets, ee_path, ee, &subject, err)?;
    let (id, id_from_cert) = cert_identity(conn, id, ee_path, ee, &subject, err)?;
    Ok(Auth {
        id_from_cert,
        certs: paths,
        cert_ders: chain.into_iter().map(|(_, d)| d).collect(),
        cert_subject: Some(subject),
        private_key_source: Some(entry.name.clone()),
        private_key_file: Some(entry.file.clone()),
        ..Auth::new(method, id)
    })
}

/// The `secrets:` key whose public half is the certificate's.
fn private_key_for<'s>(
    conn: &str,
    secrets: &'s Secrets,
    ee_path: &Path,
    ee: &[u8],
    subject: &str,
    err: ErrFn<'_>,
) -> Result<&'s KeyEntry, ConfigError> {
    credentials::find_key(&secrets.keys, ee).ok_or_else(|| {
        let stem = ee_path
            .file_stem()
            .map_or_else(|| "key".into(), |s| s.to_string_lossy().into_owned());
        err(
            &["connections", conn, "local", "certs"],
            format!(
                "no private key for certificate {} ({subject}); add secrets.private-{stem}.file",
                file_name(ee_path)
            ),
        )
    })
}

/// `auth: psk`: no certificates; the identity defaults to the single local address.
fn local_psk(
    conn: &str,
    id: Option<Identity>,
    files: &[String],
    local_addrs: &[AddrSpec],
    err: ErrFn<'_>,
) -> Result<Auth, ConfigError> {
    if !files.is_empty() {
        return Err(err(
            &["connections", conn, "local", "certs"],
            "certs are used only with auth: pubkey (this round is auth: psk)".into(),
        ));
    }
    let id = match id {
        Some(id) => id,
        None => default_ip_id(local_addrs).ok_or_else(|| {
            err(
                &["connections", conn, "local"],
                "local.id is required when local_addrs has no single address to default to".into(),
            )
        })?,
    };
    Ok(Auth::new(AuthMethod::Psk, id))
}

/// Our identity with a certificate: the configured one if the certificate carries it, else the
/// certificate's subject (and whether it came from there).
fn cert_identity(
    conn: &str,
    id: Option<Identity>,
    ee_path: &Path,
    ee: &[u8],
    subject: &str,
    err: ErrFn<'_>,
) -> Result<(Identity, bool), ConfigError> {
    let key = |k: &'static str| -> [&str; 4] { ["connections", conn, "local", k] };
    if let Some(id) = id {
        check_id_in_cert(&id, ee).map_err(|e| err(&key("id"), e))?;
        return Ok((id, false));
    }
    if credentials::subject_der(ee).as_deref() == Some(&[0x30, 0x00][..]) {
        return Err(err(
            &key("certs"),
            format!(
                "certificate {} has an empty subject: set local.id to one of its subjectAltNames",
                file_name(ee_path)
            ),
        ));
    }
    Ok((Identity::Dn(subject.to_owned()), true))
}

pub(super) fn build_remote(
    conn: &str,
    doc: AuthDoc,
    dir: &Path,
    err: ErrFn<'_>,
) -> Result<Auth, ConfigError> {
    let key = |k: &'static str| -> [&str; 4] { ["connections", conn, "remote", k] };
    let method = doc.auth.unwrap_or(AuthMethod::Pubkey);
    let id = parse_opt(doc.id, &key("id"), values::parse_identity, err)?.unwrap_or(Identity::Any);
    if doc.certs.is_some() {
        return Err(err(
            &key("certs"),
            "pinning the peer's certificate is not supported yet: list its CA in remote.cacerts \
             and name the peer in remote.id"
                .into(),
        ));
    }
    let files = doc.cacerts.unwrap_or_default();
    if method == AuthMethod::Psk {
        if !files.is_empty() {
            return Err(err(
                &key("cacerts"),
                "cacerts are used only with auth: pubkey (this round is auth: psk)".into(),
            ));
        }
        return Ok(Auth::new(method, id));
    }
    if files.is_empty() {
        // strongSwan would trust every CA it has loaded; rswan has no global CA store, and
        // borrowing other connections' CAs would let a change to one connection widen another.
        return Err(at_first_written(
            err,
            &[
                &key("auth"),
                &["connections", conn, "remote"],
                &["connections", conn],
            ],
            "auth: pubkey (the default) needs cacerts: the CA certificate(s) that issue the \
             peer's certificate; use auth: psk for a pre-shared key"
                .into(),
        ));
    }
    let paths = resolve_all(&files, dir);
    let cas = read_list(&paths, &key("cacerts"), err)?;
    for (p, der) in &cas {
        TrustAnchors::from_der(vec![der.clone()]).map_err(|e| {
            err(
                &key("cacerts"),
                format!("{} cannot be used as a CA: {e}", p.display()),
            )
        })?;
    }
    Ok(Auth {
        cacerts: paths,
        cacert_ders: cas.into_iter().map(|(_, d)| d).collect(),
        ..Auth::new(method, id)
    })
}

fn default_ip_id(local_addrs: &[AddrSpec]) -> Option<Identity> {
    match local_addrs.iter().find_map(AddrSpec::host)? {
        IpAddr::V4(a) => Some(Identity::Ipv4(a)),
        IpAddr::V6(a) => Some(Identity::Ipv6(a)),
    }
}

/// Our configured identity must be in our certificate (subject, or a subjectAltName of the
/// matching kind), or every peer will refuse the certificate; strongSwan refuses such a
/// configuration too. Key IDs are not bound to certificates and pass.
fn check_id_in_cert(id: &Identity, cert: &[u8]) -> Result<(), String> {
    let Some(info) = CertInfo::parse(cert) else {
        return Ok(());
    };
    let same_name = |der: &[u8]| {
        values::dn_der(&id.to_string())
            .is_ok_and(|mine| name_string(&mine).eq_ignore_ascii_case(&name_string(der)))
    };
    let found = match id {
        Identity::Any | Identity::KeyId(_) => true,
        Identity::Dn(_) => {
            same_name(info.subject)
                || info
                    .san
                    .iter()
                    .any(|s| matches!(s, SanEntry::Dn(d) if same_name(d)))
        }
        Identity::Fqdn(n) => info
            .san
            .iter()
            .any(|s| matches!(s, SanEntry::Dns(d) if d.eq_ignore_ascii_case(n))),
        Identity::Email(n) => info
            .san
            .iter()
            .any(|s| matches!(s, SanEntry::Email(d) if d.eq_ignore_ascii_case(n))),
        Identity::Ipv4(a) => info.san.contains(&SanEntry::Ip((*a).into())),
        Identity::Ipv6(a) => info.san.contains(&SanEntry::Ip((*a).into())),
    };
    if found {
        return Ok(());
    }
    let san: Vec<String> = info.san.iter().map(ToString::to_string).collect();
    Err(format!(
        "{id} is not in our certificate (subject {}, subjectAltNames: {}); peers would refuse it. \
         Use one of those, or leave id out to use the subject",
        name_string(info.subject),
        if san.is_empty() {
            "none".to_owned()
        } else {
            san.join(", ")
        }
    ))
}

#[cfg(test)]
mod tests {
    use crate::config::{parse_str, ConfigError};
    use std::path::Path;

    /// A PSK connection with `extra` inserted under `local:` / `remote:` / the connection.
    fn conf(local: &str, remote: &str, conn: &str, secrets: &str) -> String {
        format!(
            "connections:\n  gw:\n    local_addrs: [192.0.2.1]\n{conn}    local:\n{local}    remote:\n{remote}secrets:\n  ike-1:\n    secret: abcdef\n{secrets}"
        )
    }

    fn err(text: &str) -> ConfigError {
        parse_str(text, Path::new("t.yaml")).expect_err(text)
    }

    #[test]
    fn pubkey_without_certs_says_what_to_add() {
        let e = err(&conf("      auth: pubkey\n", "      auth: psk\n", "", ""));
        assert_eq!(e.key.as_deref(), Some("connections.gw.local.auth"));
        assert_eq!(e.line, Some(5));
        assert!(
            e.message
                .starts_with("auth: pubkey (the default) needs certs: our certificate file first"),
            "{e}"
        );
        // The default auth is pubkey: the message points at the section when auth is not written.
        let e = err(&conf("      id: moon\n", "      auth: psk\n", "", ""));
        assert_eq!(e.key.as_deref(), Some("connections.gw.local"), "{e}");
        assert_eq!(e.line, Some(4));
    }

    #[test]
    fn pubkey_peer_without_cacerts_is_refused() {
        let e = err(&conf(
            "      auth: psk\n      id: moon\n",
            "      auth: pubkey\n      id: sun\n",
            "",
            "",
        ));
        assert_eq!(e.key.as_deref(), Some("connections.gw.remote.auth"), "{e}");
        assert_eq!(e.line, Some(8));
        assert!(e.message.starts_with("auth: pubkey (the default) needs cacerts: the CA certificate(s) that issue the peer's certificate"), "{e}");
    }

    #[test]
    fn keys_in_the_wrong_round_are_refused() {
        let e = err(&conf(
            "      auth: psk\n      id: moon\n      cacerts: [ca.pem]\n",
            "      auth: psk\n",
            "",
            "",
        ));
        assert_eq!(
            e.key.as_deref(),
            Some("connections.gw.local.cacerts"),
            "{e}"
        );
        assert_eq!(e.line, Some(7));
        assert_eq!(
            e.message,
            "cacerts belongs under remote: the CAs that issue the peer's certificate"
        );
        let e = err(&conf(
            "      auth: psk\n      id: moon\n",
            "      auth: psk\n      certs: [sun.pem]\n",
            "",
            "",
        ));
        assert_eq!(e.key.as_deref(), Some("connections.gw.remote.certs"), "{e}");
        assert!(
            e.message
                .starts_with("pinning the peer's certificate is not supported yet"),
            "{e}"
        );
        let e = err(&conf(
            "      auth: psk\n      id: moon\n      certs: [moon.pem]\n",
            "      auth: psk\n",
            "",
            "",
        ));
        assert_eq!(e.key.as_deref(), Some("connections.gw.local.certs"), "{e}");
        assert_eq!(
            e.message,
            "certs are used only with auth: pubkey (this round is auth: psk)"
        );
        let e = err(&conf(
            "      auth: psk\n      id: moon\n",
            "      auth: psk\n      cacerts: [ca.pem]\n",
            "",
            "",
        ));
        assert_eq!(
            e.key.as_deref(),
            Some("connections.gw.remote.cacerts"),
            "{e}"
        );
        assert_eq!(
            e.message,
            "cacerts are used only with auth: pubkey (this round is auth: psk)"
        );
    }

    #[test]
    fn send_cert_and_send_certreq_values() {
        let psk = ("      auth: psk\n      id: moon\n", "      auth: psk\n");
        let ok = |conn: &str| {
            parse_str(&conf(psk.0, psk.1, conn, ""), Path::new("t.yaml"))
                .unwrap()
                .connections
                .remove(0)
        };
        let c = ok("");
        assert_eq!(
            (c.send_cert, c.send_certreq),
            (super::super::SendCert::IfAsked, true)
        );
        let c = ok("    send_cert: always\n    send_certreq: no\n");
        assert_eq!(
            (c.send_cert, c.send_certreq),
            (super::super::SendCert::Always, false)
        );
        assert_eq!(
            ok("    send_cert: never\n").send_cert,
            super::super::SendCert::Never
        );
        let e = err(&conf(psk.0, psk.1, "    send_cert: sometimes\n", ""));
        assert_eq!(e.key.as_deref(), Some("connections.gw.send_cert"), "{e}");
        assert_eq!(e.line, Some(4));
        assert!(e.message.contains("`ifasked`, `always`, `never`"), "{e}");
        let e = err(&conf(psk.0, psk.1, "    send_certreq: maybe\n", ""));
        assert_eq!(e.key.as_deref(), Some("connections.gw.send_certreq"), "{e}");
        assert_eq!(e.line, Some(4));
        assert_eq!(
            e.message,
            "invalid boolean 'maybe': expected yes or no (also true/false)"
        );
    }

    #[test]
    fn private_key_entries_are_checked() {
        let psk = ("      auth: psk\n      id: moon\n", "      auth: psk\n");
        let e = err(&conf(psk.0, psk.1, "", "  private-moon:\n    secret: pw\n"));
        assert_eq!(e.key.as_deref(), Some("secrets.private-moon"), "{e}");
        assert_eq!(e.line, Some(12));
        assert!(
            e.message
                .starts_with("missing key 'file': the private key file"),
            "{e}"
        );
        let e = err(&conf(
            psk.0,
            psk.1,
            "",
            "  rsa-moon:\n    id: moon\n    file: moon.key\n",
        ));
        assert_eq!(e.key.as_deref(), Some("secrets.rsa-moon.id"), "{e}");
        assert!(e.message.contains("remove id"), "{e}");
        let e = err(&conf(
            psk.0,
            psk.1,
            "",
            "  ecdsa-moon:\n    file: /nonexistent/moon.key\n",
        ));
        assert_eq!(e.key.as_deref(), Some("secrets.ecdsa-moon.file"), "{e}");
        assert_eq!(e.line, Some(13));
        assert!(
            e.message.starts_with("private key /nonexistent/moon.key: "),
            "{e}"
        );
        let e = err(&conf(
            psk.0,
            psk.1,
            "",
            "  pkcs12-moon:\n    file: moon.p12\n",
        ));
        assert_eq!(e.key.as_deref(), Some("secrets.pkcs12-moon"), "{e}");
        assert!(
            e.message.starts_with(
                "PKCS#12 containers are not supported: extract the key with 'openssl pkcs12"
            ),
            "{e}"
        );
        let e = err(&conf(psk.0, psk.1, "", "  ike-2:\n    file: moon.key\n"));
        assert_eq!(e.key.as_deref(), Some("secrets.ike-2.file"), "{e}");
        assert!(
            e.message
                .starts_with("an ike<suffix> entry holds its key in secret"),
            "{e}"
        );
        let e = err(&conf(psk.0, psk.1, "", "  eap-1:\n    secret: x\n"));
        assert!(
            e.message
                .contains("expected ike<suffix> (pre-shared key) or private<suffix>"),
            "{e}"
        );
    }

    /// A DN owner written as one string stays one identity (its commas are not list commas),
    /// so a PSK shared between DN identities is found.
    #[test]
    fn psk_owners_may_be_distinguished_names() {
        let text = "connections:\n  gw:\n    local_addrs: [192.0.2.1]\n    local:\n      auth: psk\n      id: \"C=CH, CN=moon\"\n    remote:\n      auth: psk\n      id: \"C=CH, CN=sun\"\nsecrets:\n  ike-dn:\n    id: \"C=CH, CN=moon\"\n    secret: abcdef\n  ike-other:\n    id: moon, sun\n    secret: other\n";
        let cfg = parse_str(text, Path::new("t.yaml")).unwrap();
        assert_eq!(cfg.connections[0].psk_source.as_deref(), Some("ike-dn"));
    }

    #[test]
    fn distinguished_name_ids_are_located() {
        let e = err(&conf(
            "      auth: psk\n      id: moon\n",
            "      auth: psk\n      id: \"C=CH, XX=sun\"\n",
            "",
            "",
        ));
        assert_eq!(e.key.as_deref(), Some("connections.gw.remote.id"), "{e}");
        assert_eq!(e.line, Some(9));
        assert!(
            e.message.starts_with(
                "invalid identity 'C=CH, XX=sun': unknown attribute type in distinguished name"
            ),
            "{e}"
        );
        let c = parse_str(
            &conf(
                "      auth: psk\n      id: moon\n",
                "      auth: psk\n      id: \"C=CH, O=strongSwan, CN=sun\"\n",
                "",
                "",
            ),
            Path::new("t.yaml"),
        )
        .unwrap();
        let core = crate::driver::core_config::to_core(&c).unwrap();
        assert_eq!(
            core.connections[0].remote.id,
            Some(rswan_ikev2::wire::Identity::DerAsn1Dn(
                rswan_ikev2::wire::dn::encode_dn("C=CH, O=strongSwan, CN=sun").unwrap()
            ))
        );
    }
}
