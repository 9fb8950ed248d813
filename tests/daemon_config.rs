//! The configuration loader as an operator meets it: the shipped examples load, defaults follow
//! swanctl.conf, and every mistake is reported with file, line, key and the allowed values.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rswan::config::{self, Action, AuthMethod, ConfigError, Mode};

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

fn parse(text: &str) -> Result<config::Config, ConfigError> {
    config::parse_str(text, Path::new("test.yaml"))
}

fn parse_err(text: &str) -> ConfigError {
    match parse(text) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => e,
    }
}

const MINIMAL: &str = "\
connections:
  gw:
    local_addrs: [192.0.2.1]
    remote_addrs: [192.0.2.2]
    local:
      auth: psk
      id: moon
    remote:
      auth: psk
      id: sun
    children:
      net:
        local_ts: [10.1.0.0/16]
        remote_ts: [10.2.0.0/16]
secrets:
  ike-1:
    id: [moon, sun]
    secret: 0x0102030405
";

#[test]
fn every_example_loads() {
    let mut count = 0;
    for dir in ["site-to-site", "hub-and-spoke", "mesh"] {
        for entry in fs::read_dir(examples_dir().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "yaml") {
                let text = fs::read_to_string(&path).unwrap();
                let cfg = config::parse_str(&text, &path).unwrap_or_else(|e| panic!("{e}"));
                assert!(!cfg.connections.is_empty(), "{}", path.display());
                for c in &cfg.connections {
                    assert!(c.psk.is_some(), "{}: {} has no PSK", path.display(), c.name);
                    assert!(!c.children.is_empty());
                }
                count += 1;
            }
        }
    }
    assert_eq!(
        count,
        2 + 3 + 3,
        "site-to-site (2), hub-and-spoke (3), mesh (3)"
    );
}

/// The two ends of each example must mirror each other, or the example would not come up.
#[test]
fn example_peers_mirror_each_other() {
    let load = |p: &str| {
        let path = examples_dir().join(p);
        config::parse_str(&fs::read_to_string(&path).unwrap(), &path).unwrap()
    };
    let pairs = [
        (
            "site-to-site/west.yaml",
            "west-east",
            "site-to-site/east.yaml",
            "west-east",
        ),
        (
            "hub-and-spoke/hub.yaml",
            "hub-spoke1",
            "hub-and-spoke/spoke1.yaml",
            "hub",
        ),
        (
            "hub-and-spoke/hub.yaml",
            "hub-spoke2",
            "hub-and-spoke/spoke2.yaml",
            "hub",
        ),
        ("mesh/a.yaml", "a-b", "mesh/b.yaml", "a-b"),
        ("mesh/a.yaml", "a-c", "mesh/c.yaml", "a-c"),
        ("mesh/b.yaml", "b-c", "mesh/c.yaml", "b-c"),
    ];
    for (fa, ca, fb, cb) in pairs {
        let (a, b) = (load(fa), load(fb));
        let (a, b) = (a.connection(ca).unwrap(), b.connection(cb).unwrap());
        assert_eq!(a.local_addrs, b.remote_addrs, "{fa} {ca}");
        assert_eq!(a.remote_addrs, b.local_addrs, "{fa} {ca}");
        assert_eq!(a.local.id, b.remote.id, "{fa} {ca}");
        assert_eq!(a.remote.id, b.local.id, "{fa} {ca}");
        assert_eq!(a.psk, b.psk, "{fa} {ca}: keys differ");
        assert_eq!(a.proposals, b.proposals);
        let (ca, cb) = (&a.children[0], &b.children[0]);
        assert_eq!(ca.local_ts, cb.remote_ts, "{fa}");
        assert_eq!(ca.remote_ts, cb.local_ts, "{fa}");
        assert_eq!(ca.esp_proposals, cb.esp_proposals);
    }
}

#[test]
fn defaults_follow_swanctl() {
    let cfg = parse(MINIMAL).unwrap();
    let c = &cfg.connections[0];
    assert_eq!(c.version, 2);
    assert_eq!((c.local_port, c.remote_port), (500, 500));
    assert_eq!(c.proposals, vec!["default"]);
    assert_eq!(c.rekey_time, Duration::from_secs(4 * 3600));
    assert_eq!(
        c.over_time,
        Duration::from_secs(24 * 60),
        "10% of rekey_time"
    );
    assert_eq!(c.dpd_delay, Duration::ZERO);
    assert!(!c.encap);
    assert_eq!(c.local.auth, AuthMethod::Psk);
    assert_eq!(c.psk.as_ref().unwrap().expose(), &[1, 2, 3, 4, 5]);
    let ch = &c.children[0];
    assert_eq!(ch.rekey_time, Duration::from_secs(3600));
    assert_eq!(ch.life_time, Duration::from_secs(3960), "rekey_time + 10%");
    assert_eq!(ch.mode, Mode::Tunnel);
    assert_eq!(
        (ch.start_action, ch.dpd_action, ch.close_action),
        (Action::None, Action::None, Action::None)
    );
    // Unset esp_proposals means strongSwan's default for an unset key: AEAD first, so the
    // negotiated cipher does not depend on which side initiates against a strongSwan peer.
    assert!(ch.esp_proposals.is_empty());
    let core = rswan::driver::core_config::to_core(&cfg).unwrap();
    let esp = core.connections[0].children[0].esp_proposals.to_string();
    assert!(esp.starts_with("ESP:AES_GCM_16"), "AEAD first, got {esp}");
    assert!(
        esp.contains("AES_CBC"),
        "classic ciphers after AEAD, got {esp}"
    );
    assert_eq!((ch.rekey_bytes, ch.life_bytes), (0, 0));
    assert_eq!(cfg.settings.retransmit_timeout, Duration::from_secs(4));
    assert_eq!(cfg.settings.retransmit_base, 1.8);
    assert_eq!(cfg.settings.retransmit_tries, 5);
}

