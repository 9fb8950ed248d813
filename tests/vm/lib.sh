# shellcheck shell=bash
# Helpers for real-kernel test cases (tests/vm/cases/*.sh). A case starts with
#     . "$RSWAN_VM_LIB"
# and ends with `pass`. See tests/vm/README.md for the conventions.
#
# Forks cost ~40 ms each under emulation: helpers batch `ip` and `nft` commands where they can.

set -Eeuo pipefail

: "${RESULTS:?RESULTS is not set: run cases through tests/vm/run.sh}"
: "${CASE:?CASE is not set: run cases through tests/vm/run.sh}"
: "${WORK:=/tmp/rswan-vm/$CASE}"
mkdir -p "$WORK"

# ---------------------------------------------------------------------------
# Status and logging

log() { printf '[%s] %s\n' "$EPOCHREALTIME" "$*"; }

# The first verdict wins: a fail from a subshell is not overwritten by a later pass.
pass() {
	if [ -s "$RESULTS/status" ]; then
		log "pass requested, but status is already: $(cat "$RESULTS/status")"
		exit 1
	fi
	echo pass >"$RESULTS/status"
	log "PASS"
	exit 0
}

fail() {
	[ -s "$RESULTS/status" ] || printf 'fail: %s\n' "$*" >"$RESULTS/status"
	log "FAIL: $*"
	exit 1
}

_lib_main_pid=$BASHPID

# Only the case's own shell turns a failed command into a verdict: in a background job (a
# daemon stopped on purpose exits non-zero) or a $(...) the caller sees the failure anyway.
_lib_on_err() {
	local rc=$1 line=$2 cmd=$3
	[ "$BASHPID" = "$_lib_main_pid" ] || exit "$rc"
	fail "line $line: '$cmd' exited with $rc"
}
trap '_lib_on_err $? $LINENO "$BASH_COMMAND"' ERR

# Cleanup actions run at exit, last registered first. cleanup_topo is always run.
_lib_exit_actions=()
on_exit() { _lib_exit_actions=("$*" "${_lib_exit_actions[@]}"); }
_lib_on_exit() {
	local rc=$? a
	[ "$BASHPID" = "$_lib_main_pid" ] || return 0
	trap - ERR
	set +e
	for a in "${_lib_exit_actions[@]}"; do
		eval "$a"
	done
	cleanup_topo >/dev/null 2>&1
	if [ ! -s "$RESULTS/status" ]; then
		printf 'fail: exited with code %s without calling pass or fail\n' "$rc" >"$RESULTS/status"
	fi
	exit "$rc"
}
trap _lib_on_exit EXIT
# The runner's timeout sends SIGTERM; say so rather than leave a misleading exit code.
trap 'fail "terminated by SIGTERM (the case timeout?)"' TERM

# Runs a command, failing the case with a readable message (and the output) if it fails.
must() {
	local out
	if ! out=$("$@" 2>&1); then
		printf '%s\n' "$out"
		fail "command failed: $*"
	fi
	[ -z "$out" ] || printf '%s\n' "$out"
}

