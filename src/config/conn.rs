//! One `connections:` entry checked and turned into a [`Connection`], in the order its keys are
//! validated (the first error wins, so the order is part of the behaviour).

use std::path::Path;
use std::time::Duration;

use rswan_ikev2::consts::ProtocolId;

use super::model::{AuthMethod, Connection, DpdMode};
use super::schema::ConnDoc;
use super::values::{self, AddrSpec, Secret};
use super::{auth, child, parse_list, parse_opt, proposals, ConfigError, Secrets};

type ErrFn<'a> = &'a dyn Fn(&[&str], String) -> ConfigError;

pub(super) fn build_conn(
    name: &str,
    mut c: ConnDoc,
    secrets: &Secrets,
    dir: &Path,
    err: ErrFn<'_>,
) -> Result<Connection, ConfigError> {
    let k = |key: &'static str| -> [&str; 3] { ["connections", name, key] };
    let version = check_version(c.version, &k("version"), err)?;
    let (local_addrs, remote_addrs) = addresses(name, &mut c, err)?;
    let proposals = c
        .proposals
        .take()
        .unwrap_or_else(|| vec!["default".to_owned()]);
    if proposals.is_empty() {
        return Err(err(
            &k("proposals"),
            "empty list: give at least one proposal, or default".into(),
        ));
    }
    let ike_proposal_set =
        proposals::parse_list(ProtocolId::IKE, &proposals).map_err(|e| err(&k("proposals"), e))?;
    let t = ike_timers(name, &mut c, err)?;
    let encap = parse_opt(c.encap, &k("encap"), values::parse_bool, err)?.unwrap_or(false);
    let dpd_mode = c.dpd_mode.unwrap_or(DpdMode::OnDemand);

    let send_cert = c.send_cert.unwrap_or_default();
    let send_certreq =
        parse_opt(c.send_certreq, &k("send_certreq"), values::parse_bool, err)?.unwrap_or(true);
    let local = auth::build_local(
        name,
        c.local.unwrap_or_default(),
        &local_addrs,
        secrets,
        dir,
        err,
    )?;
    let remote = auth::build_remote(name, c.remote.unwrap_or_default(), dir, err)?;
    let (psk, psk_source) = pick_psk(name, &local, &remote, secrets, err)?;
    let children = child::build_children(name, c.children, &remote_addrs, err)?;

    Ok(Connection {
        name: name.to_owned(),
        version,
        local_addrs,
        remote_addrs,
        local_port: c.local_port.unwrap_or(500),
        remote_port: c.remote_port.unwrap_or(500),
        proposals,
        ike_proposal_set,
        dpd_delay: t.dpd_delay,
        dpd_timeout: t.dpd_timeout,
        dpd_mode,
        encap,
        rekey_time: t.rekey_time,
        over_time: t.over_time,
        rand_time: t.rand_time,
        reauth_time: t.reauth_time,
        keyingtries: c.keyingtries.unwrap_or(1),
        send_cert,
        send_certreq,
        local,
        remote,
        psk,
        psk_source,
        children,
    })
}

/// IKEv2 only; 0 is the default as in swanctl.
fn check_version(v: Option<u8>, key: &[&str], err: ErrFn<'_>) -> Result<u8, ConfigError> {
    match v.unwrap_or(2) {
        v @ (0 | 2) => Ok(v),
        1 => Err(err(
            key,
            "IKEv1 is not supported: expected 2 (or 0 for the default)".into(),
        )),
        v => Err(err(
            key,
            format!("{v} is not an IKE version: expected 2 (or 0)"),
        )),
    }
}

