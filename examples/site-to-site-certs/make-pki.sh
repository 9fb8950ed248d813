#!/bin/sh
# A throwaway PKI for this example: a CA, west's RSA certificate and east's ECDSA P-256 one, laid
# out as the YAML files expect (relative to the directory the configuration is in):
#
#   x509ca/ca.pem                        the CA certificate (both gateways: remote.cacerts)
#   x509/west.pem   private/west.key     west's certificate and key (west only)
#   x509/east.pem   private/east.key     east's certificate and key (east only)
#   ca/                                  the CA's key and working files: keep it off the gateways
#
#   sh make-pki.sh [DIR]     (default: the current directory; DAYS=365 sets the validity)
#
# For production, use your own CA; what rswan needs from a certificate is in README.md.
set -eu
dir=${1:-.}
days=${DAYS:-365}
mkdir -p "$dir"
cd "$dir"
umask 077
mkdir -p ca x509ca x509 private

openssl req -x509 -newkey rsa:3072 -nodes -keyout ca/ca.key -out x509ca/ca.pem -days "$days" \
	-subj "/C=CH/O=rswan example/CN=rswan example CA" \
	-addext "basicConstraints=critical,CA:TRUE" \
	-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null

# issue NAME KEY-OPTIONS...: a certificate for NAME.example.org, subject and subjectAltName.
issue() {
	name=$1
	shift
	openssl req -new "$@" -nodes -keyout "private/$name.key" -out "ca/$name.csr" \
		-subj "/C=CH/O=rswan example/CN=$name.example.org" 2>/dev/null
	printf '%s\n' "basicConstraints=CA:FALSE" \
		"keyUsage=critical,digitalSignature" \
		"extendedKeyUsage=serverAuth,clientAuth" \
		"subjectAltName=DNS:$name.example.org" >"ca/$name.ext"
	openssl x509 -req -in "ca/$name.csr" -CA x509ca/ca.pem -CAkey ca/ca.key \
		-CAserial ca/ca.srl -CAcreateserial -days "$days" -extfile "ca/$name.ext" \
		-out "x509/$name.pem" 2>/dev/null
}
issue west -newkey rsa:3072
issue east -newkey ec -pkeyopt ec_paramgen_curve:P-256

# Certificates are public; keys stay 0600 (rswand refuses a key file others can read).
chmod 644 x509ca/ca.pem x509/west.pem x509/east.pem
chmod 755 x509ca x509
echo "made: x509ca/ca.pem, x509/{west,east}.pem, private/{west,east}.key in $(pwd)"
