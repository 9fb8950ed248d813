# shellcheck shell=bash
# A throw-away test PKI, generated at test time with the openssl CLI (no key is committed).
# Sourced by cases (after lib.sh) or by interop.sh. Everything lands in $PKI (default
# /tmp/rswan-vm/pki: guest-local, so one boot generates each key once and later cases reuse it;
# RSA-3072 key generation costs seconds under emulation).
#
#   pki_root <name> <key>                       self-signed root CA     -> $PKI/<name>.{key,crt}
#   pki_inter <name> <issuer> <key>             intermediate CA (pathlen 0)
#   pki_ee <name> <key name> <issuer> <key> <fqdn> <ip>...
#                                               end entity $PKI/<name>.crt for $PKI/<key name>.key
#                                               (several certs may share a key): SAN DNS:<fqdn> +
#                                               IP:<ip>..., EKU serverAuth + clientAuth, CN=<fqdn>
#   pki_p12 <name> <key name> [<chain cert>...] $PKI/<name>.p12 (password $PKI_P12_PASS, friendly
#                                               name <name>) for NSS's pk12util
#   pki_dn <fqdn>                               the subject DN of pki_ee's cert, in the
#                                               "C=.., O=.., CN=.." form swanctl/libreswan/rswan take
#   pki_ca_dn [<root name>]                     the same for pki_root's cert (default: root)
# <key>: rsa3072 | p256 | p384 | ed25519 (end entities only: the CAs sign with -sha256). Keys are PKCS#8 PEM ("BEGIN PRIVATE KEY"), mode 0600.
# A function whose output already exists does nothing, so cases call what they need.

PKI=${PKI:-/tmp/rswan-vm/pki}
PKI_P12_PASS=rswan-test
PKI_O="rswan test"
PKI_C=CH
mkdir -p "$PKI"

_pki_key() { # <file> <key type>
	[ -s "$1" ] && return 0
	case $2 in
	rsa3072) (umask 077 && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out "$1.tmp" 2>/dev/null) ;;
	p256) (umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -pkeyopt ec_param_enc:named_curve -out "$1.tmp") ;;
	p384) (umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -pkeyopt ec_param_enc:named_curve -out "$1.tmp") ;;
	ed25519) (umask 077 && openssl genpkey -algorithm ED25519 -out "$1.tmp") ;;
	*) fail "pki: unknown key type '$2' (rsa3072|p256|p384|ed25519)" ;;
	esac
	mv "$1.tmp" "$1"
}

# One extension file for all certificates; the section is picked per certificate.
_pki_ext() {
	[ -s "$PKI/ext.cnf" ] && return 0
	cat >"$PKI/ext.cnf" <<-'EOF'
		[req]
		distinguished_name = dn
		[dn]
		[root]
		basicConstraints = critical, CA:TRUE
		keyUsage = critical, keyCertSign, cRLSign
		subjectKeyIdentifier = hash
		[inter]
		basicConstraints = critical, CA:TRUE, pathlen:0
		keyUsage = critical, keyCertSign, cRLSign
		subjectKeyIdentifier = hash
		authorityKeyIdentifier = keyid
		[ee]
		basicConstraints = critical, CA:FALSE
		keyUsage = critical, digitalSignature
		extendedKeyUsage = serverAuth, clientAuth
		subjectKeyIdentifier = hash
		authorityKeyIdentifier = keyid
		subjectAltName = $ENV::PKI_SAN
	EOF
}

_pki_serial=0
_pki_sign() { # <name> <key name> <issuer|""> <section> <subject>
	local name=$1 key=$2 issuer=$3 sect=$4 subj=$5
	_pki_ext
	_pki_serial=$((_pki_serial + 1))
	if [ -z "$issuer" ]; then
		must openssl req -new -x509 -key "$PKI/$key.key" -subj "$subj" -days 30 -sha256 \
			-set_serial "$((RANDOM * 65536 + RANDOM))" \
			-config "$PKI/ext.cnf" -extensions "$sect" -out "$PKI/$name.crt.tmp"
	else
		openssl req -new -key "$PKI/$key.key" -subj "$subj" -config "$PKI/ext.cnf" -out "$PKI/$name.csr" 2>/dev/null ||
			fail "pki: openssl req for $name failed"
		must openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/$issuer.crt" -CAkey "$PKI/$issuer.key" \
			-set_serial "$((RANDOM * 65536 + RANDOM + _pki_serial))" -days 30 -sha256 \
			-extfile "$PKI/ext.cnf" -extensions "$sect" -out "$PKI/$name.crt.tmp"
		rm -f "$PKI/$name.csr"
	fi
	mv "$PKI/$name.crt.tmp" "$PKI/$name.crt"
}

pki_root() { # <name> <key type>
	[ -s "$PKI/$1.crt" ] && return 0
	_pki_key "$PKI/$1.key" "$2"
	PKI_SAN=none _pki_sign "$1" "$1" "" root "/C=$PKI_C/O=$PKI_O/CN=rswan test root CA $1"
}

pki_inter() { # <name> <issuer> <key type>
	[ -s "$PKI/$1.crt" ] && return 0
	_pki_key "$PKI/$1.key" "$3"
	PKI_SAN=none _pki_sign "$1" "$1" "$2" inter "/C=$PKI_C/O=$PKI_O/CN=rswan test intermediate CA $1"
}

pki_ee() { # <name> <key name> <issuer> <key type> <fqdn> <ip>...
	local name=$1 key=$2 issuer=$3 kt=$4 fqdn=$5 san ip
	shift 5
	[ -s "$PKI/$name.crt" ] && return 0
	san="DNS:$fqdn"
	for ip in "$@"; do san="$san, IP:$ip"; done
	_pki_key "$PKI/$key.key" "$kt"
	PKI_SAN=$san _pki_sign "$name" "$key" "$issuer" ee "/C=$PKI_C/O=$PKI_O/CN=$fqdn"
}

pki_p12() { # <name> <key name> [<chain cert file>...]: key, cert and chain
	local name=$1 key=$2 f
	shift 2
	[ -s "$PKI/$name.p12" ] && return 0
	: >"$PKI/$name.chain.tmp"
	for f in "$@"; do cat "$f" >>"$PKI/$name.chain.tmp"; done
	must openssl pkcs12 -export -inkey "$PKI/$key.key" -in "$PKI/$name.crt" \
		${1:+-certfile "$PKI/$name.chain.tmp"} -name "$name" -passout "pass:$PKI_P12_PASS" \
		-out "$PKI/$name.p12.tmp"
	rm -f "$PKI/$name.chain.tmp"
	mv "$PKI/$name.p12.tmp" "$PKI/$name.p12"
}

pki_dn() { printf 'C=%s, O=%s, CN=%s' "$PKI_C" "$PKI_O" "$1"; }
pki_ca_dn() { pki_dn "rswan test root CA ${1:-root}"; } # [<root name>]
