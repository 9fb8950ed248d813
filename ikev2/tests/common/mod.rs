//! Test support shared by the integration tests of rswan-ikev2.
//!
//! Each integration test binary compiles this module on its own and uses only part of it.
#![allow(dead_code)]

pub mod capture;
pub mod describe;