# Waits until a command succeeds: wait_for <seconds> <what> <command...>
wait_for() {
	local secs=$1 what=$2 deadline
	shift 2
	deadline=$((EPOCHSECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		[ "$EPOCHSECONDS" -lt "$deadline" ] || fail "timed out after ${secs}s waiting for $what"
		sleep 0.1
	done
}

in_ns() {
	local ns=$1
	shift
	ip netns exec "$ns" "$@"
}

# spawn_in <ns> <log file> <cmd...>: starts a daemon in <ns> in the background, output to the
# log file; its pid is in $SPAWNED_PID. Use this rather than `in_ns ... &`, which would run
# the case's traps in the background copy of the shell.
spawn_in() {
	local ns=$1 logf=$2
	shift 2
	(
		trap - ERR EXIT
		exec ip netns exec "$ns" "$@" >"$logf" 2>&1 </dev/null
	) &
	# shellcheck disable=SC2034 # read by the cases
	SPAWNED_PID=$!
}

# rswand_pair: starts rswand ($D) in west and east with $WORK/<ns>.yaml and the control socket
# $WORK/<ns>.sock, saves each log into $RESULTS on exit, and waits for both sockets.
rswand_pair() {
	local ns
	for ns in west east; do
		spawn_in "$ns" "$WORK/$ns.log" "$D" --config "$WORK/$ns.yaml" --socket "$WORK/$ns.sock"
		on_exit "kill $SPAWNED_PID 2>/dev/null; cp '$WORK/$ns.log' '$RESULTS/rswand-$ns.log' 2>/dev/null"
	done
	wait_for 20 "west control socket" test -S "$WORK/west.sock"
	wait_for 20 "east control socket" test -S "$WORK/east.sock"
}

# ctl <ns> <args...>: rswanctl ($C) against the rswand that rswand_pair started in <ns>.
ctl() {
	local ns=$1
	shift
	in_ns "$ns" "$C" --socket "$WORK/$ns.sock" "$@"
}

# elapsed <start $EPOCHREALTIME>: seconds since then, two decimals.
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }'; }

# save_logs: copies the daemons' logs, outputs and JSON below $WORK (sub-case folders included)
# into $RESULTS, named by their path. Cases call it at exit (on_exit save_logs) and run_sub after
# each sub-case, since a case killed by its timeout runs no exit actions.
save_logs() {
	local f s
	while IFS= read -r f; do
		s=${f#"$WORK"/}
		cp "$f" "$RESULTS/${s//\//-}"
	done < <(find "$WORK" -mindepth 2 -maxdepth 4 -type f \( -name '*.log' -o -name '*.out' -o -name '*.json' \) 2>/dev/null)
}

# run_sub <name> [<command...>: default sub_<name>]: one sub-case in a subshell with its own ERR
# trap, then save_logs and cleanup_topo. A failure is added to $failed and the next sub-case
# still runs; each verdict and duration also goes to $RESULTS/subcases.
run_sub() {
	local name=$1 rc=0 t0=$EPOCHREALTIME verdict
	shift
	[ $# -gt 0 ] || set -- "sub_$name"
	log "=== sub-case $name"
	# Not `( ... ) || rc=$?`: inside a tested command, bash ignores set -e and the ERR trap.
	trap - ERR
	set +e
	(
		set -e
		trap 'fail "$name: line $LINENO: '\''$BASH_COMMAND'\'' exited with $?"' ERR
		"$@"
	)
	rc=$?
	set -e
	trap '_lib_on_err $? $LINENO "$BASH_COMMAND"' ERR
	save_logs
	cleanup_topo
	if [ "$rc" = 0 ]; then verdict=PASS; else verdict=FAIL failed+=("$name"); fi
	log "=== sub-case $name: $verdict ($(elapsed "$t0")s)"
	echo "$name $verdict $(elapsed "$t0")" >>"$RESULTS/subcases"
}

# ---------------------------------------------------------------------------
# Topologies
#
# topo_two_gateways:
#   west: eth0 192.0.2.1/24 2001:db8::1/64     lan0 10.1.0.1/24 fd00:1::1/64
#   east: eth0 192.0.2.2/24 2001:db8::2/64     lan0 10.2.0.1/24 fd00:2::1/64
#   routes to the other LAN via the peer; guard (see below) in both.
# topo_nat (IPv4 only):
#   west: eth0 198.51.100.2/24 --- nat: eth0 198.51.100.1/24, eth1 192.0.2.254/24 (masquerade)
#   east: eth0 192.0.2.2/24; east sees west as 192.0.2.254.
#
# The guard drops packets from the remote LAN to the local LAN that did not come through IPsec
# (no secpath), counting them: a ping between the LANs succeeds only through an SA.

WEST_LAN=10.1.0.0/24
EAST_LAN=10.2.0.0/24
WEST_LAN_IP=10.1.0.1
EAST_LAN_IP=10.2.0.1
WEST_LAN6=fd00:1::/64
EAST_LAN6=fd00:2::/64
WEST_LAN6_IP=fd00:1::1
EAST_LAN6_IP=fd00:2::1
EAST_IP=192.0.2.2
EAST_IP6=2001:db8::2
WEST_IP6=2001:db8::1
export WEST_LAN EAST_LAN WEST_LAN_IP EAST_LAN_IP WEST_LAN6 EAST_LAN6 WEST_LAN6_IP EAST_LAN6_IP EAST_IP EAST_IP6 WEST_IP6

_lib_gateway() {
	local ns=$1 ip4=$2 ip6=$3 lan4=$4 lan6=$5 gw4=$6 gw6=$7 rlan4=$8 rlan6=$9
	ip -n "$ns" -batch - <<-EOF
		link set lo up
		link set eth0 up
		addr add $ip4 dev eth0
		link add lan0 type dummy
		link set lan0 up
		addr add $lan4 dev lan0
		route add $rlan4 via $gw4
	EOF
	if [ -n "$ip6" ]; then
		ip -n "$ns" -batch - <<-EOF
			addr add $ip6 dev eth0 nodad
			addr add $lan6 dev lan0 nodad
			route add $rlan6 via $gw6
		EOF
	fi
}

# guard_install <ns> <remote lan4> <local lan4> [<remote lan6> <local lan6>]
guard_install() {
	local ns=$1 r4=$2 l4=$3 r6=${4:-} l6=${5:-} v6=
	if [ -n "$r6" ]; then
		v6="ip6 saddr $r6 ip6 daddr $l6 meta secpath missing counter drop"
	fi
	in_ns "$ns" nft -f - <<-EOF
		table inet guard {
			chain in {
				type filter hook prerouting priority -150; policy accept;
				ip saddr $r4 ip daddr $l4 meta secpath missing counter drop
				$v6
			}
		}
	EOF
}

# Packets the guard in <ns> dropped so far (IPv4 and IPv6 together).
guard_drops() {
	in_ns "$1" nft list chain inet guard in |
		awk '{ for (i = 1; i < NF; i++) if ($i == "packets") s += $(i + 1) } END { print s + 0 }'
}

topo_two_gateways() {
	WEST_IP=192.0.2.1
	WEST_IP_SEEN=192.0.2.1
	export WEST_IP WEST_IP_SEEN
	ip netns add west
	ip netns add east
	ip link add eth0 netns west type veth peer name eth0 netns east
	_lib_gateway west "$WEST_IP/24" "$WEST_IP6/64" "$WEST_LAN_IP/24" "$WEST_LAN6_IP/64" \
		"$EAST_IP" "$EAST_IP6" "$EAST_LAN" "$EAST_LAN6"
	_lib_gateway east "$EAST_IP/24" "$EAST_IP6/64" "$EAST_LAN_IP/24" "$EAST_LAN6_IP/64" \
		"$WEST_IP" "$WEST_IP6" "$WEST_LAN" "$WEST_LAN6"
	guard_install west "$EAST_LAN" "$WEST_LAN" "$EAST_LAN6" "$WEST_LAN6"
	guard_install east "$WEST_LAN" "$EAST_LAN" "$WEST_LAN6" "$EAST_LAN6"
}

topo_nat() {
	WEST_IP=198.51.100.2
	WEST_IP_SEEN=192.0.2.254
	NAT_INSIDE_IP=198.51.100.1
	NAT_OUTSIDE_IP=192.0.2.254
	export WEST_IP WEST_IP_SEEN NAT_INSIDE_IP NAT_OUTSIDE_IP
	ip netns add west
	ip netns add nat
	ip netns add east
	ip link add eth0 netns west type veth peer name eth0 netns nat
	ip link add eth1 netns nat type veth peer name eth0 netns east
	_lib_gateway west "$WEST_IP/24" "" "$WEST_LAN_IP/24" "" "$NAT_INSIDE_IP" "" "$EAST_LAN" ""
	ip -n west route add 192.0.2.0/24 via "$NAT_INSIDE_IP"
	_lib_gateway east "$EAST_IP/24" "" "$EAST_LAN_IP/24" "" "$NAT_OUTSIDE_IP" "" "$WEST_LAN" ""
	ip -n nat -batch - <<-EOF
		link set lo up
		link set eth0 up
		link set eth1 up
		addr add $NAT_INSIDE_IP/24 dev eth0
		addr add $NAT_OUTSIDE_IP/24 dev eth1
	EOF
	in_ns nat sysctl -qw net.ipv4.ip_forward=1
	in_ns nat nft -f - <<-EOF
		table ip nat {
			chain post {
				type nat hook postrouting priority 100; policy accept;
				oifname "eth1" masquerade
			}
		}
	EOF
	guard_install west "$EAST_LAN" "$WEST_LAN"
	guard_install east "$WEST_LAN" "$EAST_LAN"
}

# Kills every process in the topology's namespaces and deletes them. Safe to call twice.
cleanup_topo() {
	local ns pid
	for ns in west east nat; do
		[ -e "/run/netns/$ns" ] || continue
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			kill -KILL "$pid" 2>/dev/null || true
		done
		ip netns del "$ns" 2>/dev/null || true
	done
}

# ---------------------------------------------------------------------------
# Traffic assertions. Source and destination are LAN addresses by default:
#   assert_ping_ok <ns> [dst] [src]      at least 3 replies within 10 s
#   assert_ping_fails <ns> [dst] [src]   no reply to 2 pings (1 s wait)
# With one argument, west pings east's LAN from its own LAN, and vice versa.

_lib_ping_args() {
	local ns=$1 dst=${2:-} src=${3:-}
	if [ -z "$dst" ]; then
		case $ns in
		west) dst=$EAST_LAN_IP src=${src:-$WEST_LAN_IP} ;;
		east) dst=$WEST_LAN_IP src=${src:-$EAST_LAN_IP} ;;
		*) fail "ping from $ns needs a destination" ;;
		esac
	fi
	_ping_dst=$dst
	_ping_src=$src
}

