//! Certificate and private-key files named by the configuration (`local.certs`, `remote.cacerts`,
//! `secrets.private<suffix>.file`): read, checked and paired at load time, so that `rswand --check`
//! and a reload fail on the same mistakes the negotiation would otherwise hit much later.
//!
//! Messages name the file; the caller adds the configuration key and its line.

use std::path::{Path, PathBuf};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use zeroize::Zeroizing;

use rswan_ikev2::auth::{name_string, AuthError, CertInfo, PublicKey};

/// Resolves a path written in a configuration file against that file's directory, as
/// `secrets_file` does.
pub fn resolve(base_dir: &Path, written: impl AsRef<Path>) -> PathBuf {
    let p = written.as_ref();
    if p.is_absolute() {
        p.to_owned()
    } else {
        base_dir.join(p)
    }
}

/// The `-----BEGIN X-----` labels in a text file, to say what a file holds instead of a certificate.
fn pem_labels(bytes: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(bytes)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("-----BEGIN ")?.strip_suffix("-----"))
        .map(str::to_owned)
        .collect()
}

/// The certificates in a PEM file (every CERTIFICATE block, in order) or a DER file (one).
/// The largest DER certificate a CERT payload can carry.
const MAX_CERT_LEN: usize = 65_535 - 5;

pub fn read_certs(path: &Path) -> Result<Vec<Vec<u8>>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let ders: Vec<Vec<u8>> = if bytes.first() == Some(&0x30) {
        vec![bytes]
    } else {
        let certs = CertificateDer::pem_slice_iter(&bytes)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("{}: malformed PEM ({e})", path.display()))?;
        if certs.is_empty() {
            let labels = pem_labels(&bytes);
            let found = if labels.is_empty() {
                "neither PEM nor DER".to_owned()
            } else {
                format!("it holds PEM {}", labels.join(", "))
            };
            // A private key listed as a certificate must not have its bytes echoed anywhere:
            // only the labels are named.
            drop(Zeroizing::new(bytes));
            return Err(format!(
                "{} is not a certificate: {found} (expected PEM CERTIFICATE blocks or DER X.509)",
                path.display()
            ));
        }
        certs.into_iter().map(|c| c.to_vec()).collect()
    };
    for (i, der) in ders.iter().enumerate() {
        // A CERT payload's length is 16 bits (with its 5-octet header): a larger certificate
        // could never be sent, and is not a certificate anyone issues.
        if der.len() > MAX_CERT_LEN {
            return Err(format!(
                "{}: certificate of {} octets is larger than a CERT payload holds ({MAX_CERT_LEN})",
                path.display(),
                der.len()
            ));
        }
        if CertInfo::parse(der).is_none() {
            let which = if ders.len() > 1 {
                format!(" (certificate {} of {})", i + 1, ders.len())
            } else {
                String::new()
            };
            return Err(format!(
                "{}{which} is not a well-formed X.509 certificate",
                path.display()
            ));
        }
    }
    Ok(ders)
}

/// The subject of a certificate already checked by [`read_certs`], in `C=CH, CN=moon` form.
pub fn subject(der: &[u8]) -> String {
    CertInfo::parse(der).map_or_else(|| "?".to_owned(), |i| name_string(i.subject))
}

/// The exact DER of a certificate's subject (our ID_DER_ASN1_DN when `local.id` is not set).
pub fn subject_der(der: &[u8]) -> Option<Vec<u8>> {
    CertInfo::parse(der).map(|i| i.subject.to_vec())
}

/// The public key a certificate certifies; `None` for key types rswan cannot sign with.
pub fn public_key(der: &[u8]) -> Option<PublicKey> {
    CertInfo::parse(der).and_then(|i| PublicKey::from_spki(i.spki))
}

/// A private key from `secrets`, loaded once to learn its public half. The key itself is not
/// kept: the driver loads it again from `file` for the protocol core (the core owns it then).
#[derive(Clone, Debug)]
pub struct KeyEntry {
    /// The `secrets` entry name, e.g. `private-moon`.
    pub name: String,
    pub file: PathBuf,
    pub public: PublicKey,
}

/// Loads a private key file, turning every failure into one line that names the file and says
/// what to do.
pub fn load_key(path: &Path) -> Result<rswan_ikev2::auth::PrivateKey, String> {
    let bytes = read_key_file(path)?;
    rswan_ikev2::auth::PrivateKey::from_pem_or_der(&bytes).map_err(|e| {
        if is_encrypted(&bytes) {
            format!(
                "private key {} is passphrase-protected, which rswan does not support yet: decrypt it \
                 once with 'openssl pkey -in {} -out NEW.pem', keep NEW.pem mode 0600 and name it in file",
                path.display(),
                path.display()
            )
        } else {
            format!(
                "private key {}: {e} (expected PEM PRIVATE KEY, RSA PRIVATE KEY, EC PRIVATE KEY or PKCS#8 DER)",
                path.display()
            )
        }
    })
}

