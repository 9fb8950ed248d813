#!/usr/bin/env bash
# Interop with strongSwan 5.9.8 (charon + swanctl) with certificate authentication (auth:
# pubkey both ways), certificates from pki.sh's test PKI (ECDSA P-384 root; end entities with
# SAN DNS + IP and EKU serverAuth/clientAuth), default proposals. Sub-cases, each on a fresh
# topology (name, who initiates, path, rswand's key, charon's key, identities):
#   rsa-init        rswand  direct  RSA-3072  RSA-3072  FQDN (checked against the SAN)
#   rsa-resp        charon  direct  RSA-3072  RSA-3072  subject DN (rswand's id left to default)
#   ecdsa-init      rswand  direct  P-256     P-384     subject DN
#   ecdsa-resp      charon  direct  P-384     P-256     FQDN
#   nat-rsa-init    rswand  NAT     RSA-3072  P-256     FQDN  (west behind the NAT)
#   nat-ecdsa-resp  charon  NAT     P-256     RSA-3072  FQDN  (west behind the NAT)
#   ed25519-init    rswand  direct  Ed25519   Ed25519   FQDN  (RFC 8420: Identity hash in RFC 7427)
#   ed25519-resp    charon  direct  Ed25519   P-256     subject DN
#   rsa-pss-init    rswand  direct  RSA-3072  RSA-3072  FQDN  (rswand signs RSASSA-PSS: rsa_pss=yes)
# Each proves: guarded LAN ping fails before and passes both ways after, 2 SAs with traffic per
# side (ESP-in-UDP behind the NAT), rswanctl status --json shows the IKE SA established with the
# peer's identity and the Child SA installed with counters, swanctl --list-sas shows the tunnel.
# charon's view of rswand's certificate and signature is logged.
# vm-timeout: 420
# shellcheck source=../lib.sh
. "$RSWAN_VM_LIB"

PEER=strongswan
# shellcheck source=SCRIPTDIR/../interop.sh
. "${BASH_SOURCE[0]%/*}/../interop.sh"

# With rsa_pss=yes, charon must have verified an RSASSA-PSS signature from rswand.
cert_extra_checks() { # <role>
	case $RS_SETTINGS in
	*rsa_pss=yes*)
		grep -Eq "authentication of '[^']*west[^']*' with RSA_EMSA_PSS" "$S/charon.log" ||
			fail "$1: charon did not verify an RSASSA-PSS signature from rswand"
		;;
	esac
}

cert_matrix_main <<'EOT'
# name          role        topo    rswan    charon   ids
rsa-init        rswan-init  direct  rsa3072  rsa3072  fqdn
rsa-resp        rswan-resp  direct  rsa3072  rsa3072  dn
ecdsa-init      rswan-init  direct  p256     p384     dn
ecdsa-resp      rswan-resp  direct  p384     p256     fqdn
nat-rsa-init    rswan-init  nat     rsa3072  p256     fqdn
nat-ecdsa-resp  rswan-resp  nat     p256     rsa3072  fqdn
ed25519-init    rswan-init  direct  ed25519  ed25519  fqdn
ed25519-resp    rswan-resp  direct  ed25519  p256     dn
rsa-pss-init    rswan-init  direct  rsa3072  rsa3072  fqdn  root  rsa_pss=yes
EOT