/// `local_addrs` and `remote_addrs`, `%any` when unset; an empty list is an error.
fn addresses(
    name: &str,
    c: &mut ConnDoc,
    err: ErrFn<'_>,
) -> Result<(Vec<AddrSpec>, Vec<AddrSpec>), ConfigError> {
    let k = |key: &'static str| -> [&str; 3] { ["connections", name, key] };
    let local = parse_list(
        c.local_addrs.take(),
        &k("local_addrs"),
        values::parse_addr,
        err,
    )?
    .unwrap_or_else(|| vec![AddrSpec::Any]);
    let remote = parse_list(
        c.remote_addrs.take(),
        &k("remote_addrs"),
        values::parse_addr,
        err,
    )?
    .unwrap_or_else(|| vec![AddrSpec::Any]);
    for (key, list) in [("local_addrs", &local), ("remote_addrs", &remote)] {
        if list.is_empty() {
            return Err(err(
                &k(key),
                "empty list: give at least one address or %any".into(),
            ));
        }
    }
    Ok((local, remote))
}

/// The IKE SA's timers with swanctl's defaults filled in.
struct IkeTimers {
    rekey_time: Duration,
    reauth_time: Duration,
    over_time: Duration,
    rand_time: Duration,
    dpd_delay: Duration,
    dpd_timeout: Duration,
}

fn ike_timers(name: &str, c: &mut ConnDoc, err: ErrFn<'_>) -> Result<IkeTimers, ConfigError> {
    let k = |key: &'static str| -> [&str; 3] { ["connections", name, key] };
    let dur = values::parse_duration;
    let rekey_time = parse_opt(c.rekey_time.take(), &k("rekey_time"), dur, err)?
        .unwrap_or(Duration::from_secs(4 * 3600));
    let reauth_time =
        parse_opt(c.reauth_time.take(), &k("reauth_time"), dur, err)?.unwrap_or(Duration::ZERO);
    // swanctl: 10 % of the longer of rekey_time and reauth_time.
    let over_time = parse_opt(c.over_time.take(), &k("over_time"), dur, err)?
        .unwrap_or(rekey_time.max(reauth_time) / 10);
    let rand_given = parse_opt(c.rand_time.take(), &k("rand_time"), dur, err)?;
    let rand_time = rand_given.unwrap_or(over_time);
    if rand_given.is_some() {
        // A jitter as long as the interval would rekey right after establishment.
        for (what, limit) in [("rekey_time", rekey_time), ("reauth_time", reauth_time)] {
            if !limit.is_zero() && rand_time >= limit {
                return Err(err(
                    &k("rand_time"),
                    format!(
                        "{} must be shorter than {what} ({})",
                        values::fmt_duration(rand_time),
                        values::fmt_duration(limit)
                    ),
                ));
            }
        }
    }
    let dpd_delay =
        parse_opt(c.dpd_delay.take(), &k("dpd_delay"), dur, err)?.unwrap_or(Duration::ZERO);
    let dpd_timeout =
        parse_opt(c.dpd_timeout.take(), &k("dpd_timeout"), dur, err)?.unwrap_or(Duration::ZERO);
    Ok(IkeTimers {
        rekey_time,
        reauth_time,
        over_time,
        rand_time,
        dpd_delay,
        dpd_timeout,
    })
}

/// The best-fitting `secrets:` PSK when either side authenticates with one, and its entry's
/// name.
fn pick_psk(
    name: &str,
    local: &super::Auth,
    remote: &super::Auth,
    secrets: &Secrets,
    err: ErrFn<'_>,
) -> Result<(Option<Secret>, Option<String>), ConfigError> {
    if local.auth != AuthMethod::Psk && remote.auth != AuthMethod::Psk {
        return Ok((None, None));
    }
    let best = secrets
        .shared
        .iter()
        .filter_map(|s| s.fit(&local.id, &remote.id).map(|score| (score, s)))
        .max_by_key(|(score, _)| *score);
    if let Some((_, s)) = best {
        return Ok((Some(s.secret.clone()), Some(s.name.clone())));
    }
    let side = if local.auth == AuthMethod::Psk {
        "local"
    } else {
        "remote"
    };
    Err(err(
        &["connections", name, side, "auth"],
        format!(
            "auth: psk but no entry in secrets has id {} or {} (or no id at all)",
            local.id, remote.id
        ),
    ))
}
