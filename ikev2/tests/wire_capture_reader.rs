//! The capture reader itself: every case loads, and its frames agree with the JSON description.

mod common;

use common::capture::{load_case, CASES};

#[test]
fn every_case_loads_with_readme_message_counts() {
    // IKE messages per case, from the table in tests/data/strongswan-5.9.8/README.md.
    let expected_ike = [8, 22, 8, 10, 2, 4, 4];
    let expected_esp = [4, 16, 4, 4, 0, 0, 4];
    for ((name, ike), esp) in CASES.iter().zip(expected_ike).zip(expected_esp) {
        let case = load_case(name);
        assert_eq!(case.ike.len(), ike, "{name}: IKE messages");
        assert_eq!(case.esp.len(), esp, "{name}: ESP packets");
    }
}

#[test]
fn frames_match_json_description() {
    for name in CASES {
        let case = load_case(name);
        let msgs = case.json["messages"].as_array().unwrap();
        assert_eq!(msgs.len(), case.ike.len(), "{name}");
        for (m, c) in msgs.iter().zip(&case.ike) {
            assert_eq!(m["frame"].as_u64().unwrap() as usize, c.frame, "{name}");
            assert_eq!(
                m["src"].as_str().unwrap(),
                c.src.to_string(),
                "{name} frame {}",
                c.frame
            );
            assert_eq!(
                m["dst"].as_str().unwrap(),
                c.dst.to_string(),
                "{name} frame {}",
                c.frame
            );
            let marker = m["non_esp_marker"].as_bool().unwrap();
            assert_eq!(marker, c.src.port() == 4500, "{name} frame {}", c.frame);
            assert_eq!(
                m["length"].as_u64().unwrap() as usize,
                c.bytes.len(),
                "{name} frame {}",
                c.frame
            );
            let spi_i: String = c.bytes[..8].iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(
                m["spi_i"].as_str().unwrap(),
                spi_i,
                "{name} frame {}",
                c.frame
            );
        }
        let esps = case.json["esp_packets"].as_array().unwrap();
        assert_eq!(esps.len(), case.esp.len(), "{name}");
        for (e, c) in esps.iter().zip(&case.esp) {
            assert_eq!(e["frame"].as_u64().unwrap() as usize, c.frame, "{name}");
            assert_eq!(
                e["udp_encapsulated"].as_bool().unwrap(),
                c.udp_encap,
                "{name}"
            );
            let spi: String = c.bytes[..4].iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(e["spi"].as_str().unwrap(), spi, "{name} frame {}", c.frame);
            let seq = u32::from_be_bytes(c.bytes[4..8].try_into().unwrap());
            assert_eq!(
                e["seq"].as_u64().unwrap(),
                u64::from(seq),
                "{name} frame {}",
                c.frame
            );
        }
    }
}