#[test]
fn swanctl_value_forms_are_accepted() {
    let text = MINIMAL.replace(
        "        remote_ts: [10.2.0.0/16]\n",
        "        remote_ts: 10.2.0.0/16, 10.3.0.0/16[tcp/443]\n        rekey_time: 30m\n        life_time: 45m\n        rekey_bytes: 1g\n        start_action: restart\n        dpd_action: clear\n",
    ) + "settings:\n  retransmit_timeout: 2.5\n  retransmit_tries: 3\n";
    let cfg = parse(&text).unwrap();
    let ch = &cfg.connections[0].children[0];
    assert_eq!(ch.remote_ts.len(), 2);
    assert_eq!(ch.remote_ts[1].to_string(), "10.3.0.0/16[6/443]");
    assert_eq!(ch.rekey_time, Duration::from_secs(1800));
    assert_eq!(ch.life_time, Duration::from_secs(2700));
    assert_eq!(ch.rekey_bytes, 1 << 30);
    assert_eq!(ch.life_bytes, (1 << 30) + (1 << 30) / 10);
    assert_eq!(ch.start_action, Action::Start, "restart is start");
    assert_eq!(ch.dpd_action, Action::None, "clear is none");
    assert_eq!(cfg.settings.retransmit_timeout, Duration::from_millis(2500));
    assert_eq!(cfg.settings.retransmit_tries, 3);
}

#[test]
fn unknown_key_names_key_line_and_allowed_keys() {
    let e = parse_err(&MINIMAL.replace("    remote_addrs:", "    remote_adrs:"));
    let msg = e.to_string();
    assert_eq!(e.line, Some(4), "{msg}");
    assert!(msg.starts_with("test.yaml:4:"), "{msg}");
    assert!(msg.contains("connections.gw"), "{msg}");
    assert!(msg.contains("remote_adrs"), "{msg}");
    assert!(
        msg.contains("remote_addrs"),
        "lists the allowed keys: {msg}"
    );
}

#[test]
fn bad_enum_value_lists_allowed_values() {
    let e = parse_err(&MINIMAL.replace(
        "        remote_ts: [10.2.0.0/16]\n",
        "        remote_ts: [10.2.0.0/16]\n        mode: tunel\n",
    ));
    let msg = e.to_string();
    assert_eq!(e.line, Some(15), "{msg}");
    assert_eq!(
        e.key.as_deref(),
        Some("connections.gw.children.net.mode"),
        "{msg}"
    );
    assert!(
        msg.contains("tunel") && msg.contains("tunnel") && msg.contains("transport"),
        "{msg}"
    );
}

#[test]
fn bad_duration_says_which_suffixes_work() {
    let e = parse_err(&MINIMAL.replace("    local:\n", "    rekey_time: 4 hours\n    local:\n"));
    let msg = e.to_string();
    assert_eq!(e.line, Some(5), "{msg}");
    assert_eq!(e.key.as_deref(), Some("connections.gw.rekey_time"), "{msg}");
    assert!(msg.contains("s, m, h or d"), "{msg}");
}

#[test]
fn bad_traffic_selector_is_located() {
    let e = parse_err(&MINIMAL.replace("[10.2.0.0/16]", "[10.2.0.0/40]"));
    assert_eq!(e.line, Some(14), "{e}");
    assert_eq!(
        e.key.as_deref(),
        Some("connections.gw.children.net.remote_ts"),
        "{e}"
    );
    assert!(e.message.contains("prefix"), "{e}");
}

#[test]
fn psk_without_matching_secret_points_at_auth() {
    let e = parse_err(&MINIMAL.replace("id: [moon, sun]", "id: [mars, venus]"));
    assert_eq!(e.key.as_deref(), Some("connections.gw.local.auth"), "{e}");
    assert_eq!(e.line, Some(6), "{e}");
    assert!(
        e.message.contains("moon") && e.message.contains("sun"),
        "{e}"
    );
}

#[test]
fn life_time_must_exceed_rekey_time() {
    let e = parse_err(&MINIMAL.replace(
        "        remote_ts: [10.2.0.0/16]\n",
        "        remote_ts: [10.2.0.0/16]\n        rekey_time: 1h\n        life_time: 30m\n",
    ));
    assert_eq!(
        e.key.as_deref(),
        Some("connections.gw.children.net.life_time"),
        "{e}"
    );
    assert_eq!(e.line, Some(16), "{e}");
    assert!(e.message.contains("30m") && e.message.contains("1h"), "{e}");
}

#[test]
fn ikev1_is_refused_with_reason() {
    let e = parse_err(&MINIMAL.replace("    local_addrs:", "    version: 1\n    local_addrs:"));
    assert_eq!(e.line, Some(3), "{e}");
    assert!(e.message.contains("IKEv1 is not supported"), "{e}");
}

#[test]
fn start_action_needs_a_peer_address() {
    let e = parse_err(&MINIMAL.replace("[192.0.2.2]", "[\"%any\"]").replace(
        "        remote_ts: [10.2.0.0/16]\n",
        "        remote_ts: [10.2.0.0/16]\n        start_action: start\n",
    ));
    assert_eq!(
        e.key.as_deref(),
        Some("connections.gw.children.net.start_action"),
        "{e}"
    );
}

#[test]
fn world_readable_secrets_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rswan.yaml");
    fs::write(&path, MINIMAL).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    let e = config::load(&path).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("accessible by other users") && msg.contains("0644"),
        "{msg}"
    );
    assert!(msg.contains("chmod 600"), "{msg}");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    let cfg = config::load(&path).unwrap();
    assert!(cfg.connections[0].psk.is_some());
}

#[test]
fn secrets_can_live_in_their_own_file() {
    let dir = tempfile::tempdir().unwrap();
    let (main, secrets) = (
        dir.path().join("rswan.yaml"),
        dir.path().join("secrets.yaml"),
    );
    let (conns, secret_part) = MINIMAL.split_at(MINIMAL.find("secrets:").unwrap());
    fs::write(&main, format!("{conns}secrets_file: secrets.yaml\n")).unwrap();
    fs::set_permissions(&main, fs::Permissions::from_mode(0o644)).unwrap();
    fs::write(&secrets, secret_part).unwrap();
    fs::set_permissions(&secrets, fs::Permissions::from_mode(0o640)).unwrap();
    let e = config::load(&main).unwrap_err();
    assert_eq!(e.file, secrets, "the secrets file is the one refused: {e}");
    fs::set_permissions(&secrets, fs::Permissions::from_mode(0o600)).unwrap();
    let cfg = config::load(&main).unwrap();
    assert_eq!(
        cfg.connections[0].psk.as_ref().unwrap().expose(),
        &[1, 2, 3, 4, 5]
    );
}

