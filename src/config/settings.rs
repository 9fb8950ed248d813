//! `settings:` checked and turned into [`Settings`], key by key in the order they are validated
//! (the first error wins).

use std::time::Duration;

use super::model::Settings;
use super::schema::SettingsDoc;
use super::values;
use super::{parse_opt, parse_spdh, ConfigError, MIN_FRAGMENT_SIZE, MIN_RECEIVE_QUEUE};

type ErrFn<'a> = &'a dyn Fn(&[&str], String) -> ConfigError;

pub(super) fn build_settings(s: SettingsDoc, err: ErrFn<'_>) -> Result<Settings, ConfigError> {
    let d = Settings::default();
    let dur = values::parse_duration;
    let flag = values::parse_bool;
    let settings = Settings {
        retransmit_timeout: opt(s.retransmit_timeout, "retransmit_timeout", dur, err)?
            .unwrap_or(d.retransmit_timeout),
        retransmit_base: s.retransmit_base.unwrap_or(d.retransmit_base),
        retransmit_tries: s.retransmit_tries.unwrap_or(d.retransmit_tries),
        half_open_timeout: opt(s.half_open_timeout, "half_open_timeout", dur, err)?
            .unwrap_or(d.half_open_timeout),
        cookie_threshold: s.cookie_threshold.unwrap_or(d.cookie_threshold),
        half_open_limit: limit(
            s.half_open_limit,
            "half_open_limit",
            1,
            d.half_open_limit,
            err,
        )?,
        block_threshold: limit(
            s.block_threshold,
            "block_threshold",
            1,
            d.block_threshold,
            err,
        )?,
        // Below an IPv6 minimum MTU an honest IKE_SA_INIT with a few proposals would not fit.
        max_packet: limit(s.max_packet, "max_packet", 1280, d.max_packet, err)?,
        fragment_timeout: opt(s.fragment_timeout, "fragment_timeout", dur, err)?
            .unwrap_or(d.fragment_timeout),
        max_ts: max_ts(s.max_ts, d.max_ts, err)?,
        max_policies: limit(s.max_policies, "max_policies", 3, d.max_policies, err)?,
        max_child_sas: limit(s.max_child_sas, "max_child_sas", 1, d.max_child_sas, err)?,
        key_export: s.key_export,
        admin_group: admin_group(s.admin_group, err)?,
        receive_queue_bytes: receive_queue(s.receive_queue_bytes, d.receive_queue_bytes, err)?,
        fragment_size: fragment_size(s.fragment_size, d.fragment_size, err)?,
        signature_authentication: opt(
            s.signature_authentication,
            "signature_authentication",
            flag,
            err,
        )?
        .unwrap_or(d.signature_authentication),
        rsa_pss: opt(s.rsa_pss, "rsa_pss", flag, err)?.unwrap_or(d.rsa_pss),
        spdh_thresh_v4: opt(
            s.spdh_thresh_v4,
            "spdh_thresh_v4",
            |v| parse_spdh(v, 32),
            err,
        )?
        .unwrap_or(d.spdh_thresh_v4),
        spdh_thresh_v6: opt(
            s.spdh_thresh_v6,
            "spdh_thresh_v6",
            |v| parse_spdh(v, 128),
            err,
        )?
        .unwrap_or(d.spdh_thresh_v6),
        log_drop_interval: opt(s.log_drop_interval, "log_drop_interval", dur, err)?
            .unwrap_or(d.log_drop_interval),
        log_drop_burst: s.log_drop_burst.unwrap_or(d.log_drop_burst),
    };
    check_ranges(&settings, err)?;
    Ok(settings)
}

/// An optional `settings.KEY` parsed; a failure is reported at that key.
fn opt<T>(
    raw: Option<String>,
    key: &str,
    parse: impl Fn(&str) -> Result<T, String>,
    err: ErrFn<'_>,
) -> Result<Option<T>, ConfigError> {
    parse_opt(raw, &["settings", key], parse, err)
}

/// A limit of 0 would refuse everything; below `min` a limit is a typo, not a policy.
fn limit(
    v: Option<u32>,
    key: &str,
    min: u32,
    default: u32,
    err: ErrFn<'_>,
) -> Result<u32, ConfigError> {
    match v {
        None => Ok(default),
        Some(n) if n >= min => Ok(n),
        Some(n) => Err(err(
            &["settings", key],
            format!("invalid {key} {n}: expected at least {min}"),
        )),
    }
}

fn max_ts(v: Option<u32>, default: u32, err: ErrFn<'_>) -> Result<u32, ConfigError> {
    match v {
        None => Ok(default),
        Some(n) if (1..=255).contains(&n) => Ok(n),
        Some(n) => Err(err(
            &["settings", "max_ts"],
            format!(
                "invalid max_ts {n}: expected 1-255 (a TS payload holds at most 255 selectors)"
            ),
        )),
    }
}

fn admin_group(g: Option<String>, err: ErrFn<'_>) -> Result<Option<String>, ConfigError> {
    match g {
        Some(g) if g.trim().is_empty() || g.chars().any(|c| c.is_whitespace() || c == ':') => {
            Err(err(
                &["settings", "admin_group"],
                format!("invalid group '{g}': expected a group name or number"),
            ))
        }
        g => Ok(g),
    }
}

fn receive_queue(raw: Option<String>, default: u64, err: ErrFn<'_>) -> Result<u64, ConfigError> {
    match opt(raw, "receive_queue_bytes", values::parse_bytes, err)? {
        None => Ok(default),
        Some(n) if n >= MIN_RECEIVE_QUEUE => Ok(n),
        Some(n) => Err(err(
            &["settings", "receive_queue_bytes"],
            format!("{n} bytes is too small: at least {MIN_RECEIVE_QUEUE} (one largest datagram), e.g. 4m"),
        )),
    }
}

fn fragment_size(v: Option<u32>, default: u32, err: ErrFn<'_>) -> Result<u32, ConfigError> {
    match v {
        None => Ok(default),
        Some(n) if n == 0 || (MIN_FRAGMENT_SIZE..=65535).contains(&n) => Ok(n),
        Some(n) => Err(err(
            &["settings", "fragment_size"],
            format!("invalid fragment size {n}: expected 0 (never fragment) or {MIN_FRAGMENT_SIZE}-65535 octets (IP datagram size)"),
        )),
    }
}

/// Bounds that need the parsed value, checked after every key has parsed.
fn check_ranges(settings: &Settings, err: ErrFn<'_>) -> Result<(), ConfigError> {
    if !(Duration::from_secs(1)..=Duration::from_secs(3600)).contains(&settings.log_drop_interval) {
        return Err(err(
            &["settings", "log_drop_interval"],
            "out of range: expected 1s to 1h".to_owned(),
        ));
    }
    if settings.log_drop_burst > 1000 {
        return Err(err(
            &["settings", "log_drop_burst"],
            format!(
                "{} is out of range: expected 0 to 1000 lines",
                settings.log_drop_burst
            ),
        ));
    }
    if !(1.0..=10.0).contains(&settings.retransmit_base) {
        return Err(err(
            &["settings", "retransmit_base"],
            format!(
                "{} is out of range: expected a number from 1.0 to 10.0",
                settings.retransmit_base
            ),
        ));
    }
    if settings.retransmit_timeout.is_zero() {
        return Err(err(
            &["settings", "retransmit_timeout"],
            "must be greater than 0s".to_owned(),
        ));
    }
    Ok(())
}
