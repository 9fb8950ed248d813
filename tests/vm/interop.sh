# shellcheck shell=bash
# Shared logic of the interop-* cases (rswand against charon or pluto, two sub-cases on fresh
# topologies). Sourced by a case after lib.sh; the case sets, before sourcing:
#   PEER      strongswan | libreswan
#   TOPO      direct (topo_two_gateways, default) | nat (topo_nat, west behind the NAT)
#   IKE_RS ESP_RS IKE_SW ESP_SW  proposals for rswand / charon (empty: the daemon's defaults)
#   XFRM_ALG  what west's `ip xfrm state` must contain (empty: anything)
#   SW_IKE_ALGS SW_ESP_ALGS  what charon must report for the IKE / Child SA (empty: anything)
# and may define its own sub_rswan_init / sub_rswan_resp before calling interop_main.
#
# Certificate mode (AUTH=pubkey; see cert_sub / cert_matrix_main below): both sides authenticate
# with certificates from pki.sh's test PKI (root CA "root", intermediate "inter"). Per sub-case:
#   RS_KEY PEER_KEY  key type of rswand's / the peer's certificate: rsa3072 | p256 | p384 | ed25519
#   ID_KIND          fqdn (ids west.example.org / east.example.org, matched against the SAN) |
#                    dn (the certificates' subject DNs; rswand's own id left to its default)
#   CHAIN            root (end-entity certs issued by the root) | inter (issued by the
#                    intermediate, which each side sends along with its own certificate)
#   RS_SETTINGS  rswand's `settings`, as key=value[,key=value] (e.g. fragment_size=576,rsa_pss=yes)

: "${PEER:?set PEER=strongswan|libreswan before sourcing interop.sh}"
: "${TOPO:=direct}" "${IKE_RS:=}" "${ESP_RS:=}" "${IKE_SW:=}" "${ESP_SW:=}" "${XFRM_ALG:=}"
: "${SW_IKE_ALGS:=}" "${SW_ESP_ALGS:=}" "${AUTH:=psk}" "${RS_KEY:=rsa3072}" "${PEER_KEY:=rsa3072}"
: "${ID_KIND:=fqdn}" "${CHAIN:=root}" "${RS_SEND_CERT:=}" "${RS_SETTINGS:=}"
case $PEER in
strongswan) PEER_NAME=charon ;;
libreswan) PEER_NAME=pluto ;;
*) fail "interop.sh: unknown PEER '$PEER'" ;;
esac

D=$RSWAN_BIN/rswand
C=$RSWAN_BIN/rswanctl
# INTEROP_PEERS_ONLY=1: a case that runs only charon/pluto (e.g. to check the test PKI).
if [ -z "${INTEROP_PEERS_ONLY:-}" ] && ! { [ -x "$D" ] && [ -x "$C" ]; }; then
	fail "rswand/rswanctl missing in $RSWAN_BIN (cargo build --release -p rswan)"
fi
# shellcheck source=pki.sh
. "${BASH_SOURCE[0]%/*}/pki.sh"

PSK="plain-ascii interop psk, west and east"

on_exit save_logs

rswan_conf() { # <file> <local ip> <remote ip> <local id> <remote id> <local ts> <remote ts>
	local lauth rauth secret settings=
	[ -z "$RS_SETTINGS" ] || settings="settings: {$(printf '%s' "$RS_SETTINGS" | sed 's/=/: /g; s/,/, /g')}"
	if [ "$AUTH" = pubkey ]; then
		# Our id: FQDN, or (dn) none at all: rswan then uses the certificate's subject DN.
		lauth="{auth: pubkey, certs: [$(cert_files "$4" "$RS_KEY")]$([ "$ID_KIND" = dn ] || echo ", id: $4")}"
		rauth="{auth: pubkey, cacerts: [$PKI/root.crt], id: \"$(cert_id "$5")\"}"
		secret="private-rswan: {file: $PKI/$(key_name "$4" "$RS_KEY").key}"
	else
		lauth="{auth: psk, id: $4}" rauth="{auth: psk, id: $5}"
		secret="ike-interop: {id: [$4, $5], secret: \"$PSK\"}"
	fi
	(
		umask 077
		cat >"$1" <<-EOT
			$settings
			connections:
			  interop:
			    version: 2
			    local_addrs: [$2]
			    remote_addrs: [$3]
			    ${IKE_RS:+proposals: [$IKE_RS]}
			    ${RS_SEND_CERT:+send_cert: $RS_SEND_CERT}
			    local: $lauth
			    remote: $rauth
			    children:
			      net:
			        local_ts: [$6]
			        remote_ts: [$7]
			        ${ESP_RS:+esp_proposals: [$ESP_RS]}
			        mode: tunnel
			        start_action: none
			secrets:
			  $secret
		EOT
	)
}