#[test]
fn secret_errors_are_located() {
    let e = parse_err(&MINIMAL.replace("0x0102030405", "0x01020"));
    assert_eq!(e.key.as_deref(), Some("secrets.ike-1.secret"), "{e}");
    assert_eq!(e.line, Some(18), "{e}");
    assert!(e.message.contains("hex"), "{e}");
    let e = parse_err(&MINIMAL.replace("ike-1", "eap-1"));
    assert!(
        e.message
            .contains("expected ike<suffix> (pre-shared key) or private<suffix>"),
        "{e}"
    );
}

#[test]
fn missing_file_is_named() {
    let e = config::load(Path::new("/nonexistent/rswan.yaml")).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("/nonexistent/rswan.yaml: cannot read"),
        "{e}"
    );
}

#[test]
fn bad_proposal_keyword_is_a_located_config_error() {
    let e = parse_err(&MINIMAL.replace(
        "    local:\n",
        "    proposals: [aes256-sha256-modp2048, aes512-sha256-x25519]\n    local:\n",
    ));
    assert_eq!(e.key.as_deref(), Some("connections.gw.proposals"), "{e}");
    assert_eq!(e.line, Some(5), "{e}");
    assert!(
        e.message.contains("aes512") && e.message.contains("allowed"),
        "{e}"
    );
    let e = parse_err(&MINIMAL.replace(
        "        remote_ts: [10.2.0.0/16]\n",
        "        remote_ts: [10.2.0.0/16]\n        esp_proposals: aes256gcm16-prfsha256\n",
    ));
    assert_eq!(
        e.key.as_deref(),
        Some("connections.gw.children.net.esp_proposals"),
        "{e}"
    );
    assert_eq!(e.line, Some(15), "{e}");
}

/// The lifecycle keys reach the protocol core's per-connection timers with the values written.
#[test]
fn lifecycle_keys_reach_core_conn_timers() {
    use rswan::driver::core_config::to_core;
    use rswan_ikev2::timer::DpdMode;
    let text = MINIMAL
        .replace(
            "    local:\n",
            "    dpd_delay: 5s\n    dpd_mode: on-idle\n    rekey_time: 2h\n    over_time: 20m\n    rand_time: 7m\n    reauth_time: 6h\n    local:\n",
        )
        .replace(
            "        remote_ts: [10.2.0.0/16]\n",
            "        remote_ts: [10.2.0.0/16]\n        rekey_time: 10s\n        life_time: 20s\n        rand_time: 2s\n",
        );
    let cfg = parse(&text).unwrap();
    let c = &cfg.connections[0];
    assert_eq!(c.dpd_mode, config::DpdMode::OnIdle);
    assert_eq!(c.rand_time, Duration::from_secs(420));
    assert_eq!(c.reauth_time, Duration::from_secs(6 * 3600));
    let core = to_core(&cfg).unwrap();
    let t = core.settings.conn_timers.get("gw").expect("timers for gw");
    assert_eq!(t.dpd_mode, DpdMode::OnIdle);
    assert_eq!(t.ike_rand_time, Some(Duration::from_secs(420)));
    assert_eq!(t.ike_over_time, Some(Duration::from_secs(1200)));
    assert_eq!(t.child_rand_time, Some(Duration::from_secs(2)));
    assert_eq!(t.reauth_time, Some(Duration::from_secs(6 * 3600)));
    assert_eq!(core.connections[0].dpd_delay, Duration::from_secs(5));
    assert_eq!(
        core.connections[0].children[0].rekey_time,
        Duration::from_secs(10)
    );
}

/// Without the keys the core gets swanctl's defaults: on-demand DPD, no reauthentication,
/// over_time and IKE rand_time 10 % of the longer interval, per-child default rand_time.
#[test]
fn lifecycle_defaults_follow_swanctl() {
    use rswan::driver::core_config::to_core;
    use rswan_ikev2::timer::DpdMode;
    let core = to_core(&parse(MINIMAL).unwrap()).unwrap();
    let t = &core.settings.conn_timers["gw"];
    assert_eq!(t.dpd_mode, DpdMode::OnDemand);
    assert_eq!(t.reauth_time, None);
    assert_eq!(t.ike_over_time, Some(Duration::from_secs(24 * 60)));
    assert_eq!(t.ike_rand_time, Some(Duration::from_secs(24 * 60)));
    assert_eq!(
        t.child_rand_time, None,
        "core derives life_time - rekey_time"
    );
    // reauth_time longer than rekey_time sets the default over_time, as in swanctl.
    let cfg =
        parse(&MINIMAL.replace("    local:\n", "    reauth_time: 10h\n    local:\n")).unwrap();
    assert_eq!(cfg.connections[0].over_time, Duration::from_secs(3600));
    let t = &to_core(&cfg).unwrap().settings.conn_timers["gw"];
    assert_eq!(t.reauth_time, Some(Duration::from_secs(36_000)));
    assert_eq!(t.ike_rand_time, Some(Duration::from_secs(3600)));
}

#[test]
fn rand_time_must_be_shorter_than_rekey_time() {
    let e = parse_err(&MINIMAL.replace(
        "        remote_ts: [10.2.0.0/16]\n",
        "        remote_ts: [10.2.0.0/16]\n        rekey_time: 10s\n        rand_time: 10s\n",
    ));
    assert_eq!(
        e.key.as_deref(),
        Some("connections.gw.children.net.rand_time"),
        "{e}"
    );
    assert_eq!(e.line, Some(16), "{e}");
    assert!(e.message.contains("shorter than rekey_time (10s)"), "{e}");

    let e = parse_err(&MINIMAL.replace(
        "    local:\n",
        "    rekey_time: 1h\n    rand_time: 2h\n    local:\n",
    ));
    assert_eq!(e.key.as_deref(), Some("connections.gw.rand_time"), "{e}");
    assert_eq!(e.line, Some(6), "{e}");
    assert!(e.message.contains("shorter than rekey_time (1h)"), "{e}");

    let e = parse_err(&MINIMAL.replace(
        "    local:\n",
        "    rekey_time: 0\n    reauth_time: 30m\n    rand_time: 30m\n    local:\n",
    ));
    assert!(e.message.contains("shorter than reauth_time (30m)"), "{e}");
}