ping_from() {
	local ns=$1 src=$2 dst=$3
	shift 3
	if [ -n "$src" ]; then
		in_ns "$ns" ping -n -I "$src" "$@" "$dst"
	else
		in_ns "$ns" ping -n "$@" "$dst"
	fi
}

assert_ping_ok() {
	local out
	_lib_ping_args "$@"
	if ! out=$(ping_from "$1" "$_ping_src" "$_ping_dst" -c 3 -i 0.2 -w 10 2>&1); then
		printf '%s\n' "$out"
		fail "ping $1 ${_ping_src:+$_ping_src }-> $_ping_dst: expected replies, got none or too few"
	fi
	log "ping $1 ${_ping_src:+$_ping_src }-> $_ping_dst ok"
}

assert_ping_fails() {
	local out
	_lib_ping_args "$@"
	if out=$(ping_from "$1" "$_ping_src" "$_ping_dst" -c 2 -i 0.2 -W 1 2>&1); then
		printf '%s\n' "$out"
		fail "ping $1 ${_ping_src:+$_ping_src }-> $_ping_dst: expected no reply, got one"
	fi
	log "ping $1 ${_ping_src:+$_ping_src }-> $_ping_dst fails, as expected"
}

# ---------------------------------------------------------------------------
# XFRM inspection

