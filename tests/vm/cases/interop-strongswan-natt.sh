#!/usr/bin/env bash
# Interop with strongSwan 5.9.8 through a NAT (topo_nat: west behind a masquerading router, east
# sees it as 192.0.2.254), PSK, FQDN identities, default proposals. Two sub-cases:
#   rswan-init: rswand (west, behind the NAT) initiates, charon (east) responds;
#   rswan-resp: charon (west, behind the NAT) initiates, rswand (east) responds.
# Each proves: NAT detected and IKE floated to 4500, ESP-in-UDP (`encap type espinudp` on all
# SAs in both namespaces), LAN ping passes both ways with the guard in east dropping nothing new,
# rswanctl status --json and swanctl --list-sas as in interop-strongswan-psk.
# vm-timeout: 150
# shellcheck source=../lib.sh
. "$RSWAN_VM_LIB"

PEER=strongswan TOPO=nat
# shellcheck source=SCRIPTDIR/../interop.sh
. "${BASH_SOURCE[0]%/*}/../interop.sh"

interop_main
