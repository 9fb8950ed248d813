//! rswan daemon library (driver, config, control). Filled by the daemon issue.
