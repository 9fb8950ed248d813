#!/usr/bin/env bash
# Interop with libreswan 4.10 (pluto, NSS db filled from pki.sh's test PKI with certutil and
# pk12util) with certificate authentication both ways; IKE aes_gcm256-sha2_256;dh19, ESP
# aes_gcm256. Sub-cases, each on a fresh topology (name, who initiates, path, rswand's key,
# pluto's key, identities):
#   rsa-init        rswand  direct  RSA-3072  RSA-3072  FQDN (checked against the SAN)
#   rsa-resp        pluto   direct  RSA-3072  RSA-3072  subject DN (rswand's id left to default)
#   ecdsa-init      rswand  direct  P-256     P-384     subject DN
#   ecdsa-resp      pluto   direct  P-384     P-256     FQDN
#   nat-rsa-init    rswand  NAT     RSA-3072  P-256     FQDN  (west behind the NAT)
#   nat-ecdsa-resp  pluto   NAT     P-256     RSA-3072  FQDN  (west behind the NAT)
# pluto sends its certificate always and a CERTREQ for the root (rightca). Each proves: guarded LAN ping fails before and
# passes both ways after, 2 SAs with traffic per side (ESP-in-UDP behind the NAT), rswanctl
# status --json shows the IKE SA with the peer's identity and the Child SA with counters, and
# whack --trafficstatus shows the tunnel with bytes both ways.
# vm-timeout: 330
# shellcheck source=../lib.sh
. "$RSWAN_VM_LIB"

PEER=libreswan
IKE_RS=aes256gcm16-prfsha256-ecp256 ESP_RS=aes256gcm16
XFRM_ALG="aead rfc4106(gcm(aes))"
# shellcheck source=SCRIPTDIR/../interop.sh
. "${BASH_SOURCE[0]%/*}/../interop.sh"

cert_matrix_main <<'EOT'
# name          role        topo    rswan    pluto    ids
rsa-init        rswan-init  direct  rsa3072  rsa3072  fqdn
rsa-resp        rswan-resp  direct  rsa3072  rsa3072  dn
ecdsa-init      rswan-init  direct  p256     p384     dn
ecdsa-resp      rswan-resp  direct  p384     p256     fqdn
nat-rsa-init    rswan-init  nat     rsa3072  p256     fqdn
nat-ecdsa-resp  rswan-resp  nat     p256     rsa3072  fqdn
EOT
