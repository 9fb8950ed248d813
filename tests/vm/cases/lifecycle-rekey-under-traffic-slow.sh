#!/usr/bin/env bash
# The issue's full figure: zero lost pings (every 50 ms) across 100 Child SA rekeys of rswand,
# about 400-500 s under emulation. Same case as lifecycle-rekey-under-traffic.sh with REKEYS=100.
# vm-timeout: 900
export REKEYS=${REKEYS:-100}
# shellcheck source=lifecycle-rekey-under-traffic.sh
. "$(dirname "${BASH_SOURCE[0]}")/lifecycle-rekey-under-traffic.sh"
