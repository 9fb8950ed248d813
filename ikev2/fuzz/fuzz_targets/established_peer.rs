//! An authenticated peer's IKE_AUTH, CREATE_CHILD_SA and INFORMATIONAL requests, sealed with the
//! real SK keys of an established IKE SA, against a responder that answers every kernel op: nothing
//! may panic. Input format and setup: src/established.rs.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = rswan_ikev2_fuzz::established::run(data);
});
