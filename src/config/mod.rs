//! Configuration: YAML named after swanctl.conf (`connections`, `secrets`) plus strongswan.conf's
//! retransmission `settings`. See docs/config.md for the reference.
//!
//! Every error names the file, the line and the key, and says which values are allowed.

mod auth;
mod child;
mod conn;
mod credentials;
mod locate;
pub mod model;
mod proposals;
mod schema;
mod settings;
mod unique;
pub mod values;

use std::fmt;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use credentials::load_key;
use credentials::KeyEntry;
pub use model::{
    Action, Auth, AuthMethod, Child, Config, Connection, DpdMode, Mode, SendCert, Settings,
    SharedSecret,
};
use schema::{Document, SecretDoc, SecretsDocument};

/// A configuration error: where, which key, what is wrong and what would be right.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// Dotted key path, e.g. `connections.west.children.net.esp_proposals`.
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        f.write_str(": ")?;
        if let Some(key) = &self.key {
            write!(f, "{key}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Reads, checks and validates the configuration at `path` (and its `secrets_file`, if any).
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = read(path)?;
    let mut doc: Document = parse_yaml(&text, path)?;
    let mut secrets = Secrets::default();
    if holds_secret(doc.secrets.as_ref()) {
        check_private(path)?;
    }
    let secrets_file = doc.secrets_file.as_ref().map(|p| {
        if p.is_absolute() {
            p.clone()
        } else {
            path.parent().unwrap_or(Path::new(".")).join(p)
        }
    });
    if let Some(sf) = &secrets_file {
        let stext = read(sf).map_err(|mut e| {
            e.key = Some("secrets_file".to_owned());
            e
        })?;
        let sdoc: SecretsDocument = parse_yaml(&stext, sf)?;
        if holds_secret(sdoc.secrets.as_ref()) {
            check_private(sf)?;
        }
        collect_secrets(sdoc.secrets, &mut secrets, sf, &stext)?;
    }
    collect_secrets(doc.secrets.take(), &mut secrets, path, &text)?;
    build(doc, secrets, path, &text)
}

/// Parses a configuration from text: no permission check on the text's own file and no
/// `secrets_file`, but the certificate and private-key files it names are read (relative to
/// `path`'s directory). For tests and `rswanctl` tooling.
pub fn parse_str(text: &str, path: &Path) -> Result<Config, ConfigError> {
    let mut doc: Document = parse_yaml(text, path)?;
    let mut secrets = Secrets::default();
    collect_secrets(doc.secrets.take(), &mut secrets, path, text)?;
    build(doc, secrets, path, text)
}

/// What `secrets:` holds once decoded: pre-shared keys, and private keys by their public half.
#[derive(Default)]
struct Secrets {
    shared: Vec<SharedSecret>,
    keys: Vec<KeyEntry>,
}

/// Whether a `secrets:` section holds secret text (a PSK or a passphrase). Entries that only
/// name a key file keep the secret in that file, whose own mode the key loader checks.
fn holds_secret(docs: Option<&std::collections::BTreeMap<String, SecretDoc>>) -> bool {
    docs.is_some_and(|d| d.values().any(|s| s.secret.is_some()))
}

/// The directory relative paths in `path` are resolved against.
fn base_dir(path: &Path) -> &Path {
    path.parent().unwrap_or(Path::new("."))
}

fn read(path: &Path) -> Result<String, ConfigError> {
    let bytes = fs::read(path).map_err(|e| ConfigError {
        file: path.to_owned(),
        line: None,
        column: None,
        key: None,
        message: format!("cannot read: {e}"),
    })?;
    String::from_utf8(bytes).map_err(|e| not_utf8(path, e.as_bytes(), e.utf8_error()))
}

/// Where the first byte that is not UTF-8 is: line, column (in bytes, as an editor's hex view
/// would count) and the offset in the file.
fn not_utf8(path: &Path, bytes: &[u8], e: std::str::Utf8Error) -> ConfigError {
    let at = e.valid_up_to();
    let good = bytes.get(..at).unwrap_or_default();
    let line = good.iter().filter(|b| **b == b'\n').count() + 1;
    let line_start = good.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let column = at.saturating_sub(line_start) + 1;
    let byte = bytes
        .get(at)
        .map_or(String::new(), |b| format!(" 0x{b:02x}"));
    ConfigError {
        file: path.to_owned(),
        line: Some(line),
        column: Some(column),
        key: None,
        message: format!(
            "not valid UTF-8: byte{byte} at offset {at} (line {line}, column {column}); save the file as UTF-8"
        ),
    }
}

/// A file holding secrets must not be readable by anyone but its owner (swanctl has the same
/// rule for private keys): a PSK that other local users can read is no longer secret.
fn check_private(path: &Path) -> Result<(), ConfigError> {
    let meta = fs::metadata(path).map_err(|e| ConfigError {
        file: path.to_owned(),
        line: None,
        column: None,
        key: None,
        message: format!("cannot stat: {e}"),
    })?;
    let mode = meta.mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(ConfigError {
            file: path.to_owned(),
            line: None,
            column: None,
            key: Some("secrets".to_owned()),
            message: format!(
                "file contains secrets but is accessible by other users (mode {mode:04o}); refusing to use it. Run: chmod 600 {}",
                path.display()
            ),
        });
    }
    Ok(())
}

