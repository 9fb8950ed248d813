#!/usr/bin/env bash
# Interop with libreswan 4.10 (pluto) beyond the first handshake: rekeying and deletion (PSK,
# FQDN identities, AES-GCM-256 / ECP-256 as in interop-libreswan-psk; Child SA rekeys with PFS,
# libreswan's default). Two sub-cases, each on a fresh west/east topology:
#   rswan-init: rswand (west) initiates; pluto (east) rekeys the Child SA (`whack --rekey-ipsec`),
#               then the IKE SA (`--rekey-ike`); `rswanctl down` then deletes everything.
#   rswan-resp: pluto (west) initiates; pluto rekeys the Child SA, then the IKE SA;
#               `whack --terminate` then deletes everything.
# After each rekey: rswand shows new SPIs with exactly one IKE SA / one installed Child SA, the
# kernel holds exactly 2 SAs per side (the old ones deleted) and LAN ping passes through the new
# ones. After the delete: no SAs in either kernel, rswand lists no IKE SA, pluto no tunnel, and
# the guard drops LAN ping again.
# vm-timeout: 150
# shellcheck source=../lib.sh
. "$RSWAN_VM_LIB"

PEER=libreswan
# libreswan rekeys Child SAs with PFS by default (pfs=yes, in the IKE SA's group): rswan's child
# lists the same group, which (as in strongSwan) applies to CREATE_CHILD_SA only.
IKE_RS=aes256gcm16-prfsha256-ecp256 ESP_RS=aes256gcm16-ecp256
# shellcheck source=SCRIPTDIR/../interop.sh
. "${BASH_SOURCE[0]%/*}/../interop.sh"

sub_rswan_init() {
	local out
	setup_sub rswan-init
	rswan_up "$R"
	assert_ping_ok west
	rekeys east "$S" "$R"
	out=$("$C" --socket "$R/rswan.sock" down interop 2>&1) || { printf '%s\n' "$out"; fail "rswan-init: rswanctl down failed"; }
	printf '%s\n' "$out"
	wait_for 15 "SAs to be gone on both sides after rswanctl down" all_gone "$R" east "$S"
	assert_ping_fails west
	log "rswan-init: ok"
}

sub_rswan_resp() {
	setup_sub rswan-resp
	must whack_to 40 west "$S" --name interop --initiate
	assert_ping_ok west
	rekeys west "$S" "$R"
	must whack_to 20 west "$S" --name interop --terminate
	wait_for 15 "SAs to be gone on both sides after whack --terminate" all_gone "$R" west "$S"
	# Not from west: pluto leaves the terminated (once initiated) connection routed, so a ping
	# from west's LAN would make it negotiate again on demand ("initiate on-demand for packet").
	assert_ping_fails east
	log "rswan-resp: ok"
}

interop_main
