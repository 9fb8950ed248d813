//! The resource limits of `settings` (docs/operations.md, "Running on the internet"): their
//! defaults, that each reaches the protocol core, and that nonsense values are located errors.

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
