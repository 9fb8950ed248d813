#!/usr/bin/env bash
# Real-kernel tests: boots Debian's kernel under QEMU (vng) once and runs the given cases in it.
#
#   tests/vm/run.sh [--no-build] [--list] [case ...]
#
# A case is a name (smoke-esp), a file name (smoke-esp.sh) or a path. Without cases, runs the
# default list: tests/vm/cases/*.sh except bench-*, *-slow.sh and `# vm-default: no` ones.
# Needs tests/vm/setup-host.sh to have run once (as root).
# Results: tests/vm/.cache/results/ (or $RSWAN_VM_RESULTS).
# Ends with `vm: N passed, N failed`; exits non-zero on any failure or an unfinished guest.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
RSWAN_VM_HOME=${RSWAN_VM_HOME:-/opt/rswan-vm}
ENV_FILE=$RSWAN_VM_HOME/env.sh
DEFAULT_TIMEOUT=300   # per case, seconds; a case may set `# vm-timeout: N` in its header
BOOT_ALLOWANCE=180    # seconds for the guest to boot and load modules

say() { printf 'vm: %s\n' "$*"; }
die() {
	printf 'vm: ERROR: %s\n' "$*" >&2
	exit 2
}

# The only place the project is built for the VM. Cases that need no binaries declare
# `# vm-build: none`.
cargo_build() {
	(cd "$REPO" && cargo build --release --workspace --bins --examples)
}
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}
case $TARGET_DIR in /*) ;; *) TARGET_DIR=$REPO/$TARGET_DIR ;; esac
RSWAN_BIN=$TARGET_DIR/release
RSWAN_EXAMPLES=$TARGET_DIR/release/examples

# All cases except bench-*, *-slow.sh and those whose header says `# vm-default: no`.
default_cases() {
	local f b
	for f in "$HERE"/cases/*.sh; do
		[ -e "$f" ] || continue
		b=$(basename "$f")
		case $b in bench-* | *-slow.sh) continue ;; esac
		grep -q '^# vm-default: *no' "$f" && continue
		echo "${b%.sh}"
	done
}

build=yes
cases=()
while [ $# -gt 0 ]; do
	case $1 in
	--no-build) build=no ;;
	--list)
		default_cases
		exit 0
		;;
	-h | --help)
		sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	-*) die "unknown option $1 (see --help)" ;;
	*) cases+=("$1") ;;
	esac
	shift
done
if [ ${#cases[@]} -eq 0 ]; then
	mapfile -t cases < <(default_cases)
fi
[ ${#cases[@]} -gt 0 ] || die "no cases found in $HERE/cases"

[ -r "$ENV_FILE" ] || die "$ENV_FILE not found: run 'sudo tests/vm/setup-host.sh' once"
# shellcheck source=/dev/null
. "$ENV_FILE"
[ -r "$RSWAN_VM_VMLINUZ" ] || die "kernel $RSWAN_VM_VMLINUZ missing: run 'sudo tests/vm/setup-host.sh'"
[ -d "/lib/modules/$RSWAN_VM_KVER" ] || die "/lib/modules/$RSWAN_VM_KVER missing: run 'sudo tests/vm/setup-host.sh'"
[ -x "$RSWAN_VM_VNG" ] || die "vng missing at $RSWAN_VM_VNG: run 'sudo tests/vm/setup-host.sh'"

# The guest sees the host's / read-only, but mounts fresh tmpfs over these.
for p in "$REPO" "$TARGET_DIR"; do
	case $p/ in
	/var/cache/* | /var/log/* | /var/tmp/* | /var/lib/apt/* | /var/lib/private/* | /run/*)
		die "$p is hidden inside the guest (tmpfs there); use a checkout/target dir elsewhere" ;;
	esac
done

# Resolve cases and read their headers.
names=() paths=() timeouts=() needs_build=no
for c in "${cases[@]}"; do
	if [ -f "$c" ]; then
		p=$(cd "$(dirname "$c")" && pwd)/$(basename "$c")
	elif [ -f "$HERE/cases/$c" ]; then
		p=$HERE/cases/$c
	elif [ -f "$HERE/cases/$c.sh" ]; then
		p=$HERE/cases/$c.sh
	else
		die "no such case: $c (looked in $HERE/cases)"
	fi
	n=$(basename "$p" .sh)
	# The same case twice gets its own results folder.
	k=1 base=$n
	while [[ " ${names[*]} " == *" $n "* ]]; do
		k=$((k + 1))
		n=$base~$k
	done
	t=$(sed -n 's/^# vm-timeout: *\([0-9]\+\).*/\1/p' "$p" | head -n1)
	b=$(sed -n 's/^# vm-build: *\([a-z]\+\).*/\1/p' "$p" | head -n1)
	[ "${b:-release}" = none ] || needs_build=yes
	names+=("$n")
	paths+=("$p")
	timeouts+=("${t:-$DEFAULT_TIMEOUT}")
done

t_start=$EPOCHREALTIME
build_error=
if [ "$needs_build" = yes ] && [ "$build" = yes ]; then
	say "building: cargo build --release --workspace --bins --examples (CARGO_TARGET_DIR=$TARGET_DIR)"
	tb=$EPOCHSECONDS
	if ! cargo_build; then
		build_error="host build failed (cargo build --release --workspace --bins --examples)"
		say "$build_error; cases that need it will fail"
	fi
	say "build took $((EPOCHSECONDS - tb))s"
fi

