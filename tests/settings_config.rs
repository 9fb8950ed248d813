//! Settings from strongswan.conf checked down to the protocol core's configuration: IKE message
//! settings (`fragment_size`, RFC 7427's `signature_authentication` and `rsa_pss`), the log
//! summaries and the resource limits.

use std::path::Path;
use std::time::Duration;

use rswan::config::{self, Config, ConfigError};
use rswan::driver::core_config::to_core;

fn parse(settings: &str) -> Result<Config, ConfigError> {
    let text = format!(
        "{settings}connections:
  gw:
    local_addrs: [192.0.2.1]
    remote_addrs: [192.0.2.2]
    local: {{auth: psk, id: moon}}
    remote: {{auth: psk, id: sun}}
    children:
      net: {{local_ts: [10.1.0.0/16], remote_ts: [10.2.0.0/16]}}
secrets:
  ike-1:
    id: [moon, sun]
    secret: moon and sun
"
    );
    config::parse_str(&text, Path::new("test.yaml"))
}

#[test]
fn defaults_are_strongswans() {
    let core = to_core(&parse("").unwrap()).unwrap();
    assert_eq!(core.settings.fragment_size, 1280);
    assert!(core.settings.signature_authentication);
    assert!(!core.settings.rsa_pss);
}

#[test]
fn fragment_size_and_signature_authentication_reach_the_core() {
    let c =
        parse("settings:\n  fragment_size: 576\n  signature_authentication: no\n  rsa_pss: yes\n")
            .unwrap();
    let core = to_core(&c).unwrap();
    assert_eq!(core.settings.fragment_size, 576);
    assert!(!core.settings.signature_authentication);
    assert!(core.settings.rsa_pss);
    let core = to_core(&parse("settings:\n  fragment_size: 0\n").unwrap()).unwrap();
    assert_eq!(core.settings.fragment_size, 0, "0 = never fragment");
}

#[test]
fn unusable_values_are_located_errors() {
    let e = parse("settings:\n  fragment_size: 200\n").unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("settings.fragment_size") && msg.contains("576-65535"),
        "{msg}"
    );
    assert_eq!(e.line, Some(2), "{msg}");
    let e = parse("settings:\n  signature_authentication: maybe\n").unwrap_err();
    assert!(
        e.to_string().contains("settings.signature_authentication"),
        "{e}"
    );
}

#[test]
fn log_drop_summaries_default_and_limits() {
    let c = parse("").unwrap();
    assert_eq!(
        c.settings.log_drop_interval,
        std::time::Duration::from_secs(10)
    );
    assert_eq!(c.settings.log_drop_burst, 5);
    let c = parse("settings:\n  log_drop_interval: 1m\n  log_drop_burst: 0\n").unwrap();
    assert_eq!(
        c.settings.log_drop_interval,
        std::time::Duration::from_secs(60)
    );
    assert_eq!(c.settings.log_drop_burst, 0, "0 = summaries only");
    let e = parse("settings:\n  log_drop_interval: 0s\n").unwrap_err();
    assert!(e.to_string().contains("settings.log_drop_interval"), "{e}");
    let e = parse("settings:\n  log_drop_burst: 5000\n").unwrap_err();
    assert!(e.to_string().contains("settings.log_drop_burst"), "{e}");
}

// The resource limits (docs/operations.md, "Running on the internet"): defaults, each reaching
// the protocol core, nonsense values as located errors.

#[test]
fn defaults_bound_every_per_peer_resource() {
    let l = to_core(&parse("").unwrap()).unwrap().settings.limits;
    assert_eq!(l.half_open, 1000);
    assert_eq!(l.half_open_per_ip, 20);
    assert_eq!(l.max_packet, 10_000);
    assert_eq!(l.fragment_timeout, Duration::from_secs(10));
    assert_eq!(l.ts_per_payload, 64);
    assert_eq!(l.policies_per_child, 1024);
    assert_eq!(l.child_sas_per_ike, 64);
}

#[test]
fn each_limit_reaches_the_core() {
    let c = parse(
        "settings:
  half_open_limit: 5000
  block_threshold: 3
  max_packet: 20000
  fragment_timeout: 3s
  max_ts: 255
  max_policies: 4096
  max_child_sas: 2
",
    )
    .unwrap();
    let l = to_core(&c).unwrap().settings.limits;
    assert_eq!(
        (l.half_open, l.half_open_per_ip, l.max_packet),
        (5000, 3, 20000)
    );
    assert_eq!(l.fragment_timeout, Duration::from_secs(3));
    assert_eq!(
        (l.ts_per_payload, l.policies_per_child, l.child_sas_per_ike),
        (255, 4096, 2)
    );
}

#[test]
fn nonsense_limits_are_located_errors() {
    for (yaml, key, line) in [
        ("settings:\n  max_ts: 300\n", "settings.max_ts", 2),
        ("settings:\n  max_ts: 0\n", "settings.max_ts", 2),
        (
            "settings:\n  half_open_limit: 0\n",
            "settings.half_open_limit",
            2,
        ),
        (
            "settings:\n  block_threshold: 0\n",
            "settings.block_threshold",
            2,
        ),
        (
            "settings:\n  cookie_threshold: 5\n  max_packet: 500\n",
            "settings.max_packet",
            3,
        ),
        (
            "settings:\n  max_child_sas: 0\n",
            "settings.max_child_sas",
            2,
        ),
        (
            "settings:\n  fragment_timeout: soon\n",
            "settings.fragment_timeout",
            2,
        ),
    ] {
        let e = parse(yaml).unwrap_err();
        assert!(e.to_string().contains(key), "{yaml}: {e}");
        assert_eq!(e.line, Some(line), "{yaml}: {e}");
    }
}
