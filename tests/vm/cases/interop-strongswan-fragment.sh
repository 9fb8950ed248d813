#!/usr/bin/env bash
# IKE fragmentation (RFC 7383) with strongSwan 5.9.8: RSA-3072 certificates issued by an RSA-3072
# intermediate CA (itself under the ECDSA root), which each side sends along, so IKE_AUTH is
# 2-3 kB: charon runs with fragment_size = 576 and rswand with its default (1280) or 576, so both
# directions are fragmented. Sub-cases, each on a fresh topology:
#   frag-init      rswand (west) initiates, direct, default fragment size;
#   frag-resp      charon (west) initiates, direct, rswand's settings.fragment_size: 576 (then
#                  rswand's IKE_AUTH must arrive in at least 5 fragments, against 3 at 1280);
#   frag-nat-init  rswand (west, behind the NAT) initiates, default size: fragments on UDP 4500.
# Each proves, besides the checks of interop-strongswan-cert (tunnel, traffic, both views): charon
# split its own IKE_AUTH ("splitting IKE message ... into N fragments"), received rswand's as
# fragments and reassembled it ("received fragment #i of N", "reassembled fragmented IKE
# message"), and received rswand's intermediate CA certificate ("received issuer cert").
# vm-timeout: 270
# shellcheck source=../lib.sh
. "$RSWAN_VM_LIB"

PEER=strongswan CHARON_EXTRA="fragment_size = 576"
# shellcheck source=SCRIPTDIR/../interop.sh
. "${BASH_SOURCE[0]%/*}/../interop.sh"

cert_extra_checks() { # <role>
	local l=$S/charon.log lines n
	grep -Eq 'splitting IKE message \([0-9]+ bytes\) into [0-9]+ fragments' "$l" ||
		fail "$1: charon did not fragment its IKE_AUTH (no 'splitting IKE message' in its log)"
	grep -Eq 'received fragment #1 of ([2-9]|[1-9][0-9])\b' "$l" ||
		fail "$1: charon received no fragmented IKE message from rswand"
	case $RS_SETTINGS in
	*fragment_size=*)
		n=$(sed -n 's/.*received fragment #1 of \([0-9]*\).*/\1/p' "$l" | head -n1)
		[ "${n:-0}" -ge 5 ] || fail "$1: rswand's IKE_AUTH came in ${n:-0} fragments with settings $RS_SETTINGS (expected at least 5)"
		;;
	esac
	grep -q 'reassembled fragmented IKE message' "$l" ||
		fail "$1: charon did not reassemble rswand's fragments"
	grep -q 'received issuer cert "C=CH, O=rswan test, CN=rswan test intermediate CA inter"' "$l" ||
		fail "$1: rswand did not send its intermediate CA certificate"
	lines=$(grep -E 'splitting IKE message|reassembled fragmented' "$l")
	log "$1: charon: ${lines//$'\n'/ | }"
}

cert_matrix_main <<'EOT'
# name          role        topo    rswan    charon   ids   chain  rswand's settings
frag-init       rswan-init  direct  rsa3072  rsa3072  fqdn  inter
frag-resp       rswan-resp  direct  rsa3072  rsa3072  fqdn  inter  fragment_size=576
frag-nat-init   rswan-init  nat     rsa3072  rsa3072  fqdn  inter
EOT
