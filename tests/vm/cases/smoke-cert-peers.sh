#!/usr/bin/env bash
# The certificate test setup without rswan: pki.sh's PKI and interop.sh's certificate configs
# for charon and pluto, proven between the two peers themselves, so that a failure of an
# interop-*-cert case is rswan's and not the harness's. Sub-cases, each on a fresh topology:
#   sw-rsa-to-ls-p256: charon (west, RSA-3072) initiates to pluto (east, ECDSA P-256), FQDN ids;
#   ls-p384-to-sw-rsa: pluto (west, ECDSA P-384) initiates to charon (east, RSA-3072), DN ids;
#   sw-chain-fragments: charon to charon, certificates issued by an intermediate CA (sent along)
#                       and fragment_size = 576 on both, so IKE_AUTH travels as RFC 7383
#                       fragments both ways (both logs show "splitting" and "received fragment");
#                       west receives east's intermediate with east's certificate.
# Each: guarded ping fails before, passes both ways after, 2 SAs with traffic per side, and
# both daemons list the tunnel.
# vm-default: no
# vm-build: none
# vm-timeout: 200
# shellcheck source=../lib.sh
. "$RSWAN_VM_LIB"

PEER=strongswan INTEROP_PEERS_ONLY=1 AUTH=pubkey
# shellcheck source=SCRIPTDIR/../interop.sh
. "${BASH_SOURCE[0]%/*}/../interop.sh"

# <west impl> <west key> <east impl> <east key> [charon settings]: west initiates.
peers_up() {
	local wi=$1 wk=$2 ei=$3 ek=$4 extra=${5:-} w=$WORK/$SUB/west e=$WORK/$SUB/east de dw out
	RS_KEY=$wk PEER_KEY=$ek pki_for_sub
	topo_two_gateways
	mkdir -p "$w" "$e"
	LKT=$wk "${wi}_conf" "$w" "$WEST_IP" "$EAST_IP" west.example.org east.example.org "$WEST_LAN" "$EAST_LAN"
	LKT=$ek "${ei}_conf" "$e" "$EAST_IP" "$WEST_IP" east.example.org west.example.org "$EAST_LAN" "$WEST_LAN"
	# The responder first, so that it listens when the initiator starts.
	if [ "$ei" = swanctl ]; then charon_start east "$e" "$CHARON_FLUSH $extra"; else pluto_up east "$e"; fi
	if [ "$wi" = swanctl ]; then charon_start west "$w" "$CHARON_FLUSH $extra"; else pluto_up west "$w"; fi
	before
	de=$(guard_drops east) dw=$(guard_drops west)
	if [ "$wi" = swanctl ]; then
		out=$(swanctl_in west "$w" --initiate --child net --timeout 40 2>&1) || { printf '%s\n' "$out"; fail "$SUB: swanctl --initiate failed"; }
	else
		out=$(whack_to 40 west "$w" --name interop --initiate 2>&1) || { printf '%s\n' "$out"; fail "$SUB: whack --initiate failed"; }
	fi
	printf '%s\n' "$out"
	traffic_ok "$de" "$dw"
	if [ "$wi" = swanctl ]; then must charon_sas_ok west "$w"; else must pluto_sas_ok west "$w"; fi
	if [ "$ei" = swanctl ]; then must charon_sas_ok east "$e"; else must pluto_sas_ok east "$e"; fi
}

sub_sw_rsa_to_ls_p256() {
	SUB=sw-rsa ID_KIND=fqdn CHAIN=root RKT=rsa3072 peers_up swanctl rsa3072 pluto p256
}

sub_ls_p384_to_sw_rsa() {
	SUB=ls-p384 ID_KIND=dn CHAIN=root RKT=rsa3072 peers_up pluto p384 swanctl rsa3072
}

sub_sw_chain_fragments() {
	local ns n
	SUB=sw-frag ID_KIND=fqdn CHAIN=inter peers_up swanctl rsa3072 swanctl rsa3072 "fragment_size = 576"
	for ns in west east; do
		n=$(grep -c 'splitting IKE message' "$WORK/sw-frag/$ns/charon.log" || true)
		[ "$n" -gt 0 ] || fail "charon in $ns split no IKE message into fragments"
		n=$(grep -c 'received fragment' "$WORK/sw-frag/$ns/charon.log" || true)
		[ "$n" -gt 0 ] || fail "charon in $ns received no fragment"
		log "$ns: $(grep -E 'splitting IKE message|reassembled fragmented' "$WORK/sw-frag/$ns/charon.log" | tr '\n' '|')"
	done
	# charon as responder sends the intermediate along (as initiator, 5.9.8 sends only its own).
	grep -q 'received issuer cert' "$WORK/sw-frag/west/charon.log" || fail "charon in west received no intermediate CA cert"
}

failed=()
run_sub sw_rsa_to_ls_p256
run_sub ls_p384_to_sw_rsa
run_sub sw_chain_fragments
[ ${#failed[@]} = 0 ] || fail "sub-cases failed: ${failed[*]} (see log)"
pass
