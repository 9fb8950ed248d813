//! Builds the protocol core's configuration from the daemon's validated one. The loader has
//! already checked syntax and values and read the certificates; what can still fail here is
//! loading the private key again (the file may have changed since), reported with the key that
//! asks for it.

use std::sync::Arc;

use rswan_ikev2::auth::{Credentials, SendCert as CoreSendCert, TrustAnchors};
use rswan_ikev2::config as core;
use rswan_ikev2::timer::{ConnTimers, DpdMode as CoreDpdMode, RetransmitPolicy};
use rswan_ikev2::wire::{Identity as WireId, TrafficSelector};
use rustls_pki_types::CertificateDer;

use crate::config::values::{self, AddrSpec, Identity, TsSpec};
use crate::config::{Action, AuthMethod, Config, Connection, DpdMode, Mode, SendCert};

pub fn to_core(cfg: &Config) -> Result<core::Config, String> {
    let s = &cfg.settings;
    let settings = core::Settings {
        retransmit: RetransmitPolicy {
            timeout: s.retransmit_timeout,
            base: s.retransmit_base,
            tries: s.retransmit_tries,
            ..RetransmitPolicy::default()
        },
        cookie_threshold: s.cookie_threshold as usize,
        limits: core::Limits {
            half_open: s.half_open_limit as usize,
            half_open_per_ip: s.block_threshold as usize,
            max_packet: s.max_packet as usize,
            fragment_timeout: s.fragment_timeout,
            ts_per_payload: s.max_ts as usize,
            policies_per_child: s.max_policies as usize,
            child_sas_per_ike: s.max_child_sas as usize,
        },
        half_open_timeout: s.half_open_timeout,
        fragment_size: s.fragment_size as usize,
        signature_authentication: s.signature_authentication,
        rsa_pss: s.rsa_pss,
        conn_timers: cfg
            .connections
            .iter()
            .map(|c| (c.name.clone(), conn_timers(c)))
            .collect(),
        ..core::Settings::default()
    };
    let connections = cfg
        .connections
        .iter()
        .map(conn)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(core::Config {
        settings,
        connections,
    })
}

fn wire_id(id: &Identity, key: &str) -> Result<Option<WireId>, String> {
    Ok(Some(match id {
        Identity::Any => return Ok(None),
        Identity::Ipv4(a) => WireId::Ipv4(*a),
        Identity::Ipv6(a) => WireId::Ipv6(*a),
        Identity::Fqdn(s) => WireId::Fqdn(s.clone()),
        Identity::Email(s) => WireId::Rfc822(s.clone()),
        Identity::KeyId(k) => WireId::KeyId(k.clone()),
        Identity::Dn(s) => WireId::DerAsn1Dn(values::dn_der(s).map_err(|e| format!("{key}: {e}"))?),
    }))
}

fn send_cert(s: SendCert) -> CoreSendCert {
    match s {
        SendCert::IfAsked => CoreSendCert::IfAsked,
        SendCert::Always => CoreSendCert::Always,
        SendCert::Never => CoreSendCert::Never,
    }
}

/// Our round: for pubkey, the chain the loader read and the key it paired with it.
fn local_auth(c: &Connection) -> Result<core::AuthKind, String> {
    if c.local.auth == AuthMethod::Psk {
        return Ok(core::AuthKind::Psk);
    }
    let key_name = format!("connections.{}.local.certs", c.name);
    let file = c
        .local
        .private_key_file
        .as_ref()
        .ok_or_else(|| format!("{key_name}: no private key paired with the certificate"))?;
    let key = crate::config::load_key(file).map_err(|e| format!("{key_name}: {e}"))?;
    let chain = c
        .local
        .cert_ders
        .iter()
        .map(|d| CertificateDer::from(d.clone()))
        .collect();
    let credentials =
        Credentials::new(chain, key).map_err(|e| format!("{key_name}: {}: {e}", file.display()))?;
    Ok(core::AuthKind::Pubkey(Arc::new(core::PubkeyConfig {
        credentials: Some(credentials),
        cacerts: TrustAnchors::default(),
        send_cert: send_cert(c.send_cert),
        send_certreq: c.send_certreq,
    })))
}

/// The peer's round: for pubkey, the CAs its certificate must chain to.
fn remote_auth(c: &Connection) -> Result<core::AuthKind, String> {
    if c.remote.auth == AuthMethod::Psk {
        return Ok(core::AuthKind::Psk);
    }
    let cacerts = TrustAnchors::from_der(c.remote.cacert_ders.clone())
        .map_err(|e| format!("connections.{}.remote.cacerts: {e}", c.name))?;
    Ok(core::AuthKind::Pubkey(Arc::new(core::PubkeyConfig {
        credentials: None,
        cacerts,
        send_cert: send_cert(c.send_cert),
        send_certreq: c.send_certreq,
    })))
}

