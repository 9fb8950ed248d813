//! A responder that has never seen the sender handles one arbitrary datagram, then its timers run
//! out: nothing may panic, whatever the bytes. Two responders are fed the same bytes, one demanding
//! cookies (the stateless path) and one not (the path that creates a half-open IKE SA).

#![no_main]

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use rswan_ikev2::config::{
    Action, AddrSpec, AuthConfig, AuthKind, ChildConfig, Config, ConnConfig, Mode, Psk, Settings,
    TsConfig,
};
use rswan_ikev2::endpoint::Endpoint;
use rswan_ikev2::output::{KernelEvent, Output};
use rswan_ikev2::proposal::ProposalSet;
use rswan_ikev2::rng::TestRng;
use rswan_ikev2::wire::Identity;

fn responder(cookie_threshold: usize) -> Endpoint<TestRng> {
    let peer: IpAddr = "192.0.2.1".parse().unwrap();
    let child = ChildConfig {
        name: "net".into(),
        local_ts: vec![TsConfig::Dynamic],
        remote_ts: vec![TsConfig::Dynamic],
        esp_proposals: ProposalSet::parse_esp("aes256gcm16,aes128-sha256,chacha20poly1305")
            .unwrap(),
        mode: Mode::Tunnel,
        start_action: Action::None,
        dpd_action: Action::None,
        close_action: Action::None,
        rekey_time: Duration::from_secs(3600),
        life_time: Duration::from_secs(3960),
        rekey_bytes: 0,
        life_bytes: 0,
    };
    let conn = ConnConfig {
        name: "fuzz".into(),
        local_addrs: vec![],
        remote_addrs: vec![AddrSpec::Addr(peer)],
        local_port: 500,
        remote_port: 500,
        // Several groups so that INVALID_KE_PAYLOAD and every KE parser are reachable.
        ike_proposals: ProposalSet::parse_ike(
            "aes256gcm16-prfsha256-x25519-ecp256-ecp384-modp2048,aes128-sha256-prfsha256-ecp521",
        )
        .unwrap(),
        local: AuthConfig {
            auth: AuthKind::Psk,
            id: Some(Identity::Fqdn("responder.example".into())),
        },
        remote: AuthConfig {
            auth: AuthKind::Psk,
            id: None,
        },
        psk: Some(Psk::new(b"fuzz-secret".to_vec())),
        encap: false,
        dpd_delay: Duration::ZERO,
        rekey_time: Duration::from_secs(14_400),
        children: vec![child],
    };
    let settings = Settings {
        cookie_threshold,
        ..Settings::default()
    };
    Endpoint::new(
        Config {
            settings,
            connections: vec![conn],
        },
        TestRng::new(1),
    )
}

fn drain(ep: &mut Endpoint<TestRng>, now: Instant) {
    // Bounded: a core that never stops producing output is a bug the fuzzer should report.
    for _ in 0..10_000 {
        match ep.poll_output() {
            None => return,
            Some(Output::Kernel { token, .. }) => ep.handle_kernel(
                now,
                KernelEvent::OpResult {
                    token,
                    result: Ok(()),
                },
            ),
            Some(_) => {}
        }
    }
    panic!("endpoint produced unbounded output");
}

fuzz_target!(|data: &[u8]| {
    let local: SocketAddr = "192.0.2.2:500".parse().unwrap();
    let remote: SocketAddr = "192.0.2.1:500".parse().unwrap();
    let t0 = Instant::now();
    for threshold in [0, 30] {
        let mut ep = responder(threshold);
        ep.handle_datagram(t0, local, remote, data);
        drain(&mut ep, t0);
        // The same bytes again (a retransmission) must be handled as well.
        ep.handle_datagram(t0 + Duration::from_millis(1), local, remote, data);
        drain(&mut ep, t0);
        // Let every timer the datagram armed expire.
        let mut now = t0;
        for _ in 0..16 {
            match ep.poll_timeout() {
                Some(t) if t <= t0 + Duration::from_secs(600) => {
                    now = now.max(t);
                    ep.handle_timeout(now);
                    drain(&mut ep, now);
                }
                _ => break,
            }
        }
        let _ = ep.status();
    }
});
