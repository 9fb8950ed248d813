//! Proposal engine: strongSwan keyword syntax in (the keyword table itself is rswan-ike's catalogue),
//! SA payload proposals out; responder selection by
//! our configured order; mismatch reports that name the first transform type without overlap.
//!
//! ```
//! use rswan_ikev2::proposal::{select, ProposalSet};
//!
//! let ours = ProposalSet::parse_ike("aes256gcm16-prfsha256-ecp256").unwrap();
//! let peer = ProposalSet::parse_ike("aes128-sha1-modp2048,aes256gcm16-prfsha256-ecp256").unwrap();
//! let chosen = select(&ours, &peer.to_wire(&[])).unwrap();
//! assert_eq!(chosen.proposal.num, 2);
//! assert_eq!(chosen.algorithms.to_string(), "AES_GCM_16_256/PRF_HMAC_SHA2_256/ECP_256");
//! ```

mod capability;
mod mismatch;
mod parse;
mod pfs;
mod response;
mod select;
mod set;

// The algorithm values, their names and the keyword table are the version-neutral catalogue in
// rswan-ike; re-exported at their old paths.
pub use capability::implemented;
pub use mismatch::Mismatch;
pub use parse::ParseError;
pub use pfs::{predict_pfs_mismatch, PfsMismatch};
pub use response::{check_response, ResponseError};
pub use rswan_ike::alg::allowed_keywords;
pub use rswan_ike::alg::{is_legacy, transform_name, EncrAlg};
pub use rswan_ike::alg::{Algorithms, ChildAlgorithms, IkeAlgorithms};
pub use select::{select, Selected};
pub use set::{ProposalSet, ProposalSpec};