#[test]
fn bad_dpd_mode_lists_allowed_values() {
    let e = parse_err(&MINIMAL.replace("    local:\n", "    dpd_mode: ondemand\n    local:\n"));
    let msg = e.to_string();
    assert_eq!(e.line, Some(5), "{msg}");
    assert_eq!(e.key.as_deref(), Some("connections.gw.dpd_mode"), "{msg}");
    assert!(
        msg.contains("on-demand") && msg.contains("on-idle") && msg.contains("disabled"),
        "{msg}"
    );
}

/// The core has one child rand_time per connection: children that would end up with different
/// values are refused at the key rather than silently sharing one.
#[test]
fn children_must_share_rand_time() {
    let text = MINIMAL.replace(
        "        remote_ts: [10.2.0.0/16]\n",
        "        remote_ts: [10.2.0.0/16]\n        rand_time: 1m\n      voice:\n        local_ts: [10.1.5.0/24]\n        remote_ts: [10.2.5.0/24]\n",
    );
    let e = parse_err(&text);
    assert_eq!(
        e.key.as_deref(),
        Some("connections.gw.children.net.rand_time"),
        "{e}"
    );
    assert_eq!(e.line, Some(15), "{e}");
    assert!(
        e.message.contains("voice") && e.message.contains("6m"),
        "{e}"
    );
    // The same explicit value on both is fine and reaches the core.
    let ok = text.replace(
        "        remote_ts: [10.2.5.0/24]\n",
        "        remote_ts: [10.2.5.0/24]\n        rand_time: 60s\n",
    );
    let core = rswan::driver::core_config::to_core(&parse(&ok).unwrap()).unwrap();
    assert_eq!(
        core.settings.conn_timers["gw"].child_rand_time,
        Some(Duration::from_secs(60))
    );
}

// ---------------------------------------------------------------------------------------------
// Certificates (auth: pubkey). The PKI is made at test time by the example's own make-pki.sh
// (openssl CLI), so the README's recipe is what is tested and no key is committed.
// ---------------------------------------------------------------------------------------------

const RSWAND: &str = env!("CARGO_BIN_EXE_rswand");

fn run_openssl(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl CLI");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The example PKI (CA, west RSA, east ECDSA P-256), made once per test run.
fn example_pki() -> &'static Path {
    static PKI: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PKI.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("site-to-site-certs-pki");
        let _ = fs::remove_dir_all(&dir);
        let out = std::process::Command::new("sh")
            .arg(examples_dir().join("site-to-site-certs/make-pki.sh"))
            .arg(&dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "make-pki.sh: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        dir
    })
}

/// A fresh directory with a copy of the example PKI (modes kept) and `config` as rswan.yaml.
/// The config is 0644: a pubkey configuration has no secret text of its own.
fn cert_dir(config: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    for sub in ["x509ca", "x509", "private"] {
        fs::create_dir(dir.path().join(sub)).unwrap();
        for entry in fs::read_dir(example_pki().join(sub)).unwrap() {
            let from = entry.unwrap().path();
            fs::copy(&from, dir.path().join(sub).join(from.file_name().unwrap())).unwrap();
        }
    }
    let path = dir.path().join("rswan.yaml");
    fs::write(&path, config).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    (dir, path)
}

fn example_text(name: &str) -> String {
    fs::read_to_string(examples_dir().join("site-to-site-certs").join(name)).unwrap()
}

fn rswand_check(config: &Path) -> std::process::Output {
    std::process::Command::new(RSWAND)
        .args(["--check", "--config"])
        .arg(config)
        .output()
        .unwrap()
}

const WEST_DN: &str = "C=CH, O=rswan example, CN=west.example.org";

#[test]
fn certificate_example_checks_and_reaches_the_core() {
    use rswan::config::values::Identity;
    use rswan_ikev2::auth::SendCert;
    use rswan_ikev2::config::AuthKind;
    let (dir, west_path) = cert_dir(&example_text("west.yaml"));
    let east_path = dir.path().join("east.yaml");
    fs::write(&east_path, example_text("east.yaml")).unwrap();
    for p in [&west_path, &east_path] {
        let out = rswand_check(p);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("OK, 1 connection(s)"), "{stdout}");
    }
    let west = config::load(&west_path).unwrap();
    let east = config::load(&east_path).unwrap();
    let (w, e) = (&west.connections[0], &east.connections[0]);
    assert_eq!(w.local.auth, AuthMethod::Pubkey);
    assert_eq!(
        w.local.id,
        Identity::Dn(WEST_DN.into()),
        "default id: the subject"
    );
    assert_eq!(w.local.private_key_source.as_deref(), Some("private-west"));
    assert_eq!(e.local.private_key_source.as_deref(), Some("ecdsa-east"));
    assert_eq!(w.local.certs, vec![dir.path().join("x509/west.pem")]);
    assert_eq!(w.remote.cacerts, vec![dir.path().join("x509ca/ca.pem")]);
    // The two ends agree on who is who: east expects west's subject, west expects east's SAN.
    assert_eq!(e.remote.id, w.local.id);
    assert_eq!(w.remote.id, e.local.id);
    assert_eq!(e.local.id, Identity::Fqdn("east.example.org".into()));

    let core = rswan::driver::core_config::to_core(&west).unwrap();
    let c = &core.connections[0];
    assert_eq!(
        c.local.id, None,
        "the core sends the certificate's exact subject DER"
    );
    let AuthKind::Pubkey(local) = &c.local.auth else {
        panic!("local round is not pubkey")
    };
    let creds = local.credentials.as_ref().expect("credentials");
    assert_eq!(creds.cert_chain.len(), 1);
    assert_eq!(creds.key.kind(), "RSA");
    assert_eq!(local.send_cert, SendCert::IfAsked);
    assert!(local.send_certreq);
    let AuthKind::Pubkey(remote) = &c.remote.auth else {
        panic!("remote round is not pubkey")
    };
    assert_eq!(remote.cacerts.key_ids().len(), 1);
    assert!(remote.credentials.is_none());
    assert_eq!(
        c.remote.id.as_ref().map(ToString::to_string).as_deref(),
        Some("east.example.org")
    );
    let core = rswan::driver::core_config::to_core(&east).unwrap();
    let AuthKind::Pubkey(local) = &core.connections[0].local.auth else {
        panic!("local round is not pubkey")
    };
    assert_eq!(
        local.credentials.as_ref().unwrap().key.kind(),
        "ECDSA P-256"
    );
    assert!(
        matches!(
            core.connections[0].remote.id,
            Some(rswan_ikev2::wire::Identity::DerAsn1Dn(_))
        ),
        "east names west by DN"
    );
}

