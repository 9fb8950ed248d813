//! Proposal strings are checked with the core's own parser, so the config accepts exactly what
//! the negotiation will use, and the error lists the allowed keywords.

use rswan_ikev2::proposal::ProposalSet;

pub fn check_ike(p: &str) -> Result<(), String> {
    ProposalSet::parse_ike(p)
        .map(drop)
        .map_err(|e| e.to_string())
}

pub fn check_esp(p: &str) -> Result<(), String> {
    ProposalSet::parse_esp(p)
        .map(drop)
        .map_err(|e| e.to_string())
}