swanctl_conf() { # <dir> <local ip> <remote ip> <local id> <remote id> <local ts> <remote ts>
	if [ "$AUTH" = pubkey ]; then swanctl_conf_cert "$@"; return; fi
	mkdir -p "$1"
	cat >"$1/swanctl.conf" <<-EOT
		connections {
			interop {
				version = 2
				local_addrs = $2
				remote_addrs = $3
				${IKE_SW:+proposals = $IKE_SW}
				local { auth = psk
					id = $4 }
				remote { auth = psk
					id = $5 }
				children {
					net {
						local_ts = $6
						remote_ts = $7
						${ESP_SW:+esp_proposals = $ESP_SW}
						mode = tunnel
					}
				}
			}
		}
		secrets {
			ike-1 { id-1 = $4
				id-2 = $5
				secret = "$PSK" }
		}
	EOT
}

pluto_conf() { # <dir> <local ip> <remote ip> <local id> <remote id> <local ts> <remote ts>
	if [ "$AUTH" = pubkey ]; then pluto_conf_cert "$@"; return; fi
	mkdir -p "$1"
	# ipsec.conf needs indented keys: spaces, since <<- strips tabs.
	cat >"$1/ipsec.conf" <<-EOT
		config setup
		    plutodebug=none
		conn interop
		    ikev2=yes
		    authby=secret
		    left=$2
		    leftid=@$4
		    leftsubnet=$6
		    leftupdown=%disabled
		    right=$3
		    rightid=@$5
		    rightsubnet=$7
		    ike=aes_gcm256-sha2_256;dh19
		    esp=aes_gcm256
		    auto=add
	EOT
	echo "@$4 @$5 : PSK \"$PSK\"" >"$1/ipsec.secrets"
}

# --- certificate mode (AUTH=pubkey) ---
# File names in $PKI: key <host>-<key type>.key; cert <host>-<key type>.crt (issued by the root)
# or <host>-<key type>-i.crt (issued by the intermediate). <host> is the id's first label.

key_name() { echo "${1%%.*}-$2"; } # <fqdn> <key type>
cert_name() { # <fqdn> <key type>
	if [ "$CHAIN" = inter ]; then echo "${1%%.*}-$2-i"; else echo "${1%%.*}-$2"; fi
}
# Comma-separated certificate files to configure for <fqdn>: its own, then the intermediate.
cert_files() { # <fqdn> <key type>
	if [ "$CHAIN" = inter ]; then
		echo "$PKI/$(cert_name "$1" "$2").crt, $PKI/inter.crt"
	else
		echo "$PKI/$(cert_name "$1" "$2").crt"
	fi
}
# The identity <fqdn>'s side authenticates as: the FQDN (in its certificate's SAN) or its DN.
cert_id() { # <fqdn>
	if [ "$ID_KIND" = dn ]; then pki_dn "$1"; else echo "$1"; fi
}

# What the current sub-case needs, generated once per boot (pki.sh caches in $PKI).
pki_for_sub() {
	local kt issuer=root
	# ECDSA CAs except the intermediate: an RSA-3072 key takes 12-25 s to generate under
	# emulation, so RSA keys are only made where RSA is what is tested (the end entities, and the
	# intermediate that signs them in the chain cases).
	pki_root root p384
	if [ "$CHAIN" = inter ]; then
		pki_inter inter root rsa3072
		issuer=inter
	fi
	for kt in $(printf '%s\n' "$RS_KEY" "$PEER_KEY" ${LKT:+"$LKT"} ${RKT:+"$RKT"} | sort -u); do
		pki_ee "$(cert_name west "$kt")" "west-$kt" "$issuer" "$kt" west.example.org 192.0.2.1 198.51.100.2
		pki_ee "$(cert_name east "$kt")" "east-$kt" "$issuer" "$kt" east.example.org 192.0.2.2
	done
}

