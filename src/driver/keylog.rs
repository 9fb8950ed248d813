//! Key export for packet-capture decryption, in Wireshark's own key table formats:
//! `ikev2_decryption_table` (IKEv2 SK payloads) and `esp_sa` (ESP), the files Wireshark keeps in
//! its profile folder (Preferences > Protocols > ISAKMP > IKEv2 Decryption Table, and
//! ESP > ESP SAs). Two ways out:
//! - `settings: key_export: DIR`: every new IKE SA and ESP SA is appended to `DIR/...` as it is
//!   created (files mode 0600, folder 0700), so a capture running meanwhile decrypts;
//! - `rswanctl export-keys`: the keys of the SAs that exist now, returned over the control
//!   socket for the client to write.
//!
//! The algorithm names must be Wireshark's exact UAT strings (checked against Wireshark 4.0,
//! Debian 12's tshark): an unknown name makes Wireshark reject the record. Algorithms Wireshark
//! cannot decrypt (ChaCha20-Poly1305) are left out with a warning.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::fs::{DirBuilder, OpenOptions};
use std::io::Write as _;
use std::net::IpAddr;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use rswan_ikev2::consts::{EncrId, IntegId};
use rswan_ikev2::endpoint::keylog::IkeSaKeys;
use rswan_ikev2::endpoint::Endpoint;
use rswan_ikev2::output::{KernelOp, SaSpec};
use rswan_ikev2::rng::Rng;

/// File names Wireshark looks for in a profile folder.
pub const IKE_TABLE: &str = "ikev2_decryption_table";
pub const ESP_TABLE: &str = "esp_sa";

/// `rswanctl export-keys`: the tables' contents (docs/json.md, "export-keys").
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Export {
    pub ikev2_decryption_table: String,
    pub esp_sa: String,
    pub ike_sas: usize,
    pub esp_sas: usize,
    /// SAs whose algorithm Wireshark cannot decrypt, in words.
    pub skipped: Vec<String>,
}

/// Wireshark's name for an IKEv2 encryption transform (packet-isakmp.c, `vs_ikev2_encr_algs`).
fn ike_encr_name(id: EncrId, bits: u16) -> Option<String> {
    let icv = match id {
        EncrId::AES_GCM_8 => 8,
        EncrId::AES_GCM_12 => 12,
        EncrId::AES_GCM_16 => 16,
        EncrId::AES_CBC if matches!(bits, 128 | 192 | 256) => {
            return Some(format!("AES-CBC-{bits} [RFC3602]"))
        }
        EncrId::TRIPLE_DES => return Some("3DES [RFC2451]".into()),
        EncrId::NULL => return Some("NULL [RFC2410]".into()),
        _ => return None,
    };
    matches!(bits, 128 | 192 | 256)
        .then(|| format!("AES-GCM-{bits} with {icv} octet ICV [RFC5282]"))
}

/// Wireshark's name for an IKEv2 integrity transform; AEAD ciphers have none.
fn ike_integ_name(id: Option<IntegId>) -> Option<&'static str> {
    Some(match id {
        None => "NONE [RFC4306]",
        Some(IntegId::HMAC_MD5_96) => "HMAC_MD5_96 [RFC2403]",
        Some(IntegId::HMAC_SHA1_96) => "HMAC_SHA1_96 [RFC2404]",
        Some(IntegId::HMAC_SHA2_256_128) => "HMAC_SHA2_256_128 [RFC4868]",
        Some(IntegId::HMAC_SHA2_384_192) => "HMAC_SHA2_384_192 [RFC4868]",
        Some(IntegId::HMAC_SHA2_512_256) => "HMAC_SHA2_512_256 [RFC4868]",
        Some(_) => return None,
    })
}

