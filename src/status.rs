//! The status snapshot the daemon hands to rswanctl: its JSON form is a stable interface
//! (docs/json.md), and `render_*` turn it into the human tables.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// `rswanctl status --json` and `list-sas --json` (list-sas leaves out connections without SAs).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub daemon: DaemonInfo,
    pub connections: Vec<ConnStatus>,
    /// Responder IKE SAs that answered IKE_SA_INIT but have not authenticated
    /// (`half_open_limit`, `block_threshold`, `cookie_threshold` count these).
    #[serde(default)]
    pub half_open: usize,
    /// Octets of incomplete fragmented IKE messages held (`max_packet`, `fragment_timeout`).
    #[serde(default)]
    pub reassembly_bytes: usize,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DaemonInfo {
    pub version: String,
    pub pid: u32,
    pub config: String,
    pub uptime_secs: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ConnStatus {
    pub name: String,
    pub local_addrs: Vec<String>,
    pub remote_addrs: Vec<String>,
    /// Configured Child SAs (children of the connection).
    pub children_total: usize,
    /// Children with an installed Child SA.
    pub children_up: usize,
    pub ike_sas: Vec<IkeSaStatus>,
    /// One entry per configured child, whether or not it has an SA.
    pub children: Vec<ChildStatus>,
    /// The most recent failed negotiation of this connection, as one line.
    #[serde(default)]
    pub last_failure: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct IkeSaStatus {
    /// connecting | established | rekeying | deleting
    pub state: String,
    pub initiator: bool,
    pub local: String,
    pub remote: String,
    pub local_id: String,
    pub remote_id: String,
    /// 16 hex digits each.
    pub spi_i: String,
    pub spi_r: String,
    /// Negotiated algorithms, e.g. {"encr":"AES_GCM_16_256","prf":"PRF_HMAC_SHA2_256","dh":"CURVE_25519"}.
    pub algorithms: Algorithms,
    /// alive | dead | unknown (no DPD yet)
    pub peer: String,
    pub established_secs: Option<u64>,
    /// IKE fragmentation (RFC 7383) negotiated: both sides announced it.
    #[serde(default)]
    pub fragmentation: bool,
    /// Subject of the peer's certificate, verified against the connection's cacerts (pubkey
    /// authentication only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_cert: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Algorithms {
    pub encr: Option<String>,
    pub integ: Option<String>,
    pub prf: Option<String>,
    pub dh: Option<String>,
    pub esn: Option<bool>,
}

impl Algorithms {
    fn summary(&self) -> String {
        [&self.encr, &self.integ, &self.prf, &self.dh]
            .into_iter()
            .flatten()
            .cloned()
            .collect::<Vec<_>>()
            .join("/")
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChildStatus {
    pub name: String,
    /// none | installing | installed | rekeying | deleting
    pub state: String,
    pub mode: String,
    pub spi_in: Option<String>,
    pub spi_out: Option<String>,
    pub reqid: Option<u32>,
    pub local_ts: Vec<String>,
    pub remote_ts: Vec<String>,
    pub algorithms: Algorithms,
    /// Read from the kernel SAs; `None` when no SA is installed or the read failed.
    pub counters: Option<Counters>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Inbound SA: decrypted.
    pub dec_bytes: u64,
    pub dec_packets: u64,
    /// Outbound SA: encrypted.
    pub enc_bytes: u64,
    pub enc_packets: u64,
}

/// `rswanctl list-conns --json`: the loaded configuration, without secrets.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ConnList {
    pub connections: Vec<serde_json::Value>,
}

pub fn render_status(s: &Status) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "rswand {} (pid {}), config {}, up {}",
        s.daemon.version,
        s.daemon.pid,
        s.daemon.config,
        human_secs(s.daemon.uptime_secs)
    );
    if s.half_open > 0 || s.reassembly_bytes > 0 {
        let _ = writeln!(
            out,
            "unauthenticated: {} half-open IKE SAs, {} octets of fragments held",
            s.half_open, s.reassembly_bytes
        );
    }
    if s.connections.is_empty() {
        out.push_str("no connections loaded\n");
    }
    for c in &s.connections {
        let _ = writeln!(
            out,
            "{}: {} -> {}, children {}/{} up",
            c.name,
            c.local_addrs.join(","),
            c.remote_addrs.join(","),
            c.children_up,
            c.children_total
        );
        for ike in &c.ike_sas {
            render_ike(&mut out, ike);
        }
        for ch in &c.children {
            render_child(&mut out, ch);
        }
        if let Some(f) = &c.last_failure {
            let _ = writeln!(out, "  last failure: {f}");
        }
    }
    out
}

/// Only what is negotiated: IKE SAs and their Child SAs with state other than none.
pub fn render_sas(s: &Status) -> String {
    let mut out = String::new();
    let mut any = false;
    for c in &s.connections {
        if c.ike_sas.is_empty() {
            continue;
        }
        any = true;
        let _ = writeln!(out, "{}:", c.name);
        for ike in &c.ike_sas {
            render_ike(&mut out, ike);
        }
        for ch in c.children.iter().filter(|ch| ch.state != "none") {
            render_child(&mut out, ch);
        }
    }
    if !any {
        out.push_str("no SAs\n");
    }
    out
}

fn render_ike(out: &mut String, ike: &IkeSaStatus) {
    let _ = writeln!(
        out,
        "  IKE {} {} {}[{}] ... {}[{}] spis {}_i {}_r{}",
        ike.state.to_ascii_uppercase(),
        if ike.initiator {
            "initiator"
        } else {
            "responder"
        },
        ike.local,
        ike.local_id,
        ike.remote,
        ike.remote_id,
        ike.spi_i,
        ike.spi_r,
        ike.established_secs
            .map(|s| format!(", established {} ago", human_secs(s)))
            .unwrap_or_default()
    );
    let _ = writeln!(
        out,
        "    {} peer {}{}",
        ike.algorithms.summary(),
        ike.peer,
        if ike.fragmentation {
            ", IKE fragmentation on"
        } else {
            ""
        }
    );
    if let Some(subject) = &ike.remote_cert {
        let _ = writeln!(out, "    peer certificate \"{subject}\" (verified)");
    }
}

fn render_child(out: &mut String, ch: &ChildStatus) {
    let spis = match (&ch.spi_in, &ch.spi_out) {
        (Some(i), Some(o)) => format!(" spis {i}_i {o}_o"),
        _ => String::new(),
    };
    let _ = writeln!(
        out,
        "  child {} {} {}{}{}",
        ch.name,
        ch.state.to_ascii_uppercase(),
        ch.mode.to_ascii_uppercase(),
        spis,
        ch.reqid.map(|r| format!(" reqid {r}")).unwrap_or_default()
    );
    if ch.state != "none" {
        let algs = ch.algorithms.summary();
        if !algs.is_empty() {
            let _ = writeln!(out, "    {algs}");
        }
        if let Some(c) = ch.counters {
            let _ = writeln!(
                out,
                "    in  {} bytes, {} packets (decrypted)\n    out {} bytes, {} packets (encrypted)",
                c.dec_bytes, c.dec_packets, c.enc_bytes, c.enc_packets
            );
        }
    }
    let _ = writeln!(
        out,
        "    {} === {}",
        ch.local_ts.join(","),
        ch.remote_ts.join(",")
    );
}

fn human_secs(s: u64) -> String {
    match s {
        0..=119 => format!("{s}s"),
        120..=7199 => format!("{}m", s / 60),
        7200..=172_799 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}

/// Human form of `list-conns` (its JSON is the connection configuration, see docs/json.md).
pub fn render_conns(v: &serde_json::Value) -> String {
    let mut out = String::new();
    let empty = Vec::new();
    let conns = v["connections"].as_array().unwrap_or(&empty);
    if conns.is_empty() {
        out.push_str("no connections loaded\n");
    }
    let list = |x: &serde_json::Value| -> String {
        x.as_array()
            .map(|a| a.iter().map(value_text).collect::<Vec<_>>().join(","))
            .unwrap_or_default()
    };
    for c in conns {
        let _ = writeln!(
            out,
            "{}: IKEv2, {} -> {}, proposals {}",
            value_text(&c["name"]),
            list(&c["local_addrs"]),
            list(&c["remote_addrs"]),
            list(&c["proposals"])
        );
        for side in ["local", "remote"] {
            let _ = writeln!(
                out,
                "  {side} {} auth, id {}",
                value_text(&c[side]["auth"]),
                value_text(&c[side]["id"])
            );
        }
        for ch in c["children"].as_array().unwrap_or(&empty) {
            let _ = writeln!(
                out,
                "  child {}: {}, esp {}, start_action {}\n    {} === {}",
                value_text(&ch["name"]),
                value_text(&ch["mode"]).to_ascii_uppercase(),
                list(&ch["esp_proposals"]),
                value_text(&ch["start_action"]),
                list(&ch["local_ts"]),
                list(&ch["remote_ts"])
            );
        }
    }
    out
}

/// Text of a JSON value as listings show it: strings bare, tagged objects by their `value`/`text`.
fn value_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Object(m) => m
            .get("text")
            .or_else(|| m.get("value"))
            .map(value_text)
            .unwrap_or_else(|| v.to_string()),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Status {
        Status {
            daemon: DaemonInfo {
                version: "0.1.0".into(),
                pid: 42,
                config: "/etc/rswan/rswan.yaml".into(),
                uptime_secs: 5,
            },
            connections: vec![ConnStatus {
                name: "west-east".into(),
                local_addrs: vec!["192.0.2.1".into()],
                remote_addrs: vec!["192.0.2.2".into()],
                children_total: 1,
                children_up: 1,
                ike_sas: vec![IkeSaStatus {
                    state: "established".into(),
                    initiator: true,
                    local: "192.0.2.1:500".into(),
                    remote: "192.0.2.2:500".into(),
                    local_id: "west".into(),
                    remote_id: "east".into(),
                    spi_i: "0102030405060708".into(),
                    spi_r: "1112131415161718".into(),
                    algorithms: Algorithms {
                        encr: Some("AES_GCM_16_256".into()),
                        prf: Some("PRF_HMAC_SHA2_256".into()),
                        dh: Some("CURVE_25519".into()),
                        ..Default::default()
                    },
                    peer: "alive".into(),
                    established_secs: Some(3),
                    fragmentation: true,
                    remote_cert: Some("C=CH, O=rswan test, CN=east".into()),
                }],
                children: vec![ChildStatus {
                    name: "net".into(),
                    state: "installed".into(),
                    mode: "tunnel".into(),
                    spi_in: Some("c1000001".into()),
                    spi_out: Some("c2000002".into()),
                    reqid: Some(1),
                    local_ts: vec!["10.1.0.0/24".into()],
                    remote_ts: vec!["10.2.0.0/24".into()],
                    algorithms: Algorithms {
                        encr: Some("AES_GCM_16_256".into()),
                        ..Default::default()
                    },
                    counters: Some(Counters {
                        dec_bytes: 84,
                        dec_packets: 1,
                        enc_bytes: 168,
                        enc_packets: 2,
                    }),
                }],
                last_failure: None,
            }],
            half_open: 0,
            reassembly_bytes: 0,
        }
    }

    #[test]
    fn unauthenticated_state_is_shown_only_when_there_is_some() {
        let mut s = sample();
        assert!(!render_status(&s).contains("unauthenticated"));
        s.half_open = 17;
        s.reassembly_bytes = 4096;
        assert!(render_status(&s)
            .contains("unauthenticated: 17 half-open IKE SAs, 4096 octets of fragments held"));
        // Older daemons' JSON has no such fields: they read as zero.
        let v: Status = serde_json::from_str(
            &serde_json::to_string(&sample())
                .unwrap()
                .replace(",\"half_open\":0", ""),
        )
        .unwrap();
        assert_eq!(v.half_open, 0);
    }

    #[test]
    fn status_table_shows_state_spis_and_counters() {
        let t = render_status(&sample());
        assert!(
            t.contains("west-east: 192.0.2.1 -> 192.0.2.2, children 1/1 up"),
            "{t}"
        );
        assert!(t.contains("IKE ESTABLISHED initiator 192.0.2.1:500[west] ... 192.0.2.2:500[east] spis 0102030405060708_i 1112131415161718_r"), "{t}");
        assert!(
            t.contains(
                "AES_GCM_16_256/PRF_HMAC_SHA2_256/CURVE_25519 peer alive, IKE fragmentation on"
            ),
            "{t}"
        );
        assert!(
            t.contains("peer certificate \"C=CH, O=rswan test, CN=east\" (verified)"),
            "{t}"
        );
        assert!(
            t.contains("child net INSTALLED TUNNEL spis c1000001_i c2000002_o reqid 1"),
            "{t}"
        );
        assert!(t.contains("in  84 bytes, 1 packets (decrypted)"), "{t}");
        assert!(t.contains("10.1.0.0/24 === 10.2.0.0/24"), "{t}");
    }

    #[test]
    fn json_shape_is_stable() {
        let v = serde_json::to_value(sample()).unwrap();
        let c = &v["connections"][0];
        assert_eq!(c["ike_sas"][0]["state"], "established");
        assert_eq!(c["children"][0]["counters"]["enc_packets"], 2);
        assert_eq!(c["children"][0]["spi_in"], "c1000001");
        let back: Status = serde_json::from_value(v).unwrap();
        assert_eq!(back, sample());
    }

    #[test]
    fn list_sas_skips_idle_connections() {
        let mut s = sample();
        s.connections[0].ike_sas.clear();
        assert_eq!(render_sas(&s), "no SAs\n");
    }
}
