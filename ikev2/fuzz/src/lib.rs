//! Shared by the fuzz targets: the two-peer setup and input format of `established_peer`, and the
//! seed writer (`cargo test --lib` here with `RSWAN_FUZZ_WRITE_SEEDS=1`).

pub mod established;
pub mod seeds;
