//! strongSwan keyword proposals and the peer's SA payload. Input: one octet choosing IKE or ESP,
//! a proposal string up to the first newline (our configuration), then an SA payload body (what
//! the peer offers). Nothing may panic; a parsed set prints, goes to the wire and back unchanged.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rswan_ikev2::consts::ProtocolId;
use rswan_ikev2::proposal::{check_response, predict_pfs_mismatch, select, ProposalSet};
use rswan_ikev2::wire::SaPayload;

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let esp = which & 1 == 1;
    let (text, sa) = match rest.iter().position(|&b| b == b'\n') {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (rest, &[][..]),
    };
    let text = String::from_utf8_lossy(text);
    let parsed = if esp {
        ProposalSet::parse_esp(&text)
    } else {
        ProposalSet::parse_ike(&text)
    };
    let ours = match parsed {
        Ok(set) => {
            let _ = set.to_string();
            let _ = (set.legacy_algorithms(), set.pfs_groups());
            let spi: &[u8] = if esp { &[1, 2, 3, 4] } else { &[] };
            let wire = set.to_wire(spi);
            let payload = SaPayload {
                proposals: wire.clone(),
            };
            let mut enc = Vec::new();
            payload.encode_body(&mut enc);
            assert_eq!(
                SaPayload::decode_body(&enc).expect("our own SA payload decodes"),
                payload
            );
            // Our own offer, answered with each of its proposals, is accepted.
            for p in &wire {
                if let Ok(sel) = select(&set, std::slice::from_ref(p)) {
                    let chosen = sel.response_proposal(spi);
                    let _ = check_response(&set, &wire, &chosen);
                }
            }
            let _ = set.without_ke();
            if let Some(g) = set.first_ke_group() {
                let _ = set.with_group_first(g);
            }
            set
        }
        Err(e) => {
            let _ = e.to_string();
            if esp {
                ProposalSet::default_esp()
            } else {
                ProposalSet::default_ike()
            }
        }
    };

    if let Ok(peer) = SaPayload::decode_body(sa) {
        match select(&ours, &peer.proposals) {
            Ok(sel) => {
                let _ = sel.algorithms.to_string();
                let spi: &[u8] = if ours.protocol() == ProtocolId::ESP {
                    &[9, 9, 9, 9]
                } else {
                    &[]
                };
                let _ = sel.response_proposal(spi);
            }
            Err(m) => {
                let _ = m.to_string();
            }
        }
        // The peer's proposals as if they were its answer to our offer.
        let offered = ours.to_wire(&[1, 2, 3, 4]);
        for p in &peer.proposals {
            if let Err(e) = check_response(&ours, &offered, p) {
                let _ = e.to_string();
            }
        }
        if let Some(m) = predict_pfs_mismatch("fuzz", &ours, &peer.proposals) {
            let _ = m.to_string();
        }
    }
});
