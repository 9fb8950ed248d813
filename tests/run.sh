#!/usr/bin/env bash
# The project's test command: unit and integration tests, then the real-kernel tests.
#
#   tests/run.sh [--no-vm] [--no-fuzz] [vm case ...]
#
# 1. cargo test --workspace --no-fail-fast (stops here if it fails)
# 2. tests/fuzz.sh: every fuzz target for RSWAN_FUZZ_SECONDS (25) each; needs cargo-fuzz
#    (`cargo install cargo-fuzz --locked --version 0.13.2`; .ci/run installs it)
# 3. tests/vm/run.sh with the given cases, or its default list (tests/vm/cases/*.sh except
#    bench-*, *-slow.sh and cases marked `# vm-default: no`).
# The VM tests need a one-time `sudo tests/vm/setup-host.sh`. Run as root (as CI does), this
# script runs it itself when the setup is missing; as any other user it stops and says so,
# rather than installing packages behind your back.
# Ends with `tests: N passed, N failed` (cargo tests, fuzz targets and VM cases together).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
RSWAN_VM_HOME=${RSWAN_VM_HOME:-/opt/rswan-vm}

vm=yes
fuzz=yes
vm_args=()
for a in "$@"; do
	case $a in
	--no-vm) vm=no ;;
	--no-fuzz) fuzz=no ;;
	-h | --help)
		sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*) vm_args+=("$a") ;;
	esac
done

if [ "$vm" = yes ] && [ ! -r "$RSWAN_VM_HOME/env.sh" ]; then
	if [ "$(id -u)" = 0 ]; then
		echo "tests: VM test setup missing; running tests/vm/setup-host.sh"
		"$REPO/tests/vm/setup-host.sh"
	else
		echo "tests: the VM tests need a one-time host setup: sudo $REPO/tests/vm/setup-host.sh" >&2
		echo "tests: (or run tests/run.sh --no-vm to skip them)" >&2
		exit 2
	fi
fi

if [ "$fuzz" = yes ] && ! cargo fuzz --version >/dev/null 2>&1; then
	echo "tests: the fuzz targets need cargo-fuzz: cargo install cargo-fuzz --locked --version 0.13.2" >&2
	echo "tests: (or run tests/run.sh --no-fuzz to skip them)" >&2
	exit 2
fi

t0=$EPOCHSECONDS
cargo_log=$(mktemp)
trap 'rm -f "$cargo_log"' EXIT
echo "tests: cargo test --workspace --no-fail-fast"
set +e
(cd "$REPO" && cargo test --workspace --no-fail-fast 2>&1) | tee "$cargo_log"
cargo_rc=${PIPESTATUS[0]}
set -e
# Sum cargo's per-binary lines: "test result: ok. 12 passed; 0 failed; ..."
read -r c_pass c_fail < <(awk '/^test result:/ {
	for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i }
} END { print p + 0, f + 0 }' "$cargo_log")
t_cargo=$((EPOCHSECONDS - t0))
if [ "$cargo_rc" != 0 ]; then
	echo
	echo "tests: cargo test failed (exit $cargo_rc) after ${t_cargo}s; VM tests not run"
	echo "tests: $c_pass passed, $((c_fail > 0 ? c_fail : 1)) failed"
	exit 1
fi

fuzz_rc=0 f_pass=0 f_fail=0 t_fuzz=0
if [ "$fuzz" = yes ]; then
	t1=$EPOCHSECONDS
	fuzz_log=$(mktemp)
	trap 'rm -f "$cargo_log" "$fuzz_log"' EXIT
	set +e
	"$REPO/tests/fuzz.sh" 2>&1 | tee "$fuzz_log"
	fuzz_rc=${PIPESTATUS[0]}
	set -e
	read -r f_pass f_fail < <(sed -n 's/^fuzz: \([0-9]\+\) passed, \([0-9]\+\) failed$/\1 \2/p' "$fuzz_log" | tail -n1)
	f_pass=${f_pass:-0} f_fail=${f_fail:-0}
	if [ "$fuzz_rc" != 0 ] && [ "$f_fail" = 0 ]; then
		f_fail=1
	fi
	t_fuzz=$((EPOCHSECONDS - t1))
fi

vm_rc=0 v_pass=0 v_fail=0 t_vm=0
if [ "$vm" = yes ]; then
	t1=$EPOCHSECONDS
	vm_log=$(mktemp)
	trap 'rm -f "$cargo_log" "${fuzz_log:-}" "$vm_log"' EXIT
	set +e
	"$REPO/tests/vm/run.sh" "${vm_args[@]}" 2>&1 | tee "$vm_log"
	vm_rc=${PIPESTATUS[0]}
	set -e
	read -r v_pass v_fail < <(sed -n 's/^vm: \([0-9]\+\) passed, \([0-9]\+\) failed$/\1 \2/p' "$vm_log" | tail -n1)
	v_pass=${v_pass:-0} v_fail=${v_fail:-0}
	# A VM run that ended without its summary (or with an unfinished guest) is a failure.
	if [ "$vm_rc" != 0 ] && [ "$v_fail" = 0 ]; then
		v_fail=1
	fi
	t_vm=$((EPOCHSECONDS - t1))
fi

echo
echo "tests: cargo test: $c_pass passed, $c_fail failed (${t_cargo}s)"
if [ "$fuzz" = yes ]; then
	echo "tests: fuzz:      $f_pass passed, $f_fail failed (${t_fuzz}s)"
else
	echo "tests: fuzz:      skipped (--no-fuzz)"
fi
if [ "$vm" = yes ]; then
	echo "tests: vm cases:  $v_pass passed, $v_fail failed (${t_vm}s)"
else
	echo "tests: vm cases:  skipped (--no-vm)"
fi
echo "tests: $((c_pass + f_pass + v_pass)) passed, $((c_fail + f_fail + v_fail)) failed"
[ "$vm_rc" = 0 ] && [ "$fuzz_rc" = 0 ]
