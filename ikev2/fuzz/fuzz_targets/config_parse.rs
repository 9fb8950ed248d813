//! The daemon's YAML configuration: `rswand --check` and reload run this on operator files, so a
//! typo must give an error with a line, never a panic. Whatever loads must also convert to the
//! protocol core's configuration without a panic. Files the text names are looked up under a
//! directory that does not exist.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use rswan::config::parse_str;
use rswan::driver::core_config::to_core;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse_str(text, Path::new("/nonexistent/rswan-fuzz/rswan.yaml")) {
        Ok(cfg) => {
            let _ = to_core(&cfg);
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