fn addr(a: &AddrSpec) -> core::AddrSpec {
    match a {
        AddrSpec::Any => core::AddrSpec::Any,
        AddrSpec::Addr { addr } => core::AddrSpec::Addr(*addr),
        AddrSpec::Subnet { addr, prefix } => core::AddrSpec::Subnet(*addr, *prefix),
    }
}

fn ts(t: &TsSpec, key: &str) -> Result<core::TsConfig, String> {
    match t {
        TsSpec::Dynamic => Ok(core::TsConfig::Dynamic),
        TsSpec::Fixed(f) => {
            TrafficSelector::new(f.protocol, (f.port_start, f.port_end), f.start, f.end)
                .map(core::TsConfig::Range)
                .map_err(|e| format!("{key}: {e}"))
        }
    }
}

fn action(a: Action) -> core::Action {
    match a {
        Action::None => core::Action::None,
        Action::Start => core::Action::Start,
        Action::Trap => core::Action::Trap,
    }
}

/// The lifecycle knobs the core keeps beside ConnConfig. The loader has applied swanctl's
/// defaults, so the values are passed explicitly; the one exception is the child rand_time,
/// which the core derives per child (life_time - rekey_time) unless one value is given for all.
fn conn_timers(c: &Connection) -> ConnTimers {
    let child_rand_time = c
        .children
        .iter()
        .any(|ch| ch.rand_time != ch.life_time.saturating_sub(ch.rekey_time))
        .then(|| c.children.first().map(|ch| ch.rand_time))
        .flatten();
    ConnTimers {
        dpd_mode: match c.dpd_mode {
            DpdMode::OnDemand => CoreDpdMode::OnDemand,
            DpdMode::OnIdle => CoreDpdMode::OnIdle,
            DpdMode::Disabled => CoreDpdMode::Disabled,
        },
        ike_rand_time: Some(c.rand_time),
        ike_over_time: Some(c.over_time),
        child_rand_time,
        reauth_time: (!c.reauth_time.is_zero()).then_some(c.reauth_time),
    }
}

fn conn(c: &Connection) -> Result<core::ConnConfig, String> {
    let k = |s: &str| format!("connections.{}.{s}", c.name);
    let mut children = Vec::new();
    for ch in &c.children {
        let ck = |s: &str| format!("connections.{}.children.{}.{s}", c.name, ch.name);
        children.push(core::ChildConfig {
            name: ch.name.clone(),
            local_ts: ch
                .local_ts
                .iter()
                .map(|t| ts(t, &ck("local_ts")))
                .collect::<Result<_, _>>()?,
            remote_ts: ch
                .remote_ts
                .iter()
                .map(|t| ts(t, &ck("remote_ts")))
                .collect::<Result<_, _>>()?,
            esp_proposals: ch.esp_proposal_set.clone(),
            mode: match ch.mode {
                Mode::Tunnel => core::Mode::Tunnel,
                Mode::Transport => core::Mode::Transport,
            },
            start_action: action(ch.start_action),
            dpd_action: action(ch.dpd_action),
            close_action: action(ch.close_action),
            rekey_time: ch.rekey_time,
            life_time: ch.life_time,
            rekey_bytes: ch.rekey_bytes,
            life_bytes: ch.life_bytes,
        });
    }
    Ok(core::ConnConfig {
        name: c.name.clone(),
        local_addrs: c.local_addrs.iter().map(addr).collect(),
        remote_addrs: c.remote_addrs.iter().map(addr).collect(),
        local_port: c.local_port,
        remote_port: c.remote_port,
        ike_proposals: c.ike_proposal_set.clone(),
        local: core::AuthConfig {
            auth: local_auth(c)?,
            // Unset with a certificate: the core sends the subject's exact DER.
            id: if c.local.id_from_cert {
                None
            } else {
                wire_id(&c.local.id, &k("local.id"))?
            },
        },
        remote: core::AuthConfig {
            auth: remote_auth(c)?,
            id: wire_id(&c.remote.id, &k("remote.id"))?,
        },
        psk: c.psk.as_ref().map(|s| core::Psk::new(s.expose().to_vec())),
        encap: c.encap,
        dpd_delay: c.dpd_delay,
        rekey_time: c.rekey_time,
        children,
    })
}
