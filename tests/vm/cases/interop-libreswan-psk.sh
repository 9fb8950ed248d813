#!/usr/bin/env bash
# Interop with libreswan 4.10 (pluto, run by path from the unpacked tree), PSK, FQDN identities,
# IKE aes_gcm256-sha2_256;dh19 (rswan: aes256gcm16-prfsha256-ecp256), ESP aes_gcm256. Two
# sub-cases, each on a fresh west/east topology:
#   rswan-init: rswand (west) initiates with `rswanctl up`, pluto (east) responds;
#   rswan-resp: pluto (west) initiates with `whack --initiate`, rswand (east) responds.
# Each proves: LAN ping fails before (guard drops it), passes both ways after without new guard
# drops, 2 SAs with traffic per side (AES-GCM), rswanctl status --json shows the IKE SA
# established and the Child SA installed with non-zero counters, and `whack --trafficstatus`
# shows the tunnel with bytes in and out on pluto's side.
# Both sub-cases always run; the case fails if either does.
# vm-timeout: 150
# shellcheck source=../lib.sh
. "$RSWAN_VM_LIB"

PEER=libreswan
IKE_RS=aes256gcm16-prfsha256-ecp256 ESP_RS=aes256gcm16
# Expected algorithms in `ip xfrm state`.
XFRM_ALG="aead rfc4106(gcm(aes))"
# shellcheck source=SCRIPTDIR/../interop.sh
. "${BASH_SOURCE[0]%/*}/../interop.sh"

interop_main
