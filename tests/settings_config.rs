//! IKE message settings from strongswan.conf: `fragment_size` (RFC 7383) and
//! `signature_authentication` and `rsa_pss` (RFC 7427), checked down to the protocol core's configuration.

use std::path::Path;

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