/// Wireshark's name for an ESP cipher (packet-esp.c, `esp_encryption_type_vals`).
fn esp_encr_name(id: EncrId, icv_bits: Option<u16>) -> Option<String> {
    Some(match id {
        EncrId::AES_CBC => "AES-CBC [RFC3602]".into(),
        EncrId::TRIPLE_DES => "TripleDES-CBC [RFC2451]".into(),
        EncrId::NULL => "NULL".into(),
        EncrId::AES_GCM_8 | EncrId::AES_GCM_12 | EncrId::AES_GCM_16 => {
            let icv = icv_bits.map_or(
                match id {
                    EncrId::AES_GCM_8 => 8,
                    EncrId::AES_GCM_12 => 12,
                    _ => 16,
                },
                |b| b / 8,
            );
            format!("AES-GCM with {icv} octet ICV [RFC4106]")
        }
        _ => return None,
    })
}

/// Wireshark's name for an ESP integrity algorithm; AES-GCM requires "NULL".
fn esp_auth_name(id: Option<IntegId>) -> Option<&'static str> {
    Some(match id {
        None => "NULL",
        Some(IntegId::HMAC_MD5_96) => "HMAC-MD5-96 [RFC2403]",
        Some(IntegId::HMAC_SHA1_96) => "HMAC-SHA-1-96 [RFC2404]",
        Some(IntegId::HMAC_SHA2_256_128) => "HMAC-SHA-256-128 [RFC4868]",
        Some(IntegId::HMAC_SHA2_384_192) => "HMAC-SHA-384-192 [RFC4868]",
        Some(IntegId::HMAC_SHA2_512_256) => "HMAC-SHA-512-256 [RFC4868]",
        Some(_) => return None,
    })
}

fn hex(b: &[u8]) -> String {
    b.iter()
        .fold(String::with_capacity(b.len() * 2), |mut s, x| {
            let _ = write!(s, "{x:02x}");
            s
        })
}

/// One `ikev2_decryption_table` record: SPIi, SPIr, SK_ei, SK_er, "encryption", SK_ai, SK_ar,
/// "integrity". `Err` names what Wireshark cannot decrypt.
pub fn ike_line(k: &IkeSaKeys) -> Result<Zeroizing<String>, String> {
    let encr = ike_encr_name(k.encr, k.encr_key_bits).ok_or_else(|| {
        format!(
            "IKE SA {:016x}_i {:016x}_r: Wireshark cannot decrypt {}",
            k.spi_i, k.spi_r, k.encr
        )
    })?;
    let integ = ike_integ_name(k.integ).ok_or_else(|| {
        format!(
            "IKE SA {:016x}_i {:016x}_r: Wireshark has no integrity algorithm {:?}",
            k.spi_i, k.spi_r, k.integ
        )
    })?;
    Ok(Zeroizing::new(format!(
        "{:016x},{:016x},{},{},\"{encr}\",{},{},\"{integ}\"\n",
        k.spi_i,
        k.spi_r,
        *Zeroizing::new(hex(&k.sk_ei)),
        *Zeroizing::new(hex(&k.sk_er)),
        *Zeroizing::new(hex(&k.sk_ai)),
        *Zeroizing::new(hex(&k.sk_ar)),
    )))
}

/// One `esp_sa` record for one direction: "IPv4|IPv6", "src", "dst", "0xSPI", "encryption",
/// "0xkey", "authentication", "0xkey" (AEAD keys include the 4-octet salt, as Wireshark wants).
pub fn esp_line(sa: &SaSpec) -> Result<Zeroizing<String>, String> {
    let encr = esp_encr_name(sa.encr.alg, sa.encr.icv_bits).ok_or_else(|| {
        format!(
            "ESP SA {:08x}: Wireshark cannot decrypt {}",
            sa.spi, sa.encr.alg
        )
    })?;
    let auth = esp_auth_name(sa.integ.as_ref().map(|i| i.alg)).ok_or_else(|| {
        format!(
            "ESP SA {:08x}: Wireshark has no integrity algorithm for it",
            sa.spi
        )
    })?;
    let family = if sa.dst.is_ipv4() { "IPv4" } else { "IPv6" };
    let auth_key = match &sa.integ {
        Some(i) => format!("0x{}", *Zeroizing::new(hex(&i.key))),
        None => String::new(),
    };
    let auth_key = Zeroizing::new(auth_key);
    Ok(Zeroizing::new(format!(
        "\"{family}\",\"{}\",\"{}\",\"0x{:08x}\",\"{encr}\",\"0x{}\",\"{auth}\",\"{}\"\n",
        sa.src,
        sa.dst,
        sa.spi,
        *Zeroizing::new(hex(&sa.encr.key)),
        *auth_key
    )))
}

