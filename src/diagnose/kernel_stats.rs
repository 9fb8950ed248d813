//! /proc/net/xfrm_stat: the kernel's per-network-namespace XFRM drop counters, parsed and
//! explained in words. The daemon reads it in its own namespace, where its SAs live.

use serde::{Deserialize, Serialize};

/// Where the daemon reads the counters (per network namespace).
pub const XFRM_STAT: &str = "/proc/net/xfrm_stat";

/// One non-zero counter, with its rise over the sampling interval when sampled twice.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelCounter {
    pub name: String,
    pub value: u64,
    /// Rise between the two samples; `None` when sampled once.
    pub delta: Option<u64>,
    pub meaning: String,
}

/// Parses `Name<whitespace>value` lines; malformed lines are skipped (the file is the kernel's,
/// but a diagnosis must not fail because one line is odd).
pub fn parse(text: &str) -> Vec<(String, u64)> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let name = it.next()?;
            let value = it.next()?.parse().ok()?;
            Some((name.to_owned(), value))
        })
        .collect()
}

/// Reads and parses the counters; `None` when the kernel has no XFRM statistics.
pub fn read() -> Option<Vec<(String, u64)>> {
    std::fs::read_to_string(XFRM_STAT).ok().map(|t| parse(&t))
}

/// What a counter means for the operator.
pub fn meaning(name: &str) -> &'static str {
    match name {
        "XfrmInTmplMismatch" => "inbound ESP decrypted but the packet matches no IPsec selector of its SA: packet dropped (source NAT in front of the gateway may rewrite the source before the selector check)",
        "XfrmOutPolBlock" => "outbound packet hit a blocking policy: no matching IPsec selector/SA for it, packet dropped",
        "XfrmInPolBlock" => "inbound packet hit a blocking policy: packet dropped",
        "XfrmInNoPols" => "inbound plain-text packet matched no policy allowing it (an ESP-required flow arrived unencrypted)",
        "XfrmInNoStates" => "ESP arrived for an SPI we do not have (stale SA on the peer, or the peer uses other addresses)",
        "XfrmOutNoStates" => "outbound policy matched but no SA is installed for it (tunnel not up, or trap waiting for negotiation)",
        "XfrmInStateProtoError" => "ESP integrity/decryption failed (keys differ, or packets corrupted on the path)",
        "XfrmOutStateProtoError" => "ESP encryption failed for an outbound packet",
        "XfrmInStateSeqError" | "XfrmOutStateSeqError" => "ESP sequence number out of the replay window (replay, or heavy reordering)",
        "XfrmInStateExpired" | "XfrmOutStateExpired" => "packet for an SA whose lifetime expired (rekey did not happen in time)",
        "XfrmInStateMismatch" => "inbound packet does not match its SA (e.g. wrong UDP encapsulation or addresses)",
        "XfrmInStateModeError" | "XfrmOutStateModeError" => "SA mode (tunnel/transport) does not fit the packet",
        "XfrmInStateInvalid" | "XfrmOutStateInvalid" => "packet for an SA that is being deleted or not valid",
        "XfrmInHdrError" | "XfrmFwdHdrError" => "malformed packet headers",
        "XfrmInBufferError" => "kernel buffer shortage while receiving",
        "XfrmOutPolDead" => "outbound policy was being removed",
        "XfrmOutPolError" | "XfrmInPolError" => "policy lookup error",
        "XfrmOutBundleGenError" | "XfrmOutBundleCheckError" => "could not build the output path for the policy (route or SA problem)",
        "XfrmAcquireError" => "kernel could not ask the daemon for an SA (ACQUIRE failed)",
        "XfrmInError" | "XfrmOutError" => "generic XFRM error",
        _ => "XFRM error counter",
    }
}

/// The non-zero counters of `last`, with deltas against `first` when given, biggest rise first.
pub fn explain(first: Option<&[(String, u64)]>, last: &[(String, u64)]) -> Vec<KernelCounter> {
    let mut out: Vec<KernelCounter> = last
        .iter()
        .filter(|(_, v)| *v > 0)
        .map(|(name, value)| KernelCounter {
            name: name.clone(),
            value: *value,
            delta: first.map(|f| {
                let before = f.iter().find(|(n, _)| n == name).map_or(0, |(_, v)| *v);
                value.saturating_sub(before)
            }),
            meaning: meaning(name).to_owned(),
        })
        .collect();
    out.sort_by_key(|k| std::cmp::Reverse(k.delta.unwrap_or(0)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_nonzero_counters_are_explained_with_deltas() {
        let first = parse("XfrmInError 0\nXfrmInTmplMismatch 3\nXfrmInNoStates 1\n");
        let last = parse("XfrmInError 0\nXfrmInTmplMismatch 9\nXfrmInNoStates 1\ngarbage\n");
        let e = explain(Some(&first), &last);
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].name, "XfrmInTmplMismatch");
        assert_eq!(e[0].delta, Some(6));
        assert!(e[0].meaning.contains("no IPsec selector"));
        assert_eq!(e[1].delta, Some(0));
        assert!(e[1].meaning.contains("SPI we do not have"));
    }
}
