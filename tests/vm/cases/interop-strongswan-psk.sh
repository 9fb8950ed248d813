#!/usr/bin/env bash
# Interop with strongSwan 5.9.8 (charon + swanctl), PSK, FQDN identities, both sides on their
# default proposals (nothing configured). Two sub-cases, each on a fresh west/east topology:
#   rswan-init: rswand (west) initiates with `rswanctl up`, charon (east) responds;
#   rswan-resp: charon (west) initiates with `swanctl --initiate`, rswand (east) responds (charon
#               floats to UDP 4500 after IKE_SA_INIT because MOBIKE is on by default).
# Each proves: LAN ping fails before (guard drops it), passes both ways after without new guard
# drops, 2 SAs with traffic per side, rswanctl status --json shows the IKE SA established and the
# Child SA installed with non-zero counters, and swanctl --list-sas shows it on charon's side.
# Both sub-cases always run; the case fails if either does.
# vm-timeout: 150
# shellcheck source=../lib.sh
. "$RSWAN_VM_LIB"

PEER=strongswan
# shellcheck source=SCRIPTDIR/../interop.sh
. "${BASH_SOURCE[0]%/*}/../interop.sh"

interop_main
