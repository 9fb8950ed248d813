//! Proposal strings are parsed with the core's own parser, once, when the config is loaded: the
//! config accepts exactly what the negotiation will use, the error lists the allowed keywords, and
//! the parsed set is what the core is given.

use rswan_ikev2::consts::ProtocolId;
use rswan_ikev2::proposal::ProposalSet;

/// The proposals of a configured list (`proposals` for IKE, `esp_proposals` for ESP) as one set.
pub fn parse_list(protocol: ProtocolId, list: &[String]) -> Result<ProposalSet, String> {
    let sets = list
        .iter()
        .map(|p| ProposalSet::parse(protocol, p))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    ProposalSet::concat(protocol, sets).map_err(|e| e.to_string())
}