/// Reads a private key file that only root or this daemon's user could have written and that
/// nobody else can read. It is opened without following a symbolic link in its last component
/// (a link could be pointed at another file by whoever owns its folder), and the checks are made
/// on the opened file itself, so it cannot be swapped between check and read.
fn read_key_file(path: &Path) -> Result<Zeroizing<Vec<u8>>, String> {
    use std::io::Read as _;
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => format!(
                "private key {} is a symbolic link, which is refused: name the file itself",
                path.display()
            ),
            _ => format!("private key {}: cannot read: {e}", path.display()),
        })?;
    let meta = f
        .metadata()
        .map_err(|e| format!("private key {}: cannot stat: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!(
            "private key {} is not a regular file",
            path.display()
        ));
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o044 != 0 {
        return Err(AuthError::KeyFileReadable {
            path: path.display().to_string(),
            mode,
        }
        .to_string());
    }
    let me = nix::unistd::geteuid().as_raw();
    if meta.uid() != 0 && meta.uid() != me {
        return Err(format!(
            "private key {} is owned by uid {}, not by root or rswand's user (uid {me}); chown it",
            path.display(),
            meta.uid()
        ));
    }
    let mut bytes = Zeroizing::new(Vec::new());
    f.read_to_end(&mut bytes)
        .map_err(|e| format!("private key {}: cannot read: {e}", path.display()))?;
    Ok(bytes)
}

/// Whether key file contents are an encrypted PKCS#8 or a legacy OpenSSL encrypted PEM.
fn is_encrypted(bytes: &[u8]) -> bool {
    let text = String::from_utf8_lossy(bytes);
    text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----")
        || text.contains("Proc-Type: 4,ENCRYPTED")
}

/// The entry whose key certifies `cert` (strongSwan pairs certificates and keys the same way).
pub fn find_key<'a>(keys: &'a [KeyEntry], cert: &[u8]) -> Option<&'a KeyEntry> {
    let public = public_key(cert)?;
    keys.iter().find(|k| k.public == public)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn a_key_listed_as_certificate_is_named_not_echoed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("moon.key");
        fs::write(
            &p,
            "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ+secretsecretsecretsecretsecretsecretsec\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        let e = read_certs(&p).unwrap_err();
        assert!(
            e.contains("moon.key is not a certificate: it holds PEM PRIVATE KEY"),
            "{e}"
        );
        assert!(!e.contains("secret"), "{e}");
    }

    #[test]
    fn certificates_too_large_for_a_cert_payload_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("huge.der");
        // A DER SEQUENCE header claiming 70,000 octets, and those octets.
        let mut der = vec![0x30, 0x83, 0x01, 0x11, 0x70];
        der.resize(5 + 70_000, 0);
        std::fs::write(&p, &der).unwrap();
        let e = read_certs(&p).unwrap_err();
        assert!(e.contains("larger than a CERT payload holds"), "{e}");
    }

    #[test]
    fn garbage_and_missing_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ca.pem");
        fs::write(&p, "hello\n").unwrap();
        let e = read_certs(&p).unwrap_err();
        assert!(e.ends_with("ca.pem is not a certificate: neither PEM nor DER (expected PEM CERTIFICATE blocks or DER X.509)"), "{e}");
        fs::write(&p, [0x30, 0x03, 0x02, 0x01, 0x00]).unwrap();
        let e = read_certs(&p).unwrap_err();
        assert!(
            e.ends_with("ca.pem is not a well-formed X.509 certificate"),
            "{e}"
        );
        let e = read_certs(&dir.path().join("none.pem")).unwrap_err();
        assert!(
            e.starts_with("cannot read ") && e.contains("none.pem"),
            "{e}"
        );
    }

    #[test]
    fn relative_paths_resolve_against_the_config_directory() {
        let base = Path::new("/etc/rswan");
        assert_eq!(
            resolve(base, "x509/moon.pem"),
            Path::new("/etc/rswan/x509/moon.pem")
        );
        assert_eq!(resolve(base, "/srv/moon.pem"), Path::new("/srv/moon.pem"));
    }

    #[test]
    fn encrypted_keys_get_a_clear_refusal() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("moon.key");
        fs::write(
            &p,
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIBvTBXBgkqhkiG9w0BBQ0wSjApBgkqhkiG9w0BBQwwHAQI\n-----END ENCRYPTED PRIVATE KEY-----\n",
        )
        .unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
        let e = load_key(&p).unwrap_err();
        assert!(e.contains("moon.key is passphrase-protected"), "{e}");
        assert!(e.contains("openssl pkey -in"), "{e}");
        fs::set_permissions(&p, fs::Permissions::from_mode(0o640)).unwrap();
        let e = load_key(&p).unwrap_err();
        assert!(
            e.contains("moon.key is readable by other users (mode 0640)"),
            "mode is checked before anything is parsed: {e}"
        );
    }
}