fn parse_yaml<T: serde::de::DeserializeOwned + Default>(
    text: &str,
    path: &Path,
) -> Result<T, ConfigError> {
    if text.trim().is_empty() {
        return Ok(T::default());
    }
    serde_norway::from_str(text).map_err(|e| locate_duplicate(yaml_error(&e, path), text))
}

/// serde reports a repeated map key (schema's `unique`) at the start of the map; this moves
/// the error to the line of the second occurrence and names the first.
fn locate_duplicate(mut e: ConfigError, text: &str) -> ConfigError {
    let Some(rest) = e.message.strip_prefix("duplicate ") else {
        return e;
    };
    let Some(name) = rest.split('\'').nth(1) else {
        return e;
    };
    let mut keys: Vec<&str> = e
        .key
        .as_deref()
        .map_or(Vec::new(), |k| k.split('.').collect());
    keys.push(name);
    if let [first, second, ..] = locate::key_positions(text, &keys)[..] {
        e.line = Some(second.0);
        e.column = Some(second.1);
        e.message = format!("{} (first given at line {})", e.message, first.0);
    }
    e
}

/// serde_norway's message reads "path.to.key: what went wrong at line L column C"; this splits
/// it into our fields so every error has the same `file:line:col: key: message` shape.
fn yaml_error(e: &serde_norway::Error, path: &Path) -> ConfigError {
    let mut msg = e.to_string();
    if let Some(i) = msg.rfind(" at line ") {
        msg.truncate(i);
    }
    let (key, message) = match msg.split_once(": ") {
        Some((k, m)) if !k.contains(' ') && !k.is_empty() && k != "." => {
            (Some(k.to_owned()), m.to_owned())
        }
        _ => (None, msg),
    };
    ConfigError {
        file: path.to_owned(),
        line: e.location().map(|l| l.line()),
        column: e.location().map(|l| l.column()),
        key,
        message,
    }
}

/// swanctl's private-key section names (all load the same way here: the file says the type).
const KEY_PREFIXES: [&str; 4] = ["private", "rsa", "ecdsa", "pkcs8"];

fn collect_secrets(
    docs: Option<std::collections::BTreeMap<String, SecretDoc>>,
    out: &mut Secrets,
    path: &Path,
    text: &str,
) -> Result<(), ConfigError> {
    for (name, doc) in docs.unwrap_or_default() {
        if KEY_PREFIXES.iter().any(|p| name.starts_with(p)) {
            out.keys.push(key_entry(name, doc, path, text)?);
            continue;
        }
        if name.starts_with("pkcs12") {
            return Err(located(
                path,
                text,
                &["secrets", &name],
                "PKCS#12 containers are not supported: extract the key with 'openssl pkcs12 -in FILE -nocerts -nodes -out KEY.pem' and name it in a private<suffix> entry".to_owned(),
            ));
        }
        if !name.starts_with("ike") {
            return Err(located(
                path,
                text,
                &["secrets", &name],
                format!("unsupported secret type '{name}': expected ike<suffix> (pre-shared key) or private<suffix>, rsa<suffix>, ecdsa<suffix>, pkcs8<suffix> (private key file)"),
            ));
        }
        if doc.file.is_some() {
            return Err(located(
                path,
                text,
                &["secrets", &name, "file"],
                "an ike<suffix> entry holds its key in secret; file is for private<suffix> key entries".to_owned(),
            ));
        }
        let raw = doc.secret.ok_or_else(|| {
            located(
                path,
                text,
                &["secrets", &name],
                "missing key 'secret'".to_owned(),
            )
        })?;
        let secret = values::parse_secret(&raw)
            .map_err(|e| located(path, text, &["secrets", &name, "secret"], e))?;
        let owners = doc
            .id
            .unwrap_or_default()
            .iter()
            .map(|i| values::parse_identity(i))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| located(path, text, &["secrets", &name, "id"], e))?;
        out.shared.push(SharedSecret {
            name,
            owners,
            secret,
        });
    }
    Ok(())
}

