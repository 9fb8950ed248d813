//! One connection's `children:` checked and turned into [`Child`] entries, in the order their
//! keys are validated (the first error wins).

use std::collections::BTreeMap;
use std::time::Duration;

use rswan_ikev2::consts::ProtocolId;
use rswan_ikev2::proposal::ProposalSet;

use super::model::{Action, Child, Mode};
use super::schema::ChildDoc;
use super::values::{self, AddrSpec, TsSpec};
use super::{parse_list, parse_opt, plus_ten_percent, proposals, ConfigError, MAX_TS_PER_CHILD};

type ErrFn<'a> = &'a dyn Fn(&[&str], String) -> ConfigError;

/// All children of connection `name`; `remote_addrs` decides whether a start action can work.
pub(super) fn build_children(
    name: &str,
    docs: Option<BTreeMap<String, ChildDoc>>,
    remote_addrs: &[AddrSpec],
    err: ErrFn<'_>,
) -> Result<Vec<Child>, ConfigError> {
    let mut children = Vec::new();
    let mut child_rand_keys: Vec<(String, bool)> = Vec::new();
    for (cname, ch) in docs.unwrap_or_default() {
        let (child, rand_given) = build_child(name, &cname, ch, remote_addrs, err)?;
        children.push(child);
        child_rand_keys.push((cname, rand_given));
    }
    check_shared_child_rand(name, &children, &child_rand_keys, err)?;
    Ok(children)
}

/// One child, and whether its `rand_time` was written out.
fn build_child(
    name: &str,
    cname: &str,
    ch: ChildDoc,
    remote_addrs: &[AddrSpec],
    err: ErrFn<'_>,
) -> Result<(Child, bool), ConfigError> {
    let ck = |key: &'static str| -> [&str; 5] { ["connections", name, "children", cname, key] };
    let (local_ts, remote_ts) = selectors(&ck, ch.local_ts, ch.remote_ts, err)?;
    let unset = ch.esp_proposals.is_none();
    let esp_proposals = ch.esp_proposals.unwrap_or_default();
    if esp_proposals.is_empty() && !unset {
        return Err(err(
            &ck("esp_proposals"),
            "empty list: give at least one proposal, or default".into(),
        ));
    }
    // Unset: strongSwan's AEAD-first default, not the explicit keyword's order.
    let esp_proposal_set = if unset {
        ProposalSet::default_esp()
    } else {
        proposals::parse_list(ProtocolId::ESP, &esp_proposals)
            .map_err(|e| err(&ck("esp_proposals"), e))?
    };
    let raw = (ch.rekey_time, ch.life_time, ch.rand_time);
    let (rekey_time, life_time, rand_time, rand_given) = lifetimes(&ck, raw, err)?;
    let (rekey_bytes, life_bytes) = byte_limits(&ck, ch.rekey_bytes, ch.life_bytes, err)?;
    let start_action = ch.start_action.unwrap_or(Action::None);
    if start_action != Action::None && !remote_addrs.iter().any(|a| a.host().is_some()) {
        return Err(err(
            &ck("start_action"),
            "start and trap need a peer to initiate to: remote_addrs has no single address".into(),
        ));
    }
    let child = Child {
        name: cname.to_owned(),
        local_ts,
        remote_ts,
        esp_proposals,
        esp_proposal_set,
        mode: ch.mode.unwrap_or(Mode::Tunnel),
        start_action,
        dpd_action: ch.dpd_action.unwrap_or(Action::None),
        close_action: ch.close_action.unwrap_or(Action::None),
        rekey_time,
        life_time,
        rand_time,
        rekey_bytes,
        life_bytes,
    };
    Ok((child, rand_given))
}

/// `local_ts` and `remote_ts`, `dynamic` when unset; neither empty nor longer than a TS payload
/// can carry.
fn selectors<'a>(
    ck: &dyn Fn(&'static str) -> [&'a str; 5],
    local: Option<Vec<String>>,
    remote: Option<Vec<String>>,
    err: ErrFn<'_>,
) -> Result<(Vec<TsSpec>, Vec<TsSpec>), ConfigError> {
    let local_ts = parse_list(local, &ck("local_ts"), values::parse_ts, err)?
        .unwrap_or_else(|| vec![TsSpec::Dynamic]);
    let remote_ts = parse_list(remote, &ck("remote_ts"), values::parse_ts, err)?
        .unwrap_or_else(|| vec![TsSpec::Dynamic]);
    for (key, list) in [("local_ts", &local_ts), ("remote_ts", &remote_ts)] {
        if list.is_empty() {
            return Err(err(&ck(key), "empty list: give a subnet or dynamic".into()));
        }
    }
    for (key, list) in [("local_ts", &local_ts), ("remote_ts", &remote_ts)] {
        if list.len() > MAX_TS_PER_CHILD {
            return Err(err(
                &ck(key),
                format!(
                    "{} traffic selectors: at most {MAX_TS_PER_CHILD} (an IKEv2 TS payload counts them in one octet)",
                    list.len()
                ),
            ));
        }
    }
    Ok((local_ts, remote_ts))
}