#[test]
fn intermediates_and_send_options_reach_the_core() {
    use rswan_ikev2::auth::SendCert;
    use rswan_ikev2::config::AuthKind;
    let text = example_text("west.yaml")
        .replace(
            "certs: [x509/west.pem]",
            "certs: [x509/west.pem, x509ca/ca.pem]",
        )
        .replace("send_cert: ifasked", "send_cert: always")
        .replace("send_certreq: yes", "send_certreq: no");
    let (_dir, path) = cert_dir(&text);
    let cfg = config::load(&path).unwrap();
    assert_eq!(cfg.connections[0].local.cert_ders.len(), 2);
    let core = rswan::driver::core_config::to_core(&cfg).unwrap();
    let AuthKind::Pubkey(local) = &core.connections[0].local.auth else {
        panic!("local round is not pubkey")
    };
    assert_eq!(
        local.credentials.as_ref().unwrap().cert_chain.len(),
        2,
        "end entity, then the CA sent along"
    );
    assert_eq!(local.send_cert, SendCert::Always);
    assert!(!local.send_certreq);
}

#[test]
fn key_file_readable_by_others_is_refused_naming_it() {
    let (dir, path) = cert_dir(&example_text("west.yaml"));
    let key = dir.path().join("private/west.key");
    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
    let e = config::load(&path).unwrap_err();
    assert_eq!(e.file, path);
    assert_eq!(e.key.as_deref(), Some("secrets.private-west.file"), "{e}");
    assert_eq!(e.line, Some(33), "{e}");
    assert_eq!(
        e.message,
        format!(
            "private key {} is readable by other users (mode 0644); chmod 600 it",
            key.display()
        )
    );
    let out = rswand_check(&path);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("rswan.yaml:33:5: secrets.private-west.file: private key")
            && stderr.contains("west.key is readable by other users (mode 0644)"),
        "{stderr}"
    );
}

#[test]
fn certificate_without_its_key_is_named() {
    let text = example_text("west.yaml");
    let want = format!(
        "no private key for certificate west.pem ({WEST_DN}); add secrets.private-west.file"
    );
    // No private key entry at all.
    let (_dir, path) = cert_dir(&text[..text.find("secrets:").unwrap()]);
    let e = config::load(&path).unwrap_err();
    assert_eq!(
        e.key.as_deref(),
        Some("connections.west-east.local.certs"),
        "{e}"
    );
    assert_eq!(e.line, Some(16), "{e}");
    assert_eq!(e.message, want);
    // Only a key that belongs to another certificate.
    let (_dir, path) = cert_dir(&text.replace("private/west.key", "private/east.key"));
    let e = config::load(&path).unwrap_err();
    assert_eq!(e.message, want);
    let stderr = String::from_utf8_lossy(&rswand_check(&path).stderr).into_owned();
    assert!(
        stderr.contains(&format!(
            "rswan.yaml:16:7: connections.west-east.local.certs: {want}"
        )),
        "{stderr}"
    );
}

#[test]
fn bad_certificate_files_are_located() {
    let text = example_text("west.yaml");
    let (dir, path) =
        cert_dir(&text.replace("certs: [x509/west.pem]", "certs: [private/west.key]"));
    let e = config::load(&path).unwrap_err();
    assert_eq!(
        e.key.as_deref(),
        Some("connections.west-east.local.certs"),
        "{e}"
    );
    assert_eq!(e.line, Some(16), "{e}");
    assert_eq!(
        e.message,
        format!(
            "{} is not a certificate: it holds PEM PRIVATE KEY (expected PEM CERTIFICATE blocks or DER X.509)",
            dir.path().join("private/west.key").display()
        )
    );
    let (_dir, path) = cert_dir(&text.replace("x509/west.pem", "x509/missing.pem"));
    let e = config::load(&path).unwrap_err();
    assert!(
        e.message.starts_with("cannot read ") && e.message.contains("x509/missing.pem"),
        "{e}"
    );
    let (_dir, path) = cert_dir(&text.replace("cacerts: [x509ca/ca.pem]", "cacerts: [rswan.yaml]"));
    let e = config::load(&path).unwrap_err();
    assert_eq!(
        e.key.as_deref(),
        Some("connections.west-east.remote.cacerts"),
        "{e}"
    );
    assert_eq!(e.line, Some(21), "{e}");
    assert!(
        e.message
            .ends_with("rswan.yaml is not a certificate: neither PEM nor DER (expected PEM CERTIFICATE blocks or DER X.509)"),
        "{e}"
    );
}

#[test]
fn pubkey_peer_needs_cacerts() {
    let text = example_text("west.yaml").replace("      cacerts: [x509ca/ca.pem]\n", "");
    let (_dir, path) = cert_dir(&text);
    let e = config::load(&path).unwrap_err();
    assert_eq!(
        e.key.as_deref(),
        Some("connections.west-east.remote.auth"),
        "{e}"
    );
    assert_eq!(e.line, Some(19), "{e}");
    assert!(
        e.message
            .starts_with("auth: pubkey (the default) needs cacerts"),
        "{e}"
    );
}