/// A `private<suffix>` entry: the key is loaded now (refusing a file others can read) to learn
/// which certificate it belongs to. A `secret` (passphrase) is accepted as swanctl.conf allows
/// it, but only unencrypted keys can be loaded; an encrypted one is refused with the way out.
fn key_entry(
    name: String,
    doc: SecretDoc,
    path: &Path,
    text: &str,
) -> Result<KeyEntry, ConfigError> {
    if doc.id.is_some() {
        return Err(located(
            path,
            text,
            &["secrets", &name, "id"],
            "a private key is paired with the certificate whose public key it matches; remove id"
                .to_owned(),
        ));
    }
    let file = doc.file.ok_or_else(|| {
        located(
            path,
            text,
            &["secrets", &name],
            "missing key 'file': the private key file (PEM or DER), e.g. file: private/moon.key"
                .to_owned(),
        )
    })?;
    let file = credentials::resolve(base_dir(path), &file);
    let key = credentials::load_key(&file)
        .map_err(|e| located(path, text, &["secrets", &name, "file"], e))?;
    Ok(KeyEntry {
        name,
        file,
        public: key.public_key(),
    })
}

/// An error for a key found after deserialization: the line comes from a scan of the text.
fn located(path: &Path, text: &str, keys: &[&str], message: String) -> ConfigError {
    let pos = locate::key_position(text, keys);
    ConfigError {
        file: path.to_owned(),
        line: pos.map(|p| p.0),
        column: pos.map(|p| p.1),
        key: Some(keys.join(".")),
        message,
    }
}

/// `24` (local and remote) or `24/16` (local/remote): policy hash thresholds in prefix bits.
pub(super) fn parse_spdh(v: &str, max: u8) -> Result<(u8, u8), String> {
    let bits = |t: &str| match t.trim().parse::<u8>() {
        Ok(b) if b <= max => Ok(b),
        _ => Err(format!(
            "'{v}' is not a prefix length from 0 to {max} (or local/remote, e.g. 24/16)"
        )),
    };
    match v.split_once('/') {
        Some((l, r)) => Ok((bits(l)?, bits(r)?)),
        None => bits(v).map(|b| (b, b)),
    }
}

/// Adds 10 %, swanctl's default margin between rekey and hard lifetime.
fn plus_ten_percent(d: Duration) -> Duration {
    d + d / 10
}

/// Parses an optional raw value; a failure is reported at `keys`.
fn parse_opt<T>(
    raw: Option<String>,
    keys: &[&str],
    parse: impl Fn(&str) -> Result<T, String>,
    err: &dyn Fn(&[&str], String) -> ConfigError,
) -> Result<Option<T>, ConfigError> {
    raw.map(|r| parse(&r).map_err(|e| err(keys, e))).transpose()
}

fn parse_list<T>(
    raw: Option<Vec<String>>,
    keys: &[&str],
    parse: impl Fn(&str) -> Result<T, String>,
    err: &dyn Fn(&[&str], String) -> ConfigError,
) -> Result<Option<Vec<T>>, ConfigError> {
    raw.map(|items| {
        items
            .iter()
            .map(|r| parse(r).map_err(|e| err(keys, e)))
            .collect()
    })
    .transpose()
}

/// Most traffic selectors one side of a child may have: the TSi/TSr payload's "Number of TSs"
/// is one octet (RFC 7296 3.13), so more could never be sent.
pub(super) const MAX_TS_PER_CHILD: usize = 255;

/// The receive queue must hold at least one datagram of the largest size a socket accepts.
pub(super) const MIN_RECEIVE_QUEUE: u64 = 65_535;

/// IPv4's minimum reassembly size: a smaller fragment could not carry an IKE header, the SKF
/// header and some payload after the IP and UDP headers.
pub(super) const MIN_FRAGMENT_SIZE: u32 = 576;

fn build(doc: Document, secrets: Secrets, path: &Path, text: &str) -> Result<Config, ConfigError> {
    let err = |keys: &[&str], msg: String| located(path, text, keys, msg);
    let settings = settings::build_settings(doc.settings.unwrap_or_default(), &err)?;
    let mut connections = Vec::new();
    for (name, c) in doc.connections.unwrap_or_default() {
        connections.push(conn::build_conn(&name, c, &secrets, base_dir(path), &err)?);
    }
    Ok(Config {
        source: path.to_owned(),
        settings,
        connections,
    })
}
