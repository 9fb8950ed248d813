//! CREATE_CHILD_SA (RFC 7296 section 1.3). Not negotiated yet: as responder we decline every
//! request with NO_ADDITIONAL_SAS (section 1.3, "unwilling to accept more Child SAs on this IKE SA"),
//! which keeps the IKE SA intact. Rekeying and additional Child SAs will be built here.

use crate::consts::NotifyType;
use crate::wire::InnerPayload;

use super::{notify, Reply};

/// Responder: declines a CREATE_CHILD_SA request.
pub(crate) fn respond_create_child_sa(_payloads: &[InnerPayload]) -> Reply {
    Reply::keep(vec![notify(NotifyType::NO_ADDITIONAL_SAS)])
}
