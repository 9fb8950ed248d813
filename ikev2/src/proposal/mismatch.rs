//! The report of a failed selection, worded for the log.

use core::fmt;

use crate::consts::{ProtocolId, TransformType};

/// Why no proposal could be selected.
///
/// `first_failing` is the first transform type, in the order encryption, integrity, PRF, KE
/// group, ESN, on which no proposal of ours and no proposal of the peer agree; `ours` and
/// `theirs` then list the values of that type each side would take. When every type overlaps on
/// its own but no single pair of proposals combines them, `first_failing` is `None` and the lists
/// hold whole proposals.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    pub protocol: ProtocolId,
    pub first_failing: Option<TransformType>,
    pub ours: Vec<String>,
    pub theirs: Vec<String>,
}

fn list(f: &mut fmt::Formatter<'_>, items: &[String]) -> fmt::Result {
    if items.is_empty() {
        return f.write_str("nothing");
    }
    f.write_str(&items.join(", "))
}

/// e.g. "IKE proposal mismatch: KE group — peer offered MODP_1024; we accept ECP_256, CURVE_25519".
impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} proposal mismatch: ", self.protocol)?;
        match self.first_failing {
            Some(t) => write!(f, "{t}")?,
            None => f.write_str("no proposal combines the acceptable transforms")?,
        }
        f.write_str(" — peer offered ")?;
        list(f, &self.theirs)?;
        f.write_str("; we accept ")?;
        list(f, &self.ours)
    }
}

impl std::error::Error for Mismatch {}