# charon with a certificate; its own key type is $LKT, else $PEER_KEY. With CHAIN=inter, the
# intermediate goes to x509ca/ so that charon sends it along with its certificate. The key goes to
# private/, which swanctl --load-all reads.
swanctl_conf_cert() { # <dir> <local ip> <remote ip> <local id> <remote id> <local ts> <remote ts>
	local kt=${LKT:-$PEER_KEY}
	mkdir -p "$1/x509ca" "$1/private"
	[ "$CHAIN" != inter ] || cp "$PKI/inter.crt" "$1/x509ca/"
	cp "$PKI/$(key_name "$4" "$kt").key" "$1/private/"
	cat >"$1/swanctl.conf" <<-EOT
		connections {
			interop {
				version = 2
				local_addrs = $2
				remote_addrs = $3
				${IKE_SW:+proposals = $IKE_SW}
				${SW_SEND_CERT:+send_cert = $SW_SEND_CERT}
				local { auth = pubkey
					certs = $PKI/$(cert_name "$4" "$kt").crt
					id = "$(cert_id "$4")" }
				remote { auth = pubkey
					id = "$(cert_id "$5")"
					cacerts = $PKI/root.crt }
				children {
					net {
						local_ts = $6
						remote_ts = $7
						${ESP_SW:+esp_proposals = $ESP_SW}
						mode = tunnel
					}
				}
			}
		}
	EOT
}

# pluto with a certificate from its NSS db (nickname = the cert's file name). leftauth and
# rightauth follow the key types ($LKT, else $PEER_KEY; $RKT, else $RS_KEY): with libreswan's
# default authby=rsasig,ecdsa, pluto 4.10 signs with RSA whatever its key. rightca: without it,
# pluto as initiator sends no CERTREQ, and a peer with send_cert = ifasked then sends no cert.
pluto_conf_cert() { # <dir> <local ip> <remote ip> <local id> <remote id> <local ts> <remote ts>
	local kt=${LKT:-$PEER_KEY} rkt=${RKT:-$RS_KEY} lid rid
	mkdir -p "$1"
	if [ "$ID_KIND" = dn ]; then
		lid=%fromcert rid="\"$(pki_dn "$5")\""
	else
		lid=@$4 rid=@$5
	fi
	cat >"$1/ipsec.conf" <<-EOT
		config setup
		    plutodebug=none
		conn interop
		    ikev2=yes
		    left=$2
		    leftid=$lid
		    leftcert=$(cert_name "$4" "$kt")
		    leftsendcert=always
		    leftauth=$(pluto_auth "$kt")
		    leftsubnet=$6
		    leftupdown=%disabled
		    right=$3
		    rightid=$rid
		    rightauth=$(pluto_auth "$rkt")
		    rightca="$(pki_ca_dn root)"
		    rightsubnet=$7
		    ike=aes_gcm256-sha2_256;dh19
		    esp=aes_gcm256
		    auto=add
	EOT
	: >"$1/ipsec.secrets"
	echo "$(cert_name "$4" "$kt") $(key_name "$4" "$kt")" >"$1/nss-cert"
}
pluto_auth() { if [ "$1" = rsa3072 ]; then echo rsasig; else echo ecdsa; fi; }

# The NSS db pluto_start then opens: root CA trusted for peers, our certificate and key from a
# PKCS#12 (with the intermediate when CHAIN=inter).
pluto_nss_import() { # <dir>
	local cert key
	read -r cert key <"$1/nss-cert"
	if [ "$CHAIN" = inter ]; then pki_p12 "$cert" "$key" "$PKI/inter.crt"; else pki_p12 "$cert" "$key"; fi
	mkdir -p "$1/nss"
	must certutil -N -d "sql:$1/nss" --empty-password
	must certutil -A -d "sql:$1/nss" -n rswan-test-root -t CT,, -a -i "$PKI/root.crt"
	must pk12util -i "$PKI/$cert.p12" -d "sql:$1/nss" -W "$PKI_P12_PASS" -K ""
}

