#!/usr/bin/env bash
# Interop with strongSwan 5.9.8 beyond the first handshake: rekeying and deletion (PSK, FQDN
# identities, default proposals). Two sub-cases, each on a fresh west/east topology:
#   rswan-init: rswand (west) initiates; charon (east) rekeys the Child SA (CREATE_CHILD_SA
#               with REKEY_SA), then the IKE SA; `rswanctl down` then deletes everything.
#   rswan-resp: charon (west) initiates; charon rekeys the Child SA, then the IKE SA;
#               `swanctl --terminate --ike` then deletes everything.
# After each rekey: rswand shows new SPIs with exactly one IKE SA / one installed Child SA, the
# kernel holds exactly 2 SAs per side (the old ones deleted) and LAN ping passes through the new
# ones. After the delete: no SAs in either kernel, charon/rswand list no IKE SA, and the guard
# drops LAN ping again.
# vm-timeout: 150
# shellcheck source=../lib.sh
. "$RSWAN_VM_LIB"

PEER=strongswan
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
	must swanctl_in west "$S" --initiate --child net --timeout 40
	assert_ping_ok west
	rekeys west "$S" "$R"
	must swanctl_in west "$S" --terminate --ike interop --timeout 20
	wait_for 15 "SAs to be gone on both sides after swanctl --terminate" all_gone "$R" west "$S"
	assert_ping_fails west
	log "rswan-resp: ok"
}

interop_main