#[test]
fn local_id_must_be_in_the_certificate() {
    let text = example_text("east.yaml").replace("id: east.example.org ", "id: other.example.org ");
    let (_dir, path) = cert_dir(&text);
    let e = config::load(&path).unwrap_err();
    assert_eq!(
        e.key.as_deref(),
        Some("connections.west-east.local.id"),
        "{e}"
    );
    assert_eq!(e.line, Some(14), "{e}");
    assert!(
        e.message.starts_with("other.example.org is not in our certificate (subject C=CH, O=rswan example, CN=east.example.org, subjectAltNames: DNS:east.example.org)"),
        "{e}"
    );
    // The subject DN, written out, is in the certificate too.
    let text = example_text("east.yaml").replace(
        "id: east.example.org ",
        "id: \"C=CH, O=rswan example, CN=east.example.org\" ",
    );
    let (_dir, path) = cert_dir(&text);
    let cfg = config::load(&path).unwrap();
    assert!(!cfg.connections[0].local.id_from_cert);
}

#[test]
fn encrypted_key_is_refused_with_the_way_out() {
    let text = example_text("west.yaml").replace(
        "    file: private/west.key\n",
        "    file: private/west-enc.key\n    secret: hunter2\n",
    );
    let (dir, path) = cert_dir(&text);
    run_openssl(
        dir.path(),
        &[
            "pkey",
            "-in",
            "private/west.key",
            "-aes256",
            "-passout",
            "pass:hunter2",
            "-out",
            "private/west-enc.key",
        ],
    );
    fs::set_permissions(
        dir.path().join("private/west-enc.key"),
        fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    // The passphrase is secret text: the file holding it must be private, as for a PSK.
    let e = config::load(&path).unwrap_err();
    assert!(e.message.contains("accessible by other users"), "{e}");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    let e = config::load(&path).unwrap_err();
    assert_eq!(e.key.as_deref(), Some("secrets.private-west.file"), "{e}");
    assert!(
        e.message
            .contains("west-enc.key is passphrase-protected, which rswan does not support yet")
            && e.message.contains("openssl pkey -in"),
        "{e}"
    );
    assert!(!e.to_string().contains("hunter2"));
}

/// Reload compares connections: a certificate renewed under the same file name must count as a
/// change (so new SAs use it), and must be read again rather than remembered.
#[test]
fn renewed_certificate_is_a_change_on_reload() {
    let (dir, path) = cert_dir(&example_text("west.yaml"));
    let before = config::load(&path).unwrap();
    assert_eq!(
        config::load(&path).unwrap(),
        before,
        "same files, same value"
    );
    run_openssl(
        dir.path(),
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-384",
            "-nodes",
            "-keyout",
            "private/west.key",
            "-out",
            "x509/west.pem",
            "-days",
            "30",
            "-subj",
            "/C=CH/O=rswan example/CN=west.example.org",
        ],
    );
    fs::set_permissions(
        dir.path().join("private/west.key"),
        fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let after = config::load(&path).unwrap();
    let (b, a) = (&before.connections[0], &after.connections[0]);
    assert_ne!(a, b, "a renewed certificate is a changed connection");
    assert_eq!(a.local.id, b.local.id);
    assert_ne!(a.local.cert_ders, b.local.cert_ders);
    let core = rswan::driver::core_config::to_core(&after).unwrap();
    let rswan_ikev2::config::AuthKind::Pubkey(local) = &core.connections[0].local.auth else {
        panic!("local round is not pubkey")
    };
    assert_eq!(
        local.credentials.as_ref().unwrap().key.kind(),
        "ECDSA P-384"
    );
}

/// rswand on loopback for the end-to-end check below; SIGTERM on drop so that it removes
/// whatever it installed in the kernel.
struct Rswand {
    child: std::process::Child,
    socket: PathBuf,
    log: PathBuf,
}

impl Rswand {
    fn start(config: &Path, port: u16) -> Rswand {
        let socket = config.with_extension("sock");
        let log = config.with_extension("log");
        let child = std::process::Command::new(RSWAND)
            .arg("--config")
            .arg(config)
            .arg("--socket")
            .arg(&socket)
            .args(["--port", &port.to_string()])
            .args(["--port-nat-t", &(port + 1).to_string()])
            .env("RUST_LOG", "info")
            .env_remove("JOURNAL_STREAM")
            .env_remove("NOTIFY_SOCKET")
            .stdout(std::process::Stdio::null())
            .stderr(fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let d = Rswand { child, socket, log };
        let t0 = std::time::Instant::now();
        while !d.socket.exists() {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "rswand did not start: {}",
                fs::read_to_string(&d.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        d
    }

    fn ctl(&self, args: &[&str]) -> std::process::Output {
        std::process::Command::new(env!("CARGO_BIN_EXE_rswanctl"))
            .arg("--socket")
            .arg(&self.socket)
            .args(args)
            .output()
            .unwrap()
    }
}

impl Drop for Rswand {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let t0 = std::time::Instant::now();
        while t0.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The example's two ends, moved to loopback, authenticate each other with their certificates
/// through the daemon: what the loader read and paired is what the core signs and verifies with.
/// (The host kernel may lack the ESP algorithm, so only the IKE SA is asserted.)
#[test]
fn certificate_example_establishes_between_two_daemons() {
    let to_loopback = |text: String, port: u16, peer: u16| {
        text.replace("192.0.2.1", "127.0.0.1")
            .replace("192.0.2.2", "127.0.0.1")
            .replace(
                "    remote_addrs: [127.0.0.1]\n",
                &format!(
                    "    remote_addrs: [127.0.0.1]\n    local_port: {port}\n    remote_port: {peer}\n"
                ),
            )
    };
    let (west_port, east_port) = (26400, 26410);
    let (dir, west_cfg) = cert_dir(&to_loopback(
        example_text("west.yaml"),
        west_port,
        east_port,
    ));
    let east_cfg = dir.path().join("east.yaml");
    fs::write(
        &east_cfg,
        to_loopback(example_text("east.yaml"), east_port, west_port),
    )
    .unwrap();
    let west = Rswand::start(&west_cfg, west_port);
    let east = Rswand::start(&east_cfg, east_port);
    let _ = west.ctl(&["up", "west-east", "--timeout", "10"]);
    let status = |d: &Rswand| -> serde_json::Value {
        serde_json::from_slice(&d.ctl(&["status", "--json"]).stdout).unwrap()
    };
    let (w, e) = (status(&west), status(&east));
    let log = |d: &Rswand| fs::read_to_string(&d.log).unwrap_or_default();
    for (v, d) in [(&w, &west), (&e, &east)] {
        assert_eq!(
            v["connections"][0]["ike_sas"][0]["state"],
            "established",
            "{v}\n{}",
            log(d)
        );
    }
    assert_eq!(
        w["connections"][0]["ike_sas"][0]["remote_id"], "east.example.org",
        "{w}"
    );
    let wlog = log(&west);
    assert!(
        wlog.contains("certificate 'C=CH, O=rswan example, CN=east.example.org' issued by 'C=CH, O=rswan example, CN=rswan example CA'"),
        "{wlog}"
    );
    let elog = log(&east);
    assert!(
        elog.contains("certificate 'C=CH, O=rswan example, CN=west.example.org'"),
        "{elog}"
    );
}

/// Certificates in DER, several certificates in one PEM file, and keys in the traditional
/// PKCS#1 / SEC1 PEM forms (what older openssl and strongSwan's pki write) all load.
#[test]
fn der_certificates_chain_files_and_traditional_keys_load() {
    let text = example_text("west.yaml")
        .replace(
            "certs: [x509/west.pem]",
            "certs: [x509/west.der, x509/chain.pem]",
        )
        .replace("cacerts: [x509ca/ca.pem]", "cacerts: [x509ca/ca.der]")
        .replace(
            "  private-west:\n    file: private/west.key\n",
            "  rsa-west:\n    file: private/west-pkcs1.key\n  ecdsa-east:\n    file: private/east-sec1.key\n",
        );
    let (dir, path) = cert_dir(&text);
    let d = dir.path();
    run_openssl(
        d,
        &[
            "x509",
            "-in",
            "x509/west.pem",
            "-outform",
            "DER",
            "-out",
            "x509/west.der",
        ],
    );
    run_openssl(
        d,
        &[
            "x509",
            "-in",
            "x509ca/ca.pem",
            "-outform",
            "DER",
            "-out",
            "x509ca/ca.der",
        ],
    );
    let chain = [
        fs::read_to_string(d.join("x509ca/ca.pem")).unwrap(),
        fs::read_to_string(d.join("x509/east.pem")).unwrap(),
    ]
    .concat();
    fs::write(d.join("x509/chain.pem"), chain).unwrap();
    run_openssl(
        d,
        &[
            "pkey",
            "-in",
            "private/west.key",
            "-traditional",
            "-out",
            "private/west-pkcs1.key",
        ],
    );
    run_openssl(
        d,
        &[
            "pkey",
            "-in",
            "private/east.key",
            "-traditional",
            "-out",
            "private/east-sec1.key",
        ],
    );
    for k in ["west-pkcs1.key", "east-sec1.key"] {
        let p = d.join("private").join(k);
        let head = fs::read_to_string(&p).unwrap();
        assert!(
            head.starts_with("-----BEGIN RSA PRIVATE KEY")
                || head.starts_with("-----BEGIN EC PRIVATE KEY"),
            "{k}: {}",
            head.lines().next().unwrap_or_default()
        );
        fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
    }
    let cfg = config::load(&path).unwrap();
    let local = &cfg.connections[0].local;
    assert_eq!(local.cert_ders.len(), 3, "west.der, then both in chain.pem");
    assert_eq!(local.private_key_source.as_deref(), Some("rsa-west"));
    assert_eq!(cfg.connections[0].remote.cacert_ders.len(), 1);
    rswan::driver::core_config::to_core(&cfg).unwrap();
    assert!(rswand_check(&path).status.success());
}

/// Our own certificate must be one we can sign for and name ourselves by.
#[test]
fn unusable_own_certificates_are_refused() {
    let base = example_text("west.yaml");
    // Ed448: parsed, but rswan cannot sign with it.
    let (dir, path) = cert_dir(&base.replace("x509/west.pem", "x509/ed.pem"));
    run_openssl(
        dir.path(),
        &[
            "req",
            "-x509",
            "-newkey",
            "ed448",
            "-nodes",
            "-keyout",
            "private/ed.key",
            "-out",
            "x509/ed.pem",
            "-days",
            "3",
            "-subj",
            "/CN=ed",
        ],
    );
    let e = config::load(&path).unwrap_err();
    assert_eq!(
        e.key.as_deref(),
        Some("connections.west-east.local.certs"),
        "{e}"
    );
    assert_eq!(
        e.message,
        "certificate ed.pem (CN=ed) has a key type rswan cannot sign with (RSA, ECDSA P-256/P-384/P-521 and Ed25519 are supported)"
    );
    // An empty subject cannot be the default identity; a subjectAltName named in id can.
    let text = base
        .replace("x509/west.pem", "x509/anon.pem")
        .replace("private/west.key", "private/anon.key");
    let (dir, path) = cert_dir(&text);
    run_openssl(
        dir.path(),
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "private/anon.key",
            "-out",
            "x509/anon.pem",
            "-days",
            "3",
            "-subj",
            "/",
            "-addext",
            "subjectAltName=DNS:anon.example.org",
        ],
    );
    fs::set_permissions(
        dir.path().join("private/anon.key"),
        fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let e = config::load(&path).unwrap_err();
    assert_eq!(
        e.message,
        "certificate anon.pem has an empty subject: set local.id to one of its subjectAltNames"
    );
    fs::write(
        &path,
        text.replace(
            "      certs: [x509/anon.pem]",
            "      id: anon.example.org\n      certs: [x509/anon.pem]",
        ),
    )
    .unwrap();
    let cfg = config::load(&path).unwrap();
    assert_eq!(
        cfg.connections[0].local.id,
        rswan::config::values::Identity::Fqdn("anon.example.org".into())
    );
}

#[test]
fn duplicate_connection_name_is_refused_at_its_second_line() {
    // MINIMAL's connection "gw" given twice: YAML alone would keep only the second.
    let conns = MINIMAL.split("secrets:").next().unwrap();
    let second = conns.trim_start_matches("connections:\n");
    let text = format!(
        "{conns}{second}secrets:{}",
        MINIMAL.split("secrets:").nth(1).unwrap()
    );
    let e = parse_err(&text);
    let second_line = conns.lines().count() + 1;
    assert_eq!(e.line, Some(second_line), "{e}");
    assert_eq!(e.key.as_deref(), Some("connections"), "{e}");
    assert!(e.message.contains("duplicate connection name 'gw'"), "{e}");
    assert!(e.message.contains("first given at line 2"), "{e}");
    assert!(
        e.to_string()
            .starts_with(&format!("test.yaml:{second_line}:3: ")),
        "{e}"
    );
}

#[test]
fn duplicate_child_name_is_refused_with_file_and_line() {
    let text = MINIMAL.replace(
        "        remote_ts: [10.2.0.0/16]\n",
        "        remote_ts: [10.2.0.0/16]\n      net:\n        local_ts: [10.3.0.0/16]\n",
    );
    let e = parse_err(&text);
    assert!(e.message.contains("duplicate child name 'net'"), "{e}");
    assert_eq!(e.key.as_deref(), Some("connections.gw.children"), "{e}");
    assert_eq!(e.line, Some(15), "{e}");
    assert!(e.message.contains("first given at line 12"), "{e}");
    // The same child name in two different connections is fine.
    let two = MINIMAL.replace(
        "secrets:",
        "  gw2:\n    local_addrs: [192.0.2.1]\n    remote_addrs: [192.0.2.3]\n    local: {auth: psk, id: moon}\n    remote: {auth: psk, id: sun}\n    children:\n      net:\n        local_ts: [10.1.0.0/16]\n        remote_ts: [10.3.0.0/16]\nsecrets:",
    );
    assert_eq!(parse(&two).unwrap().connections.len(), 2);
}

#[test]
fn non_utf8_config_names_line_column_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("latin1.yaml");
    // "id: m\xf6on" in Latin-1 on line 7, column 12.
    let mut bytes = MINIMAL.as_bytes().to_vec();
    let at = MINIMAL.find("id: moon").unwrap() + 5;
    bytes[at] = 0xf6;
    fs::write(&path, &bytes).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    let e = config::load(&path).unwrap_err();
    assert_eq!((e.line, e.column), (Some(7), Some(12)), "{e}");
    assert!(
        e.message
            .contains(&format!("not valid UTF-8: byte 0xf6 at offset {at}")),
        "{e}"
    );
}

#[test]
fn check_refuses_more_than_255_traffic_selectors_per_child() {
    let many = |n: usize| {
        (0..n)
            .map(|i| format!("10.{}.{}.0/24", 100 + i / 256, i % 256))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let at_limit = MINIMAL.replace(
        "local_ts: [10.1.0.0/16]",
        &format!("local_ts: [{}]", many(255)),
    );
    assert!(
        parse(&at_limit).is_ok(),
        "255 selectors fit in one TS payload"
    );
    let dir = tempfile::tempdir().unwrap();
    for key in ["local_ts", "remote_ts"] {
        let old = if key == "local_ts" {
            "local_ts: [10.1.0.0/16]"
        } else {
            "remote_ts: [10.2.0.0/16]"
        };
        let text = MINIMAL.replace(old, &format!("{key}: [{}]", many(300)));
        let path = dir.path().join(format!("{key}.yaml"));
        fs::write(&path, &text).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_rswand"))
            .args(["--check", "--config", path.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(!o.status.success(), "--check accepted 300 {key}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(&format!(
                "connections.gw.children.net.{key}: 300 traffic selectors: at most 255"
            )),
            "{err}"
        );
    }
}

#[test]
fn key_file_that_is_a_symbolic_link_is_refused() {
    let (dir, path) = cert_dir(&example_text("west.yaml"));
    let key = dir.path().join("private/west.key");
    let real = dir.path().join("private/real.key");
    fs::rename(&key, &real).unwrap();
    std::os::unix::fs::symlink(&real, &key).unwrap();
    let e = config::load(&path).unwrap_err();
    assert_eq!(e.key.as_deref(), Some("secrets.private-west.file"), "{e}");
    assert_eq!(
        e.message,
        format!(
            "private key {} is a symbolic link, which is refused: name the file itself",
            key.display()
        )
    );
    // The file itself, named directly, loads.
    fs::remove_file(&key).unwrap();
    fs::rename(&real, &key).unwrap();
    config::load(&path).unwrap();
}

#[test]
fn key_file_owned_by_another_user_is_refused() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root to give the key file away");
        return;
    }
    let (dir, path) = cert_dir(&example_text("west.yaml"));
    let key = dir.path().join("private/west.key");
    std::os::unix::fs::chown(&key, Some(1000), None).unwrap();
    let e = config::load(&path).unwrap_err();
    assert_eq!(e.key.as_deref(), Some("secrets.private-west.file"), "{e}");
    assert!(
        e.message
            .contains("west.key is owned by uid 1000, not by root or rswand's user (uid 0)"),
        "{e}"
    );
    std::os::unix::fs::chown(&key, Some(0), None).unwrap();
    config::load(&path).unwrap();
}

#[test]
fn admin_group_and_receive_queue_settings() {
    let cfg = parse(MINIMAL).unwrap();
    assert_eq!(
        cfg.settings.admin_group, None,
        "root only unless configured"
    );
    assert_eq!(cfg.settings.receive_queue_bytes, 4 * 1024 * 1024);
    let cfg = parse(&format!(
        "settings:\n  admin_group: 1001\n  receive_queue_bytes: 8m\n{MINIMAL}"
    ))
    .unwrap();
    assert_eq!(cfg.settings.admin_group.as_deref(), Some("1001"));
    assert_eq!(cfg.settings.receive_queue_bytes, 8 * 1024 * 1024);
    let e = parse_err(&format!("settings:\n  receive_queue_bytes: 1k\n{MINIMAL}"));
    assert_eq!(
        e.key.as_deref(),
        Some("settings.receive_queue_bytes"),
        "{e}"
    );
    assert_eq!(e.line, Some(2), "{e}");
    assert!(
        e.message
            .contains("1024 bytes is too small: at least 65535"),
        "{e}"
    );
    let e = parse_err(&format!(
        "settings:\n  admin_group: \"vpn admins\"\n{MINIMAL}"
    ));
    assert_eq!(e.key.as_deref(), Some("settings.admin_group"), "{e}");
}