pluto_up() { # <ns> <dir>
	[ ! -e "$2/nss-cert" ] || pluto_nss_import "$2"
	pluto_start "$1" "$2"
	wait_for 20 "pluto to load connection interop" sh -c \
		"ip netns exec $1 '$LIBRESWAN/usr/libexec/ipsec/whack' --ctlsocket '$2/run/pluto.ctl' --status | grep -q '\"interop\"'"
}

# whack waits for the outcome of --initiate/--rekey-*/--terminate, with no timeout of its own:
# bound it, so that a peer that never answers fails the step instead of the whole case.
whack_to() { # <secs> <ns> <dir> <whack args...>
	local secs=$1 ns=$2 dir=$3
	shift 3
	timeout "$secs" ip netns exec "$ns" "$LIBRESWAN/usr/libexec/ipsec/whack" --ctlsocket "$dir/run/pluto.ctl" "$@"
}

rswand_start() { # <ns> <dir>
	spawn_in "$1" "$2/rswand.log" env RUST_LOG=debug "$D" --config "$2/rswan.yaml" --socket "$2/rswan.sock"
	wait_for 20 "rswand in $1 to open its control socket" test -S "$2/rswan.sock"
}

# The peer's side, whichever PEER is.
peer_conf() { # <dir> <local ip> <remote ip> <local id> <remote id> <local ts> <remote ts>
	if [ "$PEER" = strongswan ]; then swanctl_conf "$@"; else pluto_conf "$@"; fi
}
# CHARON_EXTRA: more charon settings. Certificate cases grep charon's log while charon runs:
# flush_line makes every line reach the file at once.
CHARON_FLUSH="filelog { charon-log { flush_line = yes } }"
peer_start() { # <ns> <dir>
	if [ "$PEER" = strongswan ]; then charon_start "$1" "$2" "$CHARON_FLUSH ${CHARON_EXTRA:-}"; else pluto_up "$1" "$2"; fi
}
peer_sas_ok() { # <ns> <dir>
	if [ "$PEER" = strongswan ]; then charon_sas_ok "$@"; else pluto_sas_ok "$@"; fi
}

# Checks rswand's own view: IKE SA established, Child SA installed, all four counters non-zero
# (and, behind the NAT, IKE on port 4500). Prints one summary line; exits non-zero with the
# reason otherwise.
rswan_status_ok() { # <dir>
	"$C" --socket "$1/rswan.sock" status --json >"$1/status.json" || return 1
	python3 - "$1/status.json" "$TOPO" <<-'EOP'
		import json, sys
		j = json.load(open(sys.argv[1]))
		c = [x for x in j["connections"] if x["name"] == "interop"]
		if not c: sys.exit("no connection 'interop' in status")
		c = c[0]
		ike = [s for s in c["ike_sas"] if s["state"] == "established"]
		if not ike: sys.exit("no established IKE SA: %s" % [s["state"] for s in c["ike_sas"]])
		if sys.argv[2] == "nat":
		    # NAT detected: IKE must have moved to the NAT-T port on both ends (RFC 7296 2.23).
		    if not (ike[0]["local"].endswith(":4500") and ike[0]["remote"].endswith(":4500")):
		        sys.exit("IKE SA not on port 4500: %s <-> %s" % (ike[0]["local"], ike[0]["remote"]))
		ch = [s for s in c["children"] if s["state"] == "installed"]
		if not ch: sys.exit("no installed Child SA: %s" % [s["state"] for s in c["children"]])
		k = ch[0].get("counters") or {}
		vals = [k.get(n, 0) for n in ("enc_packets", "enc_bytes", "dec_packets", "dec_bytes")]
		if 0 in vals: sys.exit("zero Child SA counter (enc pkts, enc bytes, dec pkts, dec bytes): %s" % vals)
		print("rswan: IKE %s %s<->%s ids %s<->%s algs %s; child %s spi in/out %s/%s algs %s counters %s" % (
			"initiator" if ike[0]["initiator"] else "responder", ike[0]["local"], ike[0]["remote"],
			ike[0]["local_id"], ike[0]["remote_id"], ike[0]["algorithms"], ch[0]["name"],
			ch[0]["spi_in"], ch[0]["spi_out"], ch[0]["algorithms"], vals))
	EOP
}