/// The driver's side of the key export: ESP keys of the SAs it installed (the core keeps none),
/// and what was already appended to the files.
#[derive(Default)]
pub struct KeyLog {
    /// `settings.key_export`: append every new SA's keys here.
    dir: Option<PathBuf>,
    ike_written: HashSet<(u64, u64)>,
    /// Installed ESP SAs by (dst, SPI): their `esp_sa` line.
    esp: HashMap<(IpAddr, u32), Zeroizing<String>>,
    /// Reasons already warned about (unsupported algorithms).
    warned: HashSet<String>,
}

impl KeyLog {
    pub fn new(dir: Option<PathBuf>) -> Self {
        if let Some(d) = &dir {
            tracing::warn!(
                "KEY EXPORT IS ON: the keys of every IKE and ESP SA are written to {} (settings.key_export); anyone who reads them can decrypt the traffic",
                d.display()
            );
        }
        KeyLog {
            dir,
            ..Default::default()
        }
    }

    /// A new setting after reload: keep what was written, follow the new folder.
    /// The ESP SAs installed so far go to the new folder at once (their keys are only seen when
    /// installed); IKE SAs follow with the next `ike_sas`.
    pub fn set_dir(&mut self, dir: Option<PathBuf>) {
        if dir != self.dir {
            *self = KeyLog {
                esp: std::mem::take(&mut self.esp),
                ..KeyLog::new(dir)
            };
            if let Some(d) = &self.dir {
                let mut lines: Vec<_> = self.esp.iter().collect();
                lines.sort_by_key(|(k, _)| **k);
                for (_, l) in lines {
                    if let Err(e) = append(d, ESP_TABLE, l) {
                        tracing::warn!("key export: {e}");
                        break;
                    }
                }
            }
        }
    }

    /// One warning per reason, not per SA (the reasons start with the SA's SPIs).
    fn warn_once(&mut self, why: String) {
        let reason = why.split_once(": ").map_or(why.as_str(), |(_, r)| r);
        if self.warned.insert(reason.to_owned()) {
            tracing::warn!("key export: {why}");
        }
    }

    /// Every kernel operation the core asked for: remembers and (when on) appends ESP keys.
    pub fn kernel_op(&mut self, op: &KernelOp) {
        match op {
            KernelOp::AddSa(sa) => match esp_line(sa) {
                Ok(line) => {
                    let new = self
                        .esp
                        .get(&(sa.dst, sa.spi))
                        .is_none_or(|old| **old != *line);
                    if new {
                        if let Some(dir) = &self.dir {
                            if let Err(e) = append(dir, ESP_TABLE, &line) {
                                tracing::warn!("key export: {e}");
                            }
                        }
                    }
                    self.esp.insert((sa.dst, sa.spi), line);
                }
                // Only an operator who turned export on wants to hear what it cannot do.
                Err(why) if self.dir.is_some() => self.warn_once(why),
                Err(_) => {}
            },
            KernelOp::DeleteSa { dst, spi, .. } => {
                self.esp.remove(&(*dst, *spi));
            }
            _ => {}
        }
    }