# Number of SAs in <ns>.
xfrm_state_count() {
	in_ns "$1" ip xfrm state list | grep -c '^src ' || true
}

# Prints "<src> <dst> <spi> <packets>" per SA in <ns>.
xfrm_state_packets() {
	in_ns "$1" ip -s xfrm state list | awk '
		/^src / { src = $2; dst = $4 }
		/ spi / { for (i = 1; i < NF; i++) if ($i == "spi") spi = $(i + 1) }
		/\(packets\)/ { if (cur) { n = $0; sub(/\(packets\).*/, "", n); sub(/.*, */, "", n); print src, dst, spi, n + 0; cur = 0 } }
		/lifetime current:/ { cur = 1 }'
}

# assert_sa_traffic <ns> <expected SA count>: that many SAs, each with packets counted.
assert_sa_traffic() {
	local ns=$1 want=$2 lines n zero
	lines=$(xfrm_state_packets "$ns")
	n=$(printf '%s\n' "$lines" | grep -c . || true)
	zero=$(printf '%s\n' "$lines" | awk '$4 == 0' || true)
	if [ "$n" != "$want" ] || [ -n "$zero" ]; then
		in_ns "$ns" ip -s xfrm state list
		fail "$ns: expected $want SAs with traffic, have $n SAs${zero:+; without packets: $zero}"
	fi
	log "$ns: $n SAs, all with packets"
}