# charon's view: established IKE SA, installed tunnel-mode child with packets in and out (and
# the expected algorithms when the case names them).
charon_sas_ok() { # <ns> <dir>
	local sas
	sas=$(swanctl_in "$1" "$2" --list-sas) || return 1
	printf '%s\n' "$sas"
	grep -q 'ESTABLISHED' <<<"$sas" || { echo "charon lists no ESTABLISHED IKE SA"; return 1; }
	grep -q 'INSTALLED, TUNNEL' <<<"$sas" || { echo "charon lists no INSTALLED tunnel-mode Child SA"; return 1; }
	grep -Eq '^ +in  .* [1-9][0-9]* packets' <<<"$sas" || { echo "charon: no inbound packets counted"; return 1; }
	grep -Eq '^ +out .* [1-9][0-9]* packets' <<<"$sas" || { echo "charon: no outbound packets counted"; return 1; }
	if [ -n "$SW_IKE_ALGS" ]; then
		grep -qF "$SW_IKE_ALGS" <<<"$sas" || { echo "charon's IKE SA does not use $SW_IKE_ALGS"; return 1; }
	fi
	if [ -n "$SW_ESP_ALGS" ]; then
		grep -qF "$SW_ESP_ALGS" <<<"$sas" || { echo "charon's Child SA does not use $SW_ESP_ALGS"; return 1; }
	fi
}

# pluto's view: an ESP tunnel for "interop" with bytes counted in and out.
pluto_sas_ok() { # <ns> <dir>
	local ts
	ts=$(whack_in "$1" "$2" --trafficstatus) || return 1
	printf '%s\n' "$ts"
	grep -q '"interop".*type=ESP' <<<"$ts" || { echo "pluto lists no ESP tunnel for interop"; return 1; }
	grep -Eq 'inBytes=[1-9]' <<<"$ts" || { echo "pluto: no inbound bytes counted"; return 1; }
	grep -Eq 'outBytes=[1-9]' <<<"$ts" || { echo "pluto: no outbound bytes counted"; return 1; }
}

# Traffic checks shared by both roles: (behind the NAT: all SAs ESP-in-UDP), ping passes both
# ways, guard unchanged, 2 SAs with traffic per side, expected algorithms.
traffic_ok() { # <east guard drops before> <west guard drops before>
	local drops ns st n
	if [ "$TOPO" = nat ]; then
		# ESP-in-UDP first: without it nothing crosses the NAT, and this is the cause to report.
		for ns in west east; do
			st=$(in_ns "$ns" ip xfrm state list)
			n=$(grep -c 'encap type espinudp' <<<"$st" || true)
			[ "$n" = 2 ] || { printf '%s\n' "$st"; fail "$ns: $n of 2 SAs have encap type espinudp"; }
		done
		log "all SAs are ESP-in-UDP"
	fi
	assert_ping_ok west
	assert_ping_ok east
	drops=$(guard_drops east)
	[ "$drops" = "$1" ] || fail "guard in east dropped LAN packets although the tunnel is up ($1 -> $drops)"
	drops=$(guard_drops west)
	[ "$drops" = "$2" ] || fail "guard in west dropped LAN packets although the tunnel is up ($2 -> $drops)"
	assert_sa_traffic west 2
	assert_sa_traffic east 2
	if [ -n "$XFRM_ALG" ]; then
		st=$(in_ns west ip xfrm state list)
		grep -q "$XFRM_ALG" <<<"$st" || { printf '%s\n' "$st"; fail "west's SAs do not use $XFRM_ALG"; }
	fi
}

