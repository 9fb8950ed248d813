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
    assert!(e.message.contains("only ike"), "{e}");
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
