#!/usr/bin/env bash
# rswan-xfrm against a real kernel: for AES-GCM, AES-CBC + HMAC-SHA2-256, ChaCha20-Poly1305,
# AES-GCM in UDP encapsulation and AES-GCM over IPv6, SAs and policies are installed in west and east only through
# rswan-xfrm (xfrm-vmtest), LAN-to-LAN pings pass while the guard proves they came through ESP,
# rswan-xfrm reads non-zero byte and packet counters for both directions on both sides, and
# flush_owned leaves both namespaces with zero SAs and policies. The inbound SAs are installed
# the daemon's way (alloc_spi, then update_sa). In the UDP run, east's monitor must report the
# kernel's MAPPING event for a peer port that differs from the SA's.
# vm-timeout: 300
. "$RSWAN_VM_LIB"

T=$RSWAN_BIN/xfrm-vmtest
[ -x "$T" ] || fail "$T missing (cargo build --release -p rswan-xfrm --bins)"

topo_two_gateways

# No SA yet: LAN-to-LAN packets arrive in plain text and the guard drops them.
assert_ping_fails west
[ "$(guard_drops east)" -gt 0 ] || fail "guard in east dropped nothing while no SA existed"

# Prints "sas=N policies=M" for <ns>, read through rswan-xfrm.
count_in() { in_ns "$1" "$T" count; }

for profile in gcm cbc chacha udp gcm6; do
	log "=== profile $profile"
	# gcm6: AES-GCM between the IPv6 addresses and LANs of the same topology.
	prof=$profile v6=() ping_w=() ping_e=()
	if [ "$profile" = gcm6 ]; then
		prof=gcm v6=(--ipv6)
		ping_w=("$EAST_LAN6_IP" "$WEST_LAN6_IP")
		ping_e=("$WEST_LAN6_IP" "$EAST_LAN6_IP")
		assert_ping_fails west "${ping_w[@]}"
	fi
	encap_pids=()
	if [ "$profile" = udp ]; then
		# The receiving side needs a UDP socket on 4500 with UDP_ENCAP_ESPINUDP, or the kernel
		# treats ESP-in-UDP as plain UDP to a closed port.
		for ns in west east; do
			# Not through in_ns (a function): $! must be the process itself (ip netns exec execs).
			ip netns exec "$ns" "$T" encap-socket --port 4500 >"$WORK/encap-$ns.out" 2>&1 &
			encap_pids+=($!)
			on_exit "kill $! 2>/dev/null"
		done
		for ns in west east; do
			wait_for 10 "encap socket in $ns" grep -q ready "$WORK/encap-$ns.out"
		done
	fi
	east_extra=()
	if [ "$profile" = udp ]; then
		# east's inbound SA expects west on source port 4501; west really sends from 4500, so
		# east's kernel must report a MAPPING (NAT port change) event, read by rswan-xfrm's
		# monitor.
		east_extra=(--inbound-peer-port 4501)
		ip netns exec east "$T" monitor --until mapping --timeout 60 >"$WORK/monitor-east.out" 2>&1 &
		monitor_pid=$!
		on_exit "kill $monitor_pid 2>/dev/null"
		wait_for 10 "monitor in east" grep -q 'monitor ready' "$WORK/monitor-east.out"
	fi
	must in_ns west "$T" install --profile "$prof" --side west "${v6[@]}"
	must in_ns east "$T" install --profile "$prof" --side east "${v6[@]}" "${east_extra[@]}"
	[ "$(count_in west)" = "sas=2 policies=3" ] || fail "$profile: west holds $(count_in west)"
	[ "$(count_in east)" = "sas=2 policies=3" ] || fail "$profile: east holds $(count_in east)"

	drops_w=$(guard_drops west)
	drops_e=$(guard_drops east)
	assert_ping_ok west "${ping_w[@]}"
	assert_ping_ok east "${ping_e[@]}"
	[ "$(guard_drops west)" = "$drops_w" ] || fail "$profile: guard in west dropped LAN packets although SAs exist"
	[ "$(guard_drops east)" = "$drops_e" ] || fail "$profile: guard in east dropped LAN packets although SAs exist"

	for ns in west east; do
		out=$(in_ns "$ns" "$T" counters --side "$ns" "${v6[@]}" --require-nonzero 2>&1) || {
			printf '%s\n' "$out"
			fail "$profile: $ns: rswan-xfrm counters: $out"
		}
		printf '%s: %s\n' "$ns" "$out" | sed 's/^/    /'
		if [ "$profile" = udp ]; then
			# The kernel reports a NAT change but leaves the SA alone (the daemon updates it),
			# so east's inbound SA still expects peer port 4501.
			want_in=4500
			if [ "$ns" = east ]; then want_in=4501; fi
			printf '%s\n' "$out" | grep -q '^out .* encap=espinudp:4500->4500$' &&
				printf '%s\n' "$out" | grep -q "^in .* encap=espinudp:$want_in->4500\$" ||
				fail "$profile: $ns: SAs are not UDP-encapsulated as installed: $out"
			# Independent check of what rswan-xfrm encoded, by iproute2's decoder.
			in_ns "$ns" ip xfrm state | grep -q 'encap type espinudp sport 4500 dport 4500' ||
				fail "$profile: $ns: ip xfrm state shows no espinudp encapsulation"
		fi
	done

	if [ "$profile" = udp ]; then
		wait "$monitor_pid" || {
			cat "$WORK/monitor-east.out"
			fail "$profile: no MAPPING event in east"
		}
		sed 's/^/    east monitor: /' "$WORK/monitor-east.out"
		grep -q 'mapping spi=0x00001000 dst=192.0.2.2 .* old=192.0.2.1:4501 new=192.0.2.1:4500' \
			"$WORK/monitor-east.out" || fail "$profile: MAPPING event in east has unexpected content"
	fi

	# The encap sockets carry per-socket bypass policies, which `ip xfrm policy` lists too.
	for pid in "${encap_pids[@]}"; do
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done

	for ns in west east; do
		must in_ns "$ns" "$T" flush
		[ "$(count_in "$ns")" = "sas=0 policies=0" ] || fail "$profile: $ns after flush holds $(count_in "$ns")"
		# Cross-check with iproute2 that nothing is left. `ip xfrm policy` also lists the
		# killed encap sockets' per-socket policies until the kernel frees the sockets (deferred
		# after close), hence the short wait.
		wait_for 10 "$ns to hold no XFRM state according to ip xfrm (after rswan's flush)" \
			sh -c 'test -z "$(ip netns exec "$1" ip xfrm state)$(ip netns exec "$1" ip xfrm policy)"' sh "$ns"
	done
	assert_ping_fails west "${ping_w[@]}"
	log "=== profile $profile ok"
done
pass