# ---------------------------------------------------------------------------
# rswand configuration.
#
# rswan_yaml <ns> [key=value...]: writes $WORK/<ns>.yaml (mode 600), a PSK configuration for the
# gateway <ns> (west or east) of topo_two_gateways: connection `gw` from <ns>'s address to the
# other gateway's, ids <ns>.example.org, child `lan` from <ns>'s LAN to the other's.
#   settings.<k>=<v>   a key of the settings section
#   conn.<k>=<v>       a key of the connection (local_addrs, remote_addrs, proposals, dpd_delay, ...)
#   child.<k>=<v>      a key of the child (local_ts, remote_ts, esp_proposals, start_action, ...)
#   name=<n>           the connection's name (default gw)
#   child=<n>          the child's name (default lan)
#   secret=<psk>       the PSK (a "0s" prefix: base64)
#   file=<path>        write there instead of $WORK/<ns>.yaml
#   family=6           IPv6 addresses and LANs (default: IPv4)
# Values are written as given (lists in [...]); a key given again replaces the default, an empty
# value removes it (conn.proposals= : the built-in default proposals).
rswan_yaml() {
	local ns=$1 peer kv k v name=gw child=lan secret="rswan vm test, west and east" file
	shift
	case $ns in
	west) peer=east ;;
	east) peer=west ;;
	*) fail "rswan_yaml: no gateway '$ns' (west or east)" ;;
	esac
	file=$WORK/$ns.yaml
	local up=${ns^^} peer_up=${peer^^}
	local -a skeys=() ckeys=(local_addrs remote_addrs proposals) chkeys=(local_ts remote_ts esp_proposals)
	local -A sv=() cv=() chv=()
	local fam=""
	for kv in "$@"; do
		[ "$kv" != family=6 ] || fam=6
	done
	local ip=${up}_IP$fam peer_ip=${peer_up}_IP$fam lan=${up}_LAN$fam peer_lan=${peer_up}_LAN$fam
	cv[local_addrs]="[${!ip}]"
	cv[remote_addrs]="[${!peer_ip}]"
	cv[proposals]="[aes256gcm16-prfsha256-x25519]"
	chv[local_ts]="[${!lan}]"
	chv[remote_ts]="[${!peer_lan}]"
	chv[esp_proposals]="[aes256gcm16]"
	for kv in "$@"; do
		k=${kv%%=*}
		v=${kv#*=}
		case $k in
		settings.*)
			k=${k#settings.}
			[ -n "${sv[$k]+x}" ] || skeys+=("$k")
			sv[$k]=$v
			;;
		conn.*)
			k=${k#conn.}
			[ -n "${cv[$k]+x}" ] || ckeys+=("$k")
			cv[$k]=$v
			;;
		child.*)
			k=${k#child.}
			[ -n "${chv[$k]+x}" ] || chkeys+=("$k")
			chv[$k]=$v
			;;
		name) name=$v ;;
		child) child=$v ;;
		secret) secret=$v ;;
		file) file=$v ;;
		family) ;;
		*) fail "rswan_yaml: unknown key '$k'" ;;
		esac
	done
	(
		umask 077
		{
			if [ ${#skeys[@]} -gt 0 ]; then
				echo "settings:"
				for k in "${skeys[@]}"; do [ -z "${sv[$k]}" ] || echo "  $k: ${sv[$k]}"; done
			fi
			echo "connections:"
			echo "  $name:"
			for k in "${ckeys[@]}"; do [ -z "${cv[$k]}" ] || echo "    $k: ${cv[$k]}"; done
			echo "    local: {auth: psk, id: $ns.example.org}"
			echo "    remote: {auth: psk, id: $peer.example.org}"
			echo "    children:"
			echo "      $child:"
			for k in "${chkeys[@]}"; do [ -z "${chv[$k]}" ] || echo "        $k: ${chv[$k]}"; done
			echo "secrets:"
			echo "  ike-$name:"
			echo "    id: [$ns.example.org, $peer.example.org]"
			echo "    secret: \"$secret\""
		} >"$file"
	)
}

# ---------------------------------------------------------------------------
# strongSwan (charon + swanctl) as a peer.
#
# charon_start <ns> <dir> [extra charon settings]
#   <dir> must hold swanctl.conf. Writes <dir>/strongswan.conf, runs charon in <ns> with its
#   own /run (<dir>/run), VICI socket <dir>/charon.vici, log <dir>/charon.log; loads
#   swanctl.conf. Extra settings are inserted into the charon { } section verbatim.
# swanctl_in <ns> <dir> <swanctl args...>   e.g. swanctl_in west "$d" --initiate --child net

CHARON=${CHARON:-/usr/lib/ipsec/charon}
CHARON_PLUGINS=${CHARON_PLUGINS:-"random nonce openssl pem pkcs1 pubkey x509 kdf curve25519 aes sha1 sha2 hmac gcm kernel-netlink socket-default vici"}

charon_start() {
	local ns=$1 dir=$2 extra=${3:-}
	[ -f "$dir/swanctl.conf" ] || fail "charon_start: $dir/swanctl.conf missing"
	# swanctl --load-all complains about each missing credential folder.
	(cd "$dir" && mkdir -p run x509 x509ca x509ocsp x509aa x509ac x509crl pubkey private rsa ecdsa bliss pkcs8 pkcs12)
	cat >"$dir/strongswan.conf" <<-EOF
		charon {
			load = $CHARON_PLUGINS
			install_routes = no
			filelog {
				charon-log {
					path = $dir/charon.log
					time_format = %T
					default = 1
					ike = 2
					knl = 2
					cfg = 2
				}
			}
			plugins {
				vici {
					socket = unix://$dir/charon.vici
				}
			}
			$extra
		}
		swanctl {
			load = pem pkcs1 x509 pubkey openssl random
		}
	EOF
	# ip netns exec gives charon a private mount namespace: /run is bound there only, so
	# each instance has its own /run/charon.pid.
	spawn_in "$ns" "$dir/charon.out" sh -c 'mount --bind "$1/run" /run && exec env STRONGSWAN_CONF="$1/strongswan.conf" "$2"' \
		sh "$dir" "$CHARON"
	on_exit "cat '$dir/charon.log' >'$RESULTS/charon-$ns.log' 2>/dev/null"
	wait_for 20 "charon in $ns (VICI socket $dir/charon.vici)" test -S "$dir/charon.vici"
	must swanctl_in "$ns" "$dir" --load-all --file "$dir/swanctl.conf"
}

# charon_psk_pair <east's remote_addrs> [child setting...]: writes swanctl.conf for charon in west
# and east (connection and child `net`, PSK, ids west and east, LAN to LAN) and starts both;
# west then initiates with charon_psk_up. east's remote_addrs is %any where west is behind NAT.
charon_psk_pair() {
	local east_remote=$1 ns
	shift
	_lib_charon_psk_conf "$WORK/west" "$WEST_IP" "$EAST_IP" west east "$WEST_LAN" "$EAST_LAN" "$@"
	_lib_charon_psk_conf "$WORK/east" "$EAST_IP" "$east_remote" east west "$EAST_LAN" "$WEST_LAN" "$@"
	for ns in west east; do
		charon_start "$ns" "$WORK/$ns"
	done
}

# charon_psk_up: west initiates the tunnel of charon_psk_pair; LAN traffic must be blocked before.
charon_psk_up() {
	assert_ping_fails west
	must swanctl_in west "$WORK/west" --initiate --child net --timeout 60
}

# _lib_charon_psk_conf <dir> <local addr> <remote addr> <local id> <remote id> <local ts> <remote ts> [child setting...]
_lib_charon_psk_conf() {
	local dir=$1 extra="" x
	for x in "${@:8}"; do
		extra+="
					$x"
	done
	mkdir -p "$dir"
	cat >"$dir/swanctl.conf" <<-EOT
		connections {
			net {
				version = 2
				local_addrs = $2
				remote_addrs = $3
				proposals = aes256gcm16-prfsha256-ecp256
				local { auth = psk
					id = $4 }
				remote { auth = psk
					id = $5 }
				children {
					net {
						local_ts = $6
						remote_ts = $7
						esp_proposals = aes256gcm16$extra
					}
				}
			}
		}
		secrets {
			ike-1 { id-1 = west
				id-2 = east
				secret = "plain-ascii-smoke-psk" }
		}
	EOT
}

swanctl_in() {
	local ns=$1 dir=$2
	shift 2
	# swanctl wants the command first: options such as --uri only after it.
	in_ns "$ns" env STRONGSWAN_CONF="$dir/strongswan.conf" swanctl "$@" --uri "unix://$dir/charon.vici"
}

# ---------------------------------------------------------------------------
# libreswan (pluto) as a peer, from the tree that setup-host.sh unpacked.
#
# pluto_start <ns> <dir>
#   <dir> must hold ipsec.conf and ipsec.secrets. Initialises an NSS db in <dir>/nss and runs
#   pluto in <ns>, control socket <dir>/run/pluto.ctl, log <dir>/pluto.log. Connections with
#   auto=add are loaded by pluto itself (through addconn).
# whack_in <ns> <dir> <whack args...>      e.g. whack_in west "$d" --name net --initiate

LIBRESWAN=${RSWAN_VM_LIBRESWAN:-/opt/rswan-vm/libreswan}

pluto_start() {
	local ns=$1 dir=$2
	[ -x "$LIBRESWAN/usr/libexec/ipsec/pluto" ] || fail "libreswan not found at $LIBRESWAN (run tests/vm/setup-host.sh)"
	[ -f "$dir/ipsec.conf" ] || fail "pluto_start: $dir/ipsec.conf missing"
	[ -f "$dir/ipsec.secrets" ] || fail "pluto_start: $dir/ipsec.secrets missing"
	mkdir -p "$dir/run" "$dir/nss"
	[ -e "$dir/nss/cert9.db" ] || must certutil -N -d "sql:$dir/nss" --empty-password # a case may pre-fill it (certutil -N on an existing db loops asking for its password)
	# pluto runs addconn from the fixed path /usr/libexec/ipsec: overlay the unpacked tree's
	# usr/libexec there, inside pluto's private mount namespace only.
	# Read-only overlay (lower layers only): the guest's /tmp is itself an overlay and cannot
	# hold an upper layer.
	spawn_in "$ns" "$dir/pluto.log" sh -c '
		mount -t overlay overlay -o "lowerdir=$1/usr/libexec:/usr/libexec" /usr/libexec &&
		exec "$1/usr/libexec/ipsec/pluto" --config "$2/ipsec.conf" --nofork --stderrlog \
			--rundir "$2/run" --nssdir "$2/nss" --secretsfile "$2/ipsec.secrets" --ipsecdir "$2"' \
		sh "$LIBRESWAN" "$dir"
	on_exit "cat '$dir/pluto.log' >'$RESULTS/pluto-$ns.log' 2>/dev/null"
	wait_for 20 "pluto in $ns (control socket $dir/run/pluto.ctl)" test -S "$dir/run/pluto.ctl"
}

whack_in() {
	local ns=$1 dir=$2
	shift 2
	in_ns "$ns" "$LIBRESWAN/usr/libexec/ipsec/whack" --ctlsocket "$dir/run/pluto.ctl" "$@"
}