# The tunnel is not there yet: plain-text LAN traffic is dropped by the guard on both sides.
before() {
	assert_ping_fails west
	# Through the NAT, plain-text pings arrive masqueraded (source 192.0.2.254), so the guards
	# cannot see them: only the failure itself is checked here. After the tunnel, the guards
	# still prove that the LAN-sourced packets came out of an SA.
	if [ "$TOPO" = nat ]; then return 0; fi
	assert_ping_fails east
	[ "$(guard_drops east)" -gt 0 ] || fail "guard in east dropped nothing before the tunnel existed"
	[ "$(guard_drops west)" -gt 0 ] || fail "guard in west dropped nothing before the tunnel existed"
}

# Topology, configurations and daemons of one sub-case; sets R (rswand's dir) and S (the
# peer's). rswan-init: rswand in west initiates; rswan-resp: the peer in west initiates.
setup_sub() { # rswan-init | rswan-resp
	local west_seen
	[ "$AUTH" != pubkey ] || pki_for_sub
	if [ "$TOPO" = nat ]; then topo_nat; west_seen=$WEST_IP_SEEN; else topo_two_gateways; west_seen=$WEST_IP; fi
	if [ "$1" = rswan-init ]; then
		R=$WORK/rswan-init/west S=$WORK/rswan-init/east
		mkdir -p "$R" "$S"
		rswan_conf "$R/rswan.yaml" "$WEST_IP" "$EAST_IP" west.example.org east.example.org "$WEST_LAN" "$EAST_LAN"
		peer_conf "$S" "$EAST_IP" "$west_seen" east.example.org west.example.org "$EAST_LAN" "$WEST_LAN"
		peer_start east "$S"
		rswand_start west "$R"
	else
		S=$WORK/rswan-resp/west R=$WORK/rswan-resp/east
		mkdir -p "$R" "$S"
		peer_conf "$S" "$WEST_IP" "$EAST_IP" west.example.org east.example.org "$WEST_LAN" "$EAST_LAN"
		rswan_conf "$R/rswan.yaml" "$EAST_IP" "$west_seen" east.example.org west.example.org "$EAST_LAN" "$WEST_LAN"
		rswand_start east "$R"
		peer_start west "$S"
	fi
}

rswan_up() { # <rswan dir>: rswand initiates
	local out
	out=$("$C" --socket "$1/rswan.sock" up interop --timeout 40 2>&1) || {
		printf '%s\n' "$out"
		fail "rswan-init: rswanctl up interop failed"
	}
	printf '%s\n' "$out"
}

peer_initiate() { # <ns> <peer dir>: the peer initiates
	local out
	if [ "$PEER" = strongswan ]; then
		out=$(swanctl_in "$1" "$2" --initiate --child net --timeout 40 2>&1) || {
			printf '%s\n' "$out"
			fail "rswan-resp: swanctl --initiate failed: $(grep -E 'error|failed|no proposal|peer' <<<"$out" | tail -n 3 | tr '\n' ' ' || true)"
		}
	else
		out=$(whack_to 40 "$1" "$2" --name interop --initiate 2>&1) || {
			printf '%s\n' "$out"
			fail "rswan-resp: whack --initiate failed: $(tail -n 3 <<<"$out" | tr '\n' ' ')"
		}
	fi
	printf '%s\n' "$out"
}

# After the handshake: traffic, rswand's and the peer's views.
established_ok() { # <sub-case> <peer ns> <east drops before> <west drops before>
	local out
	traffic_ok "$3" "$4"
	out=$(rswan_status_ok "$R" 2>&1) || { printf '%s\n' "$out"; fail "$1: rswand status: $out"; }
	log "$out"
	out=$(peer_sas_ok "$2" "$S") || { printf '%s\n' "$out"; fail "$1: $PEER_NAME ($2) SAs: $(tail -n1 <<<"$out")"; }
	printf '%s\n' "$out"
}

# The default sub-cases: first handshake from either side, then every check.
sub_rswan_init() {
	local t0 dw de
	setup_sub rswan-init
	before
	de=$(guard_drops east) dw=$(guard_drops west)
	t0=$EPOCHREALTIME
	rswan_up "$R"
	log "rswan-init: up took $(elapsed "$t0")s"
	established_ok rswan-init east "$de" "$dw"
	log "rswan-init: ok"
}

