//! Why certificate authentication failed, worded for the operator.

use core::fmt;

use super::method::AuthMethod;

use super::scheme::SignatureScheme;
use super::x509::format_time;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthError {
    /// The key file could not be read or parsed.
    KeyFile {
        path: String,
        reason: String,
    },
    /// The key file is readable by group or other.
    KeyFileReadable {
        path: String,
        mode: u32,
    },
    BadPrivateKey(String),
    /// A PEM/DER certificate file could not be read or holds no certificate.
    CertFile {
        path: String,
        reason: String,
    },
    /// A certificate that is not well-formed X.509.
    BadCertificate {
        what: &'static str,
    },
    NotYetValid {
        subject: String,
        not_before: u64,
        now: u64,
    },
    Expired {
        subject: String,
        not_after: u64,
        now: u64,
    },
    /// The chain does not lead to a configured CA: `issuer` is the last issuer we could follow.
    UnknownCa {
        subject: String,
        issuer: String,
    },
    /// The certificate carries extended key usages, none of which allow IKE.
    WrongKeyUsage {
        subject: String,
        present: Vec<String>,
    },
    /// Any other path validation failure, with rustls-webpki's reason.
    Chain {
        subject: String,
        reason: String,
    },
    IdNotInCertificate {
        id: String,
        subject: String,
        san: Vec<String>,
    },
    /// The AUTH method or method-14 AlgorithmIdentifier is not one we accept for this key.
    UnsupportedMethod {
        method: AuthMethod,
        detail: String,
    },
    /// The key cannot make the requested kind of signature.
    KeyMismatch {
        key: String,
        wanted: String,
    },
    SignatureInvalid {
        scheme: SignatureScheme,
    },
    /// Signing failed inside the crypto backend.
    SigningFailed {
        scheme: SignatureScheme,
    },
    /// The peer authenticates with a signature but sent no X.509 certificate (it was not asked
    /// for one, or its `send_cert = never`), and we have no other source for its key.
    NoPeerCertificate {
        id: String,
    },
    /// A local `auth = pubkey` round without a certificate and private key.
    NoCredentials,
    /// The driver has not told the core the time, so certificate validity cannot be judged.
    NoWallClock,
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthError::KeyFile { path, reason } => write!(f, "private key {path}: {reason}"),
            AuthError::KeyFileReadable { path, mode } => write!(
                f,
                "private key {path} is readable by other users (mode {mode:04o}); chmod 600 it"
            ),
            AuthError::BadPrivateKey(r) => write!(f, "private key: {r}"),
            AuthError::CertFile { path, reason } => write!(f, "certificate file {path}: {reason}"),
            AuthError::BadCertificate { what } => write!(f, "malformed {what} certificate"),
            AuthError::NotYetValid {
                subject,
                not_before,
                now,
            } => write!(
                f,
                "certificate for '{subject}' is not valid before {} (now {})",
                format_time(*not_before),
                format_time(*now)
            ),
            AuthError::Expired {
                subject,
                not_after,
                now,
            } => write!(
                f,
                "certificate for '{subject}' expired at {} (now {})",
                format_time(*not_after),
                format_time(*now)
            ),
            AuthError::UnknownCa { subject, issuer } => write!(
                f,
                "certificate for '{subject}' not trusted: unknown issuer '{issuer}' (not among \
                 the configured cacerts)"
            ),
            AuthError::WrongKeyUsage { subject, present } => write!(
                f,
                "certificate for '{subject}' is not for IKE: its extended key usages are {} \
                 (want none, serverAuth, clientAuth or ipsecIKE)",
                present.join(", ")
            ),
            AuthError::Chain { subject, reason } => {
                write!(f, "certificate for '{subject}' rejected: {reason}")
            }
            AuthError::IdNotInCertificate { id, subject, san } => {
                let san = if san.is_empty() {
                    "none".to_string()
                } else {
                    san.join(", ")
                };
                write!(
                    f,
                    "IKE ID '{id}' not in certificate subject/SAN (subject '{subject}', SAN: {san})"
                )
            }
            AuthError::UnsupportedMethod { method, detail } => {
                write!(f, "AUTH method {method} not supported: {detail}")
            }
            AuthError::KeyMismatch { key, wanted } => {
                write!(f, "{key} key cannot make a {wanted} signature")
            }
            AuthError::SignatureInvalid { scheme } => {
                write!(f, "signature verification failed ({scheme})")
            }
            AuthError::SigningFailed { scheme } => write!(f, "signing failed ({scheme})"),
            AuthError::NoPeerCertificate { id } => write!(
                f,
                "'{id}' sent no certificate (did we send a CERTREQ for its CA, or does it use \
                 send_cert = never?)"
            ),
            AuthError::NoCredentials => {
                f.write_str("no certificate and private key configured for auth = pubkey")
            }
            AuthError::NoWallClock => f.write_str(
                "cannot check certificate validity: the driver has not set the wall clock",
            ),
        }
    }
}

impl std::error::Error for AuthError {}