    /// After the core ran: appends IKE SAs whose keys appeared (IKE_SA_INIT completed), so that
    /// even a failing IKE_AUTH can be decrypted.
    pub fn ike_sas<R: Rng>(&mut self, ep: &Endpoint<R>) {
        let Some(dir) = self.dir.clone() else { return };
        // Forget SAs that are gone, so the set does not grow with every IKE SA ever made.
        if self.ike_written.len() > 1024 {
            let mut live = HashSet::new();
            ep.ike_sa_keys(|i, r| {
                live.insert((i, r));
                false
            });
            self.ike_written.retain(|k| live.contains(k));
        }
        let written = &self.ike_written;
        let keys = ep.ike_sa_keys(|i, r| !written.contains(&(i, r)));
        for k in keys {
            self.ike_written.insert((k.spi_i, k.spi_r));
            match ike_line(&k) {
                Ok(line) => {
                    if let Err(e) = append(&dir, IKE_TABLE, &line) {
                        tracing::warn!("key export: {e}");
                    }
                }
                Err(why) => self.warn_once(why),
            }
        }
    }

    /// The keys of the SAs that exist now (`rswanctl export-keys`); `installed(dst, spi)` says
    /// whether an ESP SA is still in the kernel (one the kernel removed on its own, at a hard
    /// lifetime, may not have been deleted through us).
    pub fn snapshot<R: Rng>(
        &self,
        ep: &Endpoint<R>,
        installed: impl Fn(IpAddr, u32) -> bool,
    ) -> Export {
        let mut out = Export::default();
        for k in ep.ike_sa_keys(|_, _| true) {
            match ike_line(&k) {
                Ok(l) => {
                    out.ikev2_decryption_table.push_str(&l);
                    out.ike_sas += 1;
                }
                Err(why) => out.skipped.push(why),
            }
        }
        let mut esp: Vec<_> = self
            .esp
            .iter()
            .filter(|((dst, spi), _)| installed(*dst, *spi))
            .collect();
        esp.sort_by_key(|(k, _)| **k);
        for (_, l) in esp {
            out.esp_sa.push_str(l);
            out.esp_sas += 1;
        }
        out
    }
}

/// `rswanctl export-keys`: the tables go back over the control socket (mode 0660, root and its
/// group), and the client writes them with its own permissions; the daemon never writes where a
/// client says.
pub(super) fn export(
    d: &super::Daemon,
    reply: tokio::sync::oneshot::Sender<crate::control::protocol::Outcome>,
) {
    let e = d
        .keylog
        .snapshot(d.ep.v2(), |dst, spi| d.kernel.owns_sa(dst, spi));
    tracing::warn!(
        "keys of {} IKE SA(s) and {} ESP SA(s) exported over the control socket (rswanctl export-keys)",
        e.ike_sas,
        e.esp_sas
    );
    let _ = reply.send(crate::control::protocol::Outcome::Ok {
        data: serde_json::to_value(e).unwrap_or_default(),
    });
}