/// `rekey_time`, `life_time` and `rand_time` with their defaults, and whether `rand_time` was
/// given; the life must outlast the rekey and the jitter stay below it.
fn lifetimes<'a>(
    ck: &dyn Fn(&'static str) -> [&'a str; 5],
    (rekey, life, rand): (Option<String>, Option<String>, Option<String>),
    err: ErrFn<'_>,
) -> Result<(Duration, Duration, Duration, bool), ConfigError> {
    let dur = values::parse_duration;
    let crekey =
        parse_opt(rekey, &ck("rekey_time"), dur, err)?.unwrap_or(Duration::from_secs(3600));
    let life_given = parse_opt(life, &ck("life_time"), dur, err)?;
    let life_time = life_given.unwrap_or(plus_ten_percent(crekey));
    if life_given.is_some() && !crekey.is_zero() && life_time <= crekey {
        return Err(err(
            &ck("life_time"),
            format!(
                "{} must be longer than rekey_time ({})",
                values::fmt_duration(life_time),
                values::fmt_duration(crekey)
            ),
        ));
    }
    let default_rand = life_time.saturating_sub(crekey);
    let child_rand_given = parse_opt(rand, &ck("rand_time"), dur, err)?;
    let child_rand = child_rand_given.unwrap_or(default_rand);
    if child_rand_given.is_some() && !crekey.is_zero() && child_rand >= crekey {
        return Err(err(
            &ck("rand_time"),
            format!(
                "{} must be shorter than rekey_time ({})",
                values::fmt_duration(child_rand),
                values::fmt_duration(crekey)
            ),
        ));
    }
    Ok((crekey, life_time, child_rand, child_rand_given.is_some()))
}

/// `rekey_bytes` and `life_bytes` (0: no limit); a given life must exceed the rekey limit.
fn byte_limits<'a>(
    ck: &dyn Fn(&'static str) -> [&'a str; 5],
    rekey: Option<String>,
    life: Option<String>,
    err: ErrFn<'_>,
) -> Result<(u64, u64), ConfigError> {
    let rekey_bytes = parse_opt(rekey, &ck("rekey_bytes"), values::parse_bytes, err)?.unwrap_or(0);
    let life_bytes_given = parse_opt(life, &ck("life_bytes"), values::parse_bytes, err)?;
    let life_bytes = life_bytes_given.unwrap_or(rekey_bytes.saturating_add(rekey_bytes / 10));
    if life_bytes_given.is_some() && rekey_bytes != 0 && life_bytes <= rekey_bytes {
        return Err(err(
            &ck("life_bytes"),
            format!("{life_bytes} must be larger than rekey_bytes ({rekey_bytes})"),
        ));
    }
    Ok((rekey_bytes, life_bytes))
}

/// The protocol core keeps one child `rand_time` per connection (`ConnTimers::child_rand_time`),
/// so an explicit value must be the one every child of the connection ends up with; otherwise a
/// child that relies on its own default (life_time - rekey_time) would silently get another.
fn check_shared_child_rand(
    conn: &str,
    children: &[Child],
    given: &[(String, bool)],
    err: &dyn Fn(&[&str], String) -> ConfigError,
) -> Result<(), ConfigError> {
    let Some((first_name, _)) = given.iter().find(|(_, g)| *g) else {
        return Ok(());
    };
    let Some(first) = children.iter().find(|c| &c.name == first_name) else {
        return Ok(());
    };
    if let Some(other) = children.iter().find(|c| c.rand_time != first.rand_time) {
        let other_given = given.iter().any(|(n, g)| *g && *n == other.name);
        // Point at a line that exists: the other child's key if written, else the first one's.
        let (at, message) = if other_given {
            (
                other.name.as_str(),
                format!(
                    "{} differs from child '{}' (rand_time {})",
                    values::fmt_duration(other.rand_time),
                    first.name,
                    values::fmt_duration(first.rand_time)
                ),
            )
        } else {
            (
                first.name.as_str(),
                format!(
                    "{} differs from child '{}', whose rand_time defaults to life_time - rekey_time ({})",
                    values::fmt_duration(first.rand_time),
                    other.name,
                    values::fmt_duration(other.rand_time)
                ),
            )
        };
        return Err(err(
            &["connections", conn, "children", at, "rand_time"],
            format!("{message}: the children of one connection must share rand_time for now"),
        ));
    }
    Ok(())
}
