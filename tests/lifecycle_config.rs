//! Configuration keys of the tunnel lifecycle: `keyingtries` (per connection) and the policy
//! hash thresholds (`settings.spdh_thresh_v4/v6`), with their defaults and their errors.

use std::path::Path;

use rswan::config::{self, Config, ConfigError};

fn parse(text: &str) -> Result<Config, ConfigError> {
    config::parse_str(text, Path::new("test.yaml"))
}

fn doc(settings: &str, conn_extra: &str) -> String {
    format!(
        "{settings}connections:
  gw:
    local_addrs: [192.0.2.1]
    remote_addrs: [192.0.2.2]
{conn_extra}    local: {{auth: psk, id: moon}}
    remote: {{auth: psk, id: sun}}
    children:
      net:
        local_ts: [10.1.0.0/16]
        remote_ts: [10.2.0.0/16]
        start_action: start
secrets:
  ike-1:
    id: [moon, sun]
    secret: moon and sun
"
    )
}

#[test]
fn keyingtries_defaults_to_one_and_zero_means_forever() {
    let c = parse(&doc("", "")).unwrap();
    assert_eq!(c.connections[0].keyingtries, 1, "swanctl's default");
    let c = parse(&doc("", "    keyingtries: 0\n")).unwrap();
    assert_eq!(c.connections[0].keyingtries, 0);
    let c = parse(&doc("", "    keyingtries: 5\n")).unwrap();
    assert_eq!(c.connections[0].keyingtries, 5);
    let e = parse(&doc("", "    keyingtries: -1\n")).unwrap_err();
    assert!(e.to_string().contains("keyingtries"), "{e}");
}

#[test]
fn hash_thresholds_default_and_accept_one_or_two_prefix_lengths() {
    let c = parse(&doc("", "")).unwrap();
    assert_eq!(c.settings.spdh_thresh_v4, (24, 24));
    assert_eq!(c.settings.spdh_thresh_v6, (64, 64));
    let c = parse(&doc(
        "settings:\n  spdh_thresh_v4: 32\n  spdh_thresh_v6: 48/56\n",
        "",
    ))
    .unwrap();
    assert_eq!(c.settings.spdh_thresh_v4, (32, 32));
    assert_eq!(c.settings.spdh_thresh_v6, (48, 56));
    for bad in ["33", "24/40", "x", "24/"] {
        let e = parse(&doc(
            &format!("settings:\n  spdh_thresh_v4: \"{bad}\"\n"),
            "",
        ))
        .unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("spdh_thresh_v4") && msg.contains("0 to 32"),
            "{bad}: {msg}"
        );
        assert_eq!(e.line, Some(2), "{bad}: {msg}");
    }
}
