//! The negotiated outcome: exactly one algorithm per transform type.

use core::fmt;

use super::ids::{EsnId, IntegId, KeGroup, PrfId, TransformType};

use super::algorithm::{transform_name, EncrAlg};

/// Algorithms of an IKE SA.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct IkeAlgorithms {
    pub encr: EncrAlg,
    /// `None` with an AEAD cipher.
    pub integ: Option<IntegId>,
    pub prf: PrfId,
    pub ke: KeGroup,
}

/// Algorithms of a Child SA (ESP).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct ChildAlgorithms {
    pub encr: EncrAlg,
    /// `None` with an AEAD cipher.
    pub integ: Option<IntegId>,
    /// The PFS group of a CREATE_CHILD_SA exchange; `None` without PFS (and always in IKE_AUTH).
    pub ke: Option<KeGroup>,
    pub esn: EsnId,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Algorithms {
    Ike(IkeAlgorithms),
    Child(ChildAlgorithms),
}

impl Algorithms {
    pub fn as_ike(&self) -> Option<&IkeAlgorithms> {
        match self {
            Algorithms::Ike(a) => Some(a),
            Algorithms::Child(_) => None,
        }
    }

    pub fn as_child(&self) -> Option<&ChildAlgorithms> {
        match self {
            Algorithms::Child(a) => Some(a),
            Algorithms::Ike(_) => None,
        }
    }
}

fn name(ttype: TransformType, id: u16) -> String {
    transform_name(ttype, id, 0)
}

/// strongSwan's "selected proposal" form without the protocol prefix, e.g.
/// "AES_GCM_16_256/PRF_HMAC_SHA2_256/ECP_256".
impl fmt::Display for IkeAlgorithms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.encr)?;
        if let Some(i) = self.integ {
            write!(f, "/{}", name(TransformType::INTEG, i.0))?;
        }
        write!(
            f,
            "/{}/{}",
            name(TransformType::PRF, self.prf.0),
            name(TransformType::KE, self.ke.0)
        )
    }
}

/// e.g. "AES_CBC_128/HMAC_SHA2_256_128/MODP_2048/NO_EXT_SEQ".
impl fmt::Display for ChildAlgorithms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.encr)?;
        if let Some(i) = self.integ {
            write!(f, "/{}", name(TransformType::INTEG, i.0))?;
        }
        if let Some(g) = self.ke {
            write!(f, "/{}", name(TransformType::KE, g.0))?;
        }
        write!(f, "/{}", name(TransformType::ESN, self.esn.0))
    }
}

impl fmt::Display for Algorithms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Algorithms::Ike(a) => a.fmt(f),
            Algorithms::Child(a) => a.fmt(f),
        }
    }
}