sub_rswan_resp() {
	local t0 dw de
	setup_sub rswan-resp
	before
	de=$(guard_drops east) dw=$(guard_drops west)
	t0=$EPOCHREALTIME
	peer_initiate west "$S"
	log "rswan-resp: initiate took $(elapsed "$t0")s"
	established_ok rswan-resp west "$de" "$dw"
	log "rswan-resp: ok"
}

# --- lifecycle (rekey, delete) ---

# One line about rswand's view: "<ike spis> <established IKE SAs> <child spi_in> <installed
# Child SAs>" (spis "-" when there is none).
rswan_brief() { # <dir>
	"$C" --socket "$1/rswan.sock" status --json >"$1/status-brief.json" || return 1
	python3 - "$1/status-brief.json" <<-'EOP'
		import json, sys
		j = json.load(open(sys.argv[1]))
		c = [x for x in j["connections"] if x["name"] == "interop"][0]
		ike = [s for s in c["ike_sas"] if s["state"] == "established"]
		ch = [s for s in c["children"] if s["state"] == "installed"]
		print(ike[0]["spi_i"] + ike[0]["spi_r"] if ike else "-", len(ike),
		      ch[0]["spi_in"] if ch else "-", len(ch))
	EOP
}

# rekeyed <dir> <old brief> <field: 1 = IKE, 3 = child>: true once that SPI changed and there is
# exactly one IKE SA and one Child SA again, and each kernel holds exactly 2 SAs.
rekeyed() {
	local b
	b=$(rswan_brief "$1") || return 1
	read -r -a now <<<"$b"
	read -r -a old <<<"$2"
	[ "${now[$(($3 - 1))]}" != "${old[$(($3 - 1))]}" ] && [ "${now[1]}" = 1 ] && [ "${now[3]}" = 1 ] &&
		[ "$(xfrm_state_count west)" = 2 ] && [ "$(xfrm_state_count east)" = 2 ]
}

# No SA in either kernel, none established in rswand, none listed by the peer.
all_gone() { # <rswan dir> <peer ns> <peer dir>
	local b out
	[ "$(xfrm_state_count west)" = 0 ] && [ "$(xfrm_state_count east)" = 0 ] || return 1
	b=$(rswan_brief "$1") || return 1
	[ "$(cut -d' ' -f2 <<<"$b")" = 0 ] || return 1
	if [ "$PEER" = strongswan ]; then
		out=$(swanctl_in "$2" "$3" --list-sas) || return 1
		! grep -q 'ESTABLISHED' <<<"$out"
	else
		out=$(whack_in "$2" "$3" --trafficstatus) || return 1
		! grep -q 'type=ESP' <<<"$out"
	fi
}

# rekeys <peer ns> <peer dir> <rswan dir>: the peer rekeys the Child SA, then the IKE SA.
rekeys() {
	local ns=$1 S=$2 R=$3 b0 b1 out
	b0=$(rswan_brief "$R")
	log "before rekeys (ike spis, #ike, child spi_in, #children): $b0"
	if [ "$PEER" = strongswan ]; then
		must swanctl_in "$ns" "$S" --rekey --child net
	else
		must whack_to 20 "$ns" "$S" --name interop --rekey-ipsec
	fi
	wait_for 20 "rswand to replace the Child SA after $PEER_NAME's rekey" rekeyed "$R" "$b0" 3
	b1=$(rswan_brief "$R")
	log "after Child SA rekey: $b1"
	assert_ping_ok west
	assert_ping_ok east
	assert_sa_traffic west 2
	assert_sa_traffic east 2
	if [ "$PEER" = strongswan ]; then
		must swanctl_in "$ns" "$S" --rekey --ike interop
	else
		must whack_to 20 "$ns" "$S" --name interop --rekey-ike
	fi
	wait_for 20 "rswand to replace the IKE SA after $PEER_NAME's rekey" rekeyed "$R" "$b1" 1
	log "after IKE SA rekey: $(rswan_brief "$R")"
	if [ "$PEER" = strongswan ]; then
		out=$(swanctl_in "$ns" "$S" --list-sas)
		printf '%s\n' "$out"
		[ "$(grep -c 'ESTABLISHED' <<<"$out")" = 1 ] || fail "charon does not list exactly one ESTABLISHED IKE SA after the rekey"
	else
		out=$(whack_in "$ns" "$S" --trafficstatus)
		printf '%s\n' "$out"
		[ "$(grep -c 'type=ESP' <<<"$out")" = 1 ] || fail "pluto does not list exactly one tunnel after the rekeys"
	fi
	assert_ping_ok west
	assert_ping_ok east
	# The Child SA must now live under the new IKE SA: check rswand's full view again.
	out=$(rswan_status_ok "$R" 2>&1) || fail "rswand status after the rekeys: $out"
	log "$out"
}


