#!/usr/bin/env bash
# Interop with libreswan 4.10 (pluto) through a NAT (topo_nat: west behind a masquerading router,
# east sees it as 192.0.2.254), PSK, FQDN identities, IKE aes_gcm256-sha2_256;dh19, ESP
# aes_gcm256. Two sub-cases:
#   rswan-init: rswand (west, behind the NAT) initiates, pluto (east) responds;
#   rswan-resp: pluto (west, behind the NAT) initiates, rswand (east) responds.
# Each proves: IKE on port 4500 at rswand, ESP-in-UDP (`encap type espinudp` on all SAs in both
# namespaces), LAN ping passes both ways with the guards dropping nothing new, rswanctl status
# --json and whack --trafficstatus as in interop-libreswan-psk.
# vm-timeout: 150
# shellcheck source=../lib.sh
. "$RSWAN_VM_LIB"

PEER=libreswan TOPO=nat
IKE_RS=aes256gcm16-prfsha256-ecp256 ESP_RS=aes256gcm16
# Expected algorithms in `ip xfrm state`.
XFRM_ALG="aead rfc4106(gcm(aes))"
# shellcheck source=SCRIPTDIR/../interop.sh
. "${BASH_SOURCE[0]%/*}/../interop.sh"

interop_main