RES=${RSWAN_VM_RESULTS:-$HERE/.cache/results}
case $RES in /*) ;; *) RES=$PWD/$RES ;; esac
# Only what a previous run left: RSWAN_VM_RESULTS may name a folder holding other things.
rm -rf "$RES/cases" "$RES/done" "$RES/guest-started" "$RES/guest-uptime" "$RES/vng-exit-code" \
	"$RES/vm-pgid" "$RES/console.log" "$RES/cases.list" "$RES/run.env" "$RES/host-boot-start"
mkdir -p "$RES/cases"

{
	printf 'RSWAN_REPO=%q\n' "$REPO"
	printf 'RSWAN_BIN=%q\n' "$RSWAN_BIN"
	printf 'RSWAN_EXAMPLES=%q\n' "$RSWAN_EXAMPLES"
	printf 'RSWAN_VM_LIBRESWAN=%q\n' "$RSWAN_VM_LIBRESWAN"
	printf 'RSWAN_VM_KVER=%q\n' "$RSWAN_VM_KVER"
	echo 'export RSWAN_REPO RSWAN_BIN RSWAN_EXAMPLES RSWAN_VM_LIBRESWAN RSWAN_VM_KVER'
} >"$RES/run.env"

: >"$RES/cases.list"
guest_total=$BOOT_ALLOWANCE
for i in "${!names[@]}"; do
	n=${names[$i]}
	if [ -n "$build_error" ] && ! grep -q '^# vm-build: *none' "${paths[$i]}"; then
		mkdir -p "$RES/cases/$n"
		echo "fail: $build_error" >"$RES/cases/$n/status"
		continue
	fi
	printf '%s\t%s\t%s\n' "$n" "${paths[$i]}" "${timeouts[$i]}" >>"$RES/cases.list"
	guest_total=$((guest_total + timeouts[i] + 15))
done

if [ -s "$RES/cases.list" ]; then
	say "booting $RSWAN_VM_KVER for $(wc -l <"$RES/cases.list") case(s); results in $RES"
	stop_vm() {
		if [ -s "$RES/vm-pgid" ]; then
			kill -TERM -- "-$(cat "$RES/vm-pgid")" 2>/dev/null || true
		fi
		exit 130
	}
	trap stop_vm INT TERM HUP
	tv=$EPOCHREALTIME
	echo "${tv/./}" >"$RES/host-boot-start"
	# vng's exit code is not a verdict (it can be non-zero on success): the files are.
	set +e
	(
		cd "$REPO"
		# vng finds virtiofsd (faster guest root than 9p) and its own helpers through PATH.
		PATH=$(dirname "$RSWAN_VM_VNG")${RSWAN_VM_PATH_EXTRA:+:$RSWAN_VM_PATH_EXTRA}:$PATH
		# timeout puts itself and the VM (vng, qemu, virtiofsd) in a process group of its own;
		# if this runner is interrupted, that group is ended with it.
		timeout -k 10 "$guest_total" "$RSWAN_VM_VNG" -r "$RSWAN_VM_VMLINUZ" --disable-kvm \
			--cpus 2 --memory 2G --user root --rwdir="$RES" ${RSWAN_VM_VERBOSE:+--verbose} \
			--exec "$(printf '%q %q' "$HERE/guest.sh" "$RES")" </dev/null 2>&1 &
		vm_pgid=$!
		echo "$vm_pgid" >"$RES/vm-pgid"
		trap 'kill -TERM -- "-$vm_pgid" 2>/dev/null; sleep 1; kill -KILL -- "-$vm_pgid" 2>/dev/null; exit 130' INT TERM HUP
		wait "$vm_pgid"
		echo "$?" >"$RES/vng-exit-code"
	) | tee "$RES/console.log" | sed -u -n 's/\r$//; /^vm-guest: /p'
	set -e
	say "VM ran for $(awk -v a="$tv" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')s (vng exit code $(cat "$RES/vng-exit-code" 2>/dev/null || echo '?'))"
	if [ -s "$RES/guest-started" ]; then
		say "guest script started $(awk -v a="$tv" -v b="$(cat "$RES/guest-started")" 'BEGIN { printf "%.1f", b - a }')s after vng was called"
	fi
fi

finished=yes
if [ -s "$RES/cases.list" ] && [ ! -e "$RES/done" ]; then
	finished=no
fi

passed=0 failed=0
echo
for i in "${!names[@]}"; do
	n=${names[$i]}
	d=$RES/cases/$n
	st=$(head -n1 "$d/status" 2>/dev/null || true)
	secs=$(cat "$d/seconds" 2>/dev/null || echo '?')
	if [ "$st" = pass ]; then
		passed=$((passed + 1))
		printf 'PASS  %s (%ss)\n' "$n" "$secs"
	else
		failed=$((failed + 1))
		[ -n "$st" ] || st="fail: no result (guest did not run the case)"
		printf 'FAIL  %s (%ss): %s\n' "$n" "$secs" "${st#fail: }"
		if [ -s "$d/log" ]; then
			echo "----- log of $n ($d/log) -----"
			if [ "$(wc -l <"$d/log")" -gt 300 ]; then
				echo "[... first $(($(wc -l <"$d/log") - 300)) lines cut ...]"
			fi
			tail -n 300 "$d/log"
			echo "----- end of log of $n -----"
		fi
	fi
done

if [ "$finished" = no ]; then
	echo
	say "the guest did not finish (no done marker). Last console lines ($RES/console.log):"
	tail -n 60 "$RES/console.log" 2>/dev/null | sed 's/\r$//' || true
fi
say "total $(awk -v a="$t_start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')s"
echo "vm: $passed passed, $failed failed"
[ "$failed" = 0 ] && [ "$finished" = yes ]