/// Creates `dir` (0700) if needed and appends `line` to `dir/name`, created with mode 0600.
pub fn append(dir: &Path, name: &str, line: &str) -> Result<(), String> {
    if !dir.exists() {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let path = dir.join(name);
    // Not through a symbolic link: whoever can write the folder could otherwise point the table
    // at any file root can write, and live keys would be appended there.
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => format!(
                "{} is a symbolic link: refusing to append keys through it",
                path.display()
            ),
            _ => format!("cannot open {}: {e}", path.display()),
        })?;
    // An existing file keeps its owner but must not stay readable by others.
    let mode = f.metadata().map(|m| m.permissions().mode()).unwrap_or(0);
    if mode & 0o077 != 0 {
        let _ = f.set_permissions(std::fs::Permissions::from_mode(0o600));
    }
    f.write_all(line.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rswan_ikev2::config::Mode;
    use rswan_ikev2::output::{Direction, EncrSpec, IntegSpec, Lifetime};

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn sa(encr: EncrSpec, integ: Option<IntegSpec>) -> SaSpec {
        SaSpec {
            src: "192.0.2.1".parse().unwrap(),
            dst: "192.0.2.2".parse().unwrap(),
            spi: 0xceda5b4b,
            reqid: 1,
            direction: Direction::Out,
            mode: Mode::Transport,
            encr,
            integ,
            esn: false,
            replay_window: 32,
            encap: None,
            lifetime: Lifetime::default(),
            selector: None,
        }
    }

    // The records below were checked with tshark 4.0.17 against
    // /work/shared/testdata/strongswan-5.9.8/transport-mode.pcap: with exactly these lines in
    // the profile, IKE_AUTH's IDi/IDr/AUTH/SA/TS and the ESP-protected pings decrypt.
    const SK_EI: &str = "ab75782e76e0e10c5212c707a91d1dd98e92601295b9c892b591a014114e617a176c644d";
    const SK_ER: &str = "1a919b49d54720e06004c37891319c3e03a8c5af006a37958b3fbde469ffb85dfebc8049";
    const ESP_KEY: &str =
        "d581064e63b98bd36e72ebd90710115edccbe2167b34b43483c5690aecf040b98187ff43";

    #[test]
    fn ike_record_matches_what_wireshark_decrypts_with() {
        let k = IkeSaKeys {
            conn: "net".into(),
            spi_i: 0x93b6403dca609baf,
            spi_r: 0x4a8eccf4db5f175f,
            encr: EncrId::AES_GCM_16,
            encr_key_bits: 256,
            integ: None,
            sk_ei: Zeroizing::new(unhex(SK_EI)),
            sk_er: Zeroizing::new(unhex(SK_ER)),
            sk_ai: Zeroizing::new(vec![]),
            sk_ar: Zeroizing::new(vec![]),
        };
        assert_eq!(
            *ike_line(&k).unwrap(),
            format!("93b6403dca609baf,4a8eccf4db5f175f,{SK_EI},{SK_ER},\"AES-GCM-256 with 16 octet ICV [RFC5282]\",,,\"NONE [RFC4306]\"\n")
        );
    }

    #[test]
    fn esp_record_matches_what_wireshark_decrypts_with() {
        let gcm = EncrSpec {
            alg: EncrId::AES_GCM_16,
            key_bits: 256,
            icv_bits: Some(128),
            key: Zeroizing::new(unhex(ESP_KEY)),
        };
        assert_eq!(
            *esp_line(&sa(gcm, None)).unwrap(),
            format!("\"IPv4\",\"192.0.2.1\",\"192.0.2.2\",\"0xceda5b4b\",\"AES-GCM with 16 octet ICV [RFC4106]\",\"0x{ESP_KEY}\",\"NULL\",\"\"\n")
        );
    }

    #[test]
    fn cbc_with_hmac_and_unsupported_ciphers() {
        let cbc = EncrSpec {
            alg: EncrId::AES_CBC,
            key_bits: 128,
            icv_bits: None,
            key: Zeroizing::new(vec![0x11; 16]),
        };
        let integ = IntegSpec {
            alg: IntegId::HMAC_SHA2_256_128,
            key: Zeroizing::new(vec![0x22; 32]),
        };
        let line = esp_line(&sa(cbc, Some(integ))).unwrap();
        assert!(line.contains("\"AES-CBC [RFC3602]\",\"0x1111"), "{}", *line);
        assert!(
            line.contains("\"HMAC-SHA-256-128 [RFC4868]\",\"0x2222"),
            "{}",
            *line
        );
        assert_eq!(
            ike_encr_name(EncrId::AES_CBC, 256).as_deref(),
            Some("AES-CBC-256 [RFC3602]")
        );
        let chacha = EncrSpec {
            alg: EncrId::CHACHA20_POLY1305,
            key_bits: 256,
            icv_bits: Some(128),
            key: Zeroizing::new(vec![0; 36]),
        };
        let err = esp_line(&sa(chacha.clone(), None)).unwrap_err();
        assert!(err.contains("cannot decrypt"), "{err}");
        // With export off, a ChaCha20 SA is no reason for a warning; with it on, one is noted.
        let mut off = KeyLog::new(None);
        off.kernel_op(&KernelOp::AddSa(sa(chacha.clone(), None)));
        assert!(off.warned.is_empty());
        let mut on = KeyLog::new(Some(std::env::temp_dir().join("rswan-keylog-unused")));
        on.kernel_op(&KernelOp::AddSa(sa(chacha, None)));
        assert_eq!(on.warned.len(), 1);
    }

    #[test]
    fn a_table_that_is_a_symbolic_link_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "untouched\n").unwrap();
        let keys = dir.path().join("keys");
        std::fs::create_dir(&keys).unwrap();
        std::os::unix::fs::symlink(&victim, keys.join(ESP_TABLE)).unwrap();
        let e = append(&keys, ESP_TABLE, "secret key line\n").unwrap_err();
        assert!(e.contains("is a symbolic link"), "{e}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "untouched\n");
    }

    #[test]
    fn files_are_private_and_appended() {
        let dir = std::env::temp_dir().join(format!("rswan-keylog-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let sub = dir.join("keys");
        append(&sub, ESP_TABLE, "a\n").unwrap();
        append(&sub, ESP_TABLE, "b\n").unwrap();
        let p = sub.join(ESP_TABLE);
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "a\nb\n");
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            std::fs::metadata(&sub).unwrap().permissions().mode() & 0o777,
            0o700
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn esp_sas_are_appended_once_and_exported_while_installed() {
        let dir = std::env::temp_dir().join(format!("rswan-keylog-esp-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut log = KeyLog::new(Some(dir.clone()));
        let gcm = |b: u8| EncrSpec {
            alg: EncrId::AES_GCM_16,
            key_bits: 128,
            icv_bits: Some(128),
            key: Zeroizing::new(vec![b; 20]),
        };
        let a = sa(gcm(1), None);
        let mut b = sa(gcm(2), None);
        b.spi = 0x1234;
        log.kernel_op(&KernelOp::AddSa(a.clone()));
        // Re-installed with the same keys (e.g. a new encapsulation port): not a new record.
        log.kernel_op(&KernelOp::AddSa(a.clone()));
        log.kernel_op(&KernelOp::AddSa(b.clone()));
        let file = std::fs::read_to_string(dir.join(ESP_TABLE)).unwrap();
        assert_eq!(file.lines().count(), 2, "{file}");
        let ep = Endpoint::new(
            rswan_ikev2::Config::default(),
            rswan_ikev2::rng::TestRng::new(1),
        );
        let e = log.snapshot(&ep, |_, spi| spi != 0x1234);
        assert_eq!((e.esp_sas, e.ike_sas), (1, 0));
        assert!(e.esp_sa.contains("0xceda5b4b"), "{}", e.esp_sa);
        log.kernel_op(&KernelOp::DeleteSa {
            src: a.src,
            dst: a.dst,
            spi: a.spi,
        });
        assert_eq!(log.snapshot(&ep, |_, _| true).esp_sas, 1);
        // The file keeps the deleted SA: a capture that spans it still decrypts.
        let file = std::fs::read_to_string(dir.join(ESP_TABLE)).unwrap();
        assert_eq!(file.lines().count(), 2);
        // Switched on (or moved) by a reload: the SAs still installed are written at once.
        let moved = dir.join("moved");
        log.set_dir(Some(moved.clone()));
        let file = std::fs::read_to_string(moved.join(ESP_TABLE)).unwrap();
        assert_eq!(file.lines().count(), 1, "{file}");
        assert!(file.contains("0x00001234"), "{file}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
