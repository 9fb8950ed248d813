#!/usr/bin/env bash
# Interop with strongSwan 5.9.8 on a Windows-like legacy proposal, enabled explicitly on both
# sides: IKE aes256-sha1-modp1024 (AES-CBC-256, HMAC-SHA1-96, PRF-HMAC-SHA1, MODP-1024), ESP
# aes256-sha1 without PFS; PSK, FQDN identities. Same two sub-cases as interop-strongswan-psk
# (rswan-init: rswand west initiates, charon east responds; rswan-resp: charon west initiates,
# rswand east responds), same checks, plus: the kernel SAs use cbc(aes)/hmac(sha1) and both
# daemons report AES_CBC-256 / HMAC_SHA1_96 / MODP_1024 for the IKE SA.
# vm-timeout: 150
# shellcheck source=../lib.sh
. "$RSWAN_VM_LIB"

PEER=strongswan
IKE_SW=aes256-sha1-modp1024 ESP_SW=aes256-sha1 IKE_RS=aes256-sha1-modp1024 ESP_RS=aes256-sha1
# Expected algorithms in `ip xfrm state`.
XFRM_ALG="auth-trunc hmac(sha1)"
# What charon must report for the IKE SA and the Child SA.
SW_IKE_ALGS="AES_CBC-256/HMAC_SHA1_96/PRF_HMAC_SHA1/MODP_1024"
SW_ESP_ALGS="AES_CBC-256/HMAC_SHA1_96"
# shellcheck source=SCRIPTDIR/../interop.sh
. "${BASH_SOURCE[0]%/*}/../interop.sh"

interop_main