# Both sub-cases always run; the case fails if either does.
interop_main() {
	failed=()
	run_sub rswan_init
	run_sub rswan_resp
	[ ${#failed[@]} = 0 ] || fail "sub-cases failed: ${failed[*]} (see log)"
	pass
}

# --- certificate matrix ---

# One certificate sub-case on a fresh topology:
#   cert_sub <name> <rswan-init|rswan-resp> <direct|nat> <rswan key> <peer key> <fqdn|dn> [root|inter
#            [<rswand's settings as key=value[,key=value]>]]
# Besides interop_main's checks (guarded ping before/after, SAs with traffic, ESP-in-UDP behind
# the NAT, both daemons' views), rswand must name the peer by the expected identity. A case may
# define cert_extra_checks <role> for more (run after those).
cert_sub() {
	local name=$1 role=$2
	AUTH=pubkey TOPO=$3 RS_KEY=$4 PEER_KEY=$5 ID_KIND=$6 CHAIN=${7:-root} RS_SETTINGS=${8:-}
	run_sub "$name" cert_sub_body "$name" "$role"
}

cert_sub_body() { # <name> <role>
	local role=$2 t0=$EPOCHREALTIME peer_id out
	# A folder of its own (in this subshell only): setup_sub's folders are named by role, and a
	# previous sub-case's leftovers (a dead charon's VICI socket, an NSS db) must not be reused.
	WORK=$WORK/$1
	pki_for_sub
	log "$role: test PKI ready after $(elapsed "$t0")s (rswan $RS_KEY, $PEER_NAME $PEER_KEY, ids $ID_KIND, chain $CHAIN, $TOPO)"
	if [ "$role" = rswan-init ]; then
		sub_rswan_init
		peer_id=$(cert_id east.example.org)
	else
		sub_rswan_resp
		peer_id=$(cert_id west.example.org)
	fi
	out=$(python3 -c '
import json, sys
c = [x for x in json.load(open(sys.argv[1]))["connections"] if x["name"] == "interop"][0]
print([s["remote_id"] for s in c["ike_sas"] if s["state"] == "established"][0])' "$R/status.json")
	[ "$out" = "$peer_id" ] || fail "$role: rswand names the peer '$out', expected '$peer_id'"
	if [ "$PEER" = strongswan ]; then
		# What charon verified: the certificate rswand sent and its signature scheme.
		out=$(grep -E "received (end entity|issuer) cert|authentication of .* (successful|failed)" "$S/charon.log" || true)
		log "charon: ${out//$'\n'/ | }"
	else
		out=$(grep -E "authenticated peer|established IKE SA" "$S/pluto.log" || true)
		log "pluto: ${out//$'\n'/ | }"
	fi
	if declare -F cert_extra_checks >/dev/null; then cert_extra_checks "$role"; fi
}

# Runs the cert_sub lines given on stdin (one per line, `#` comments allowed), each on a fresh
# topology; every one runs, and the case fails if any does.
cert_matrix_main() {
	local line
	failed=()
	while read -r line; do
		line=${line%%#*}
		[ -n "${line// /}" ] || continue
		# shellcheck disable=SC2086 # the line is the argument list
		cert_sub $line </dev/null
	done
	log "sub-cases: $(tr '\n' ';' <"$RESULTS/subcases" 2>/dev/null)"
	[ ${#failed[@]} = 0 ] || fail "sub-cases failed: ${failed[*]} (see log)"
	pass
}
