#!/usr/bin/env bash
# Prepare a Debian 12 host for the real-kernel tests (tests/vm/run.sh).
#
# Idempotent: a second run only checks and prints what is already there.
# Needs root. Installs:
#   - QEMU, kmod, nftables, tcpdump, ping, iproute2, procps (apt)
#   - strongSwan's charon + swanctl (apt) as an interop peer
#   - libreswan unpacked into a folder of its own (it conflicts with strongSwan in apt)
#   - virtme-ng (pinned) in a private virtualenv; virtiofsd (pinned, from crates.io) if cargo is there
#   - Debian's stock kernel, unpacked; its modules copied to /lib/modules/<kver>
# and writes $RSWAN_VM_HOME/env.sh, which the runner and the cases read.
set -euo pipefail

VIRTME_NG_VERSION=1.42   # checked: boots Debian 12's kernel under QEMU 7.2 with --disable-kvm
VIRTIOFSD_VERSION=1.14.0 # checked: vng 1.42 uses it for the guest's root
# Not under /var/cache: the guest mounts a tmpfs there, and it must see the libreswan tree.
RSWAN_VM_HOME=${RSWAN_VM_HOME:-/opt/rswan-vm}
export DEBIAN_FRONTEND=noninteractive

APT_PACKAGES=(
	qemu-system-x86 kmod nftables tcpdump iputils-ping iproute2 procps busybox-static
	strongswan-charon strongswan-swanctl libstrongswan-standard-plugins libcharon-extra-plugins libstrongswan-extra-plugins
	tshark # decrypts captures with rswan's exported keys (diagnose-key-export); its debconf question is answered by DEBIAN_FRONTEND above
	openssl libnss3-tools # pki.sh's test PKI (openssl); pluto's NSS db (certutil, pk12util)
	python3 python3-cryptography # JSON checks in the cases; tests/vm/ikeattack.py (frag-hold: x25519, AES-GCM)
)

t_start=$(date +%s)
say() { printf 'setup-host: %s\n' "$*"; }
die() {
	printf 'setup-host: ERROR: %s\n' "$*" >&2
	exit 1
}
step() { printf '\nsetup-host: == %s (t+%ss)\n' "$*" "$(($(date +%s) - t_start))"; }

[ "$(id -u)" = 0 ] || die "must run as root (try: sudo $0)"
command -v apt-get >/dev/null || die "apt-get not found: this script supports Debian 12 only"

apt_updated=no
apt_update_once() {
	if [ "$apt_updated" = no ]; then
		say "apt-get update"
		apt-get update -q || die "apt-get update failed"
		apt_updated=yes
	fi
}

is_installed() {
	[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]
}

# Keep package scripts from starting services (charon, ipsec) during the install; only a
# policy-rc.d we created is removed.
POLICY_RC=/usr/sbin/policy-rc.d
policy_rc_ours=no
cleanup() {
	if [ "$policy_rc_ours" = yes ]; then
		rm -f "$POLICY_RC"
	fi
}
trap cleanup EXIT

apt_install() {
	local missing=() p
	for p in "$@"; do
		is_installed "$p" || missing+=("$p")
	done
	if [ ${#missing[@]} -eq 0 ]; then
		say "already installed: $*"
		return 0
	fi
	apt_update_once
	if [ ! -e "$POLICY_RC" ]; then
		printf '#!/bin/sh\nexit 101\n' >"$POLICY_RC"
		chmod 755 "$POLICY_RC"
		policy_rc_ours=yes
	fi
	say "apt-get install ${missing[*]}"
	apt-get install -y -q --no-install-recommends "${missing[@]}" ||
		die "apt-get install failed for: ${missing[*]}"
	cleanup
	policy_rc_ours=no
}

mkdir -p "$RSWAN_VM_HOME"

# ---------------------------------------------------------------------------
step "Debian packages"
apt_install "${APT_PACKAGES[@]}"
[ -x /usr/lib/ipsec/charon ] || die "/usr/lib/ipsec/charon missing after installing strongswan-charon"
command -v swanctl >/dev/null || die "swanctl missing after installing strongswan-swanctl"
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 missing after installing qemu-system-x86"

# ---------------------------------------------------------------------------
step "kernel"
# The kernel version is whatever linux-image-amd64 names in the current package lists; if the
# lists are absent (fresh machine), update them first.
kernel_pkg() {
	apt-cache depends linux-image-amd64 2>/dev/null |
		awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }'
}
KPKG=$(kernel_pkg || true)
if [ -z "$KPKG" ]; then
	apt_update_once
	KPKG=$(kernel_pkg || true)
fi
[ -n "$KPKG" ] || die "apt-cache depends linux-image-amd64 names no linux-image-<version> package"
KVER=${KPKG#linux-image-}
KDIR=$RSWAN_VM_HOME/kernel/$KVER
VMLINUZ=$KDIR/vmlinuz
say "kernel package $KPKG (kver $KVER)"
modules_ok() { [ -s "/lib/modules/$KVER/modules.dep" ] && [ -e "/lib/modules/$KVER/kernel/net/ipv4/esp4.ko" ]; }
if [ -s "$VMLINUZ" ] && modules_ok; then
	say "cached: $VMLINUZ; modules present in /lib/modules/$KVER"
else
	rm -rf "$KDIR"
	mkdir -p "$KDIR/deb" "$KDIR/tree"
	say "apt-get download $KPKG"
	(cd "$KDIR/deb" && apt-get download -q "$KPKG" 2>&1 | grep -v 'unsandboxed' || true)
	deb=$(ls "$KDIR"/deb/*.deb 2>/dev/null | head -n1)
	[ -n "$deb" ] || die "apt-get download $KPKG produced no .deb"
	say "dpkg -x $(basename "$deb")"
	dpkg -x "$deb" "$KDIR/tree"
	[ -s "$KDIR/tree/boot/vmlinuz-$KVER" ] || die "no boot/vmlinuz-$KVER in $deb"
	[ -d "$KDIR/tree/lib/modules/$KVER" ] || die "no lib/modules/$KVER in $deb"
	# Modules already in place stay untouched: a running VM may be reading them.
	if ! modules_ok; then
		# /lib is a link to /usr/lib on Debian 12; /lib/modules may not exist on a minimal host.
		mkdir -p /lib/modules
		say "copy modules to /lib/modules/$KVER"
		rm -rf "/lib/modules/$KVER"
		cp -a "$KDIR/tree/lib/modules/$KVER" /lib/modules/
		say "depmod -a $KVER"
		depmod -a "$KVER"
	fi
	cp "$KDIR/tree/boot/vmlinuz-$KVER" "$VMLINUZ.tmp"
	mv "$VMLINUZ.tmp" "$VMLINUZ"
	rm -rf "$KDIR/tree" "$KDIR/deb"
fi
modules_ok || die "esp4.ko or modules.dep missing from /lib/modules/$KVER"

# ---------------------------------------------------------------------------
step "libreswan (unpacked, run by path)"
LIBRESWAN_ROOT=$RSWAN_VM_HOME/libreswan
if [ -x "$LIBRESWAN_ROOT/usr/libexec/ipsec/pluto" ]; then
	say "cached: $LIBRESWAN_ROOT"
else
	# Its runtime dependencies, minus what would pull strongSwan's conflicting packages or
	# services; virtual packages (<...>) are skipped.
	libreswan_deps() {
		apt-cache depends --no-recommends --no-suggests libreswan 2>/dev/null |
			awk '$1 == "Depends:" && $2 !~ /^</ { print $2 }' | sort -u
	}
	mapfile -t lsdeps < <(libreswan_deps)
	if [ ${#lsdeps[@]} -eq 0 ]; then
		apt_update_once
		mapfile -t lsdeps < <(libreswan_deps)
	fi
	[ ${#lsdeps[@]} -gt 0 ] || die "apt-cache depends libreswan lists no dependencies"
	say "libreswan runtime dependencies: ${lsdeps[*]}"
	apt_install "${lsdeps[@]}"
	rm -rf "$LIBRESWAN_ROOT.tmp"
	mkdir -p "$LIBRESWAN_ROOT.tmp/deb"
	say "apt-get download libreswan"
	(cd "$LIBRESWAN_ROOT.tmp/deb" && apt-get download -q libreswan 2>&1 | grep -v 'unsandboxed' || true)
	deb=$(ls "$LIBRESWAN_ROOT.tmp"/deb/*.deb 2>/dev/null | head -n1)
	if [ -z "$deb" ] && [ "$apt_updated" = no ]; then
		apt_update_once
		(cd "$LIBRESWAN_ROOT.tmp/deb" && apt-get download -q libreswan 2>&1 | grep -v 'unsandboxed' || true)
		deb=$(ls "$LIBRESWAN_ROOT.tmp"/deb/*.deb 2>/dev/null | head -n1)
	fi
	[ -n "$deb" ] || die "apt-get download libreswan produced no .deb"
	dpkg -x "$deb" "$LIBRESWAN_ROOT.tmp/root"
	rm -rf "$LIBRESWAN_ROOT"
	mv "$LIBRESWAN_ROOT.tmp/root" "$LIBRESWAN_ROOT"
	rm -rf "$LIBRESWAN_ROOT.tmp"
	[ -x "$LIBRESWAN_ROOT/usr/libexec/ipsec/pluto" ] || die "no usr/libexec/ipsec/pluto in $deb"
fi
if ldd "$LIBRESWAN_ROOT/usr/libexec/ipsec/pluto" | grep -q 'not found'; then
	ldd "$LIBRESWAN_ROOT/usr/libexec/ipsec/pluto" | grep 'not found' >&2
	die "pluto is missing shared libraries (see above)"
fi
command -v certutil >/dev/null || die "certutil (libnss3-tools) missing: needed to initialise pluto's NSS db"

# ---------------------------------------------------------------------------
step "virtme-ng $VIRTME_NG_VERSION"
VENV=$RSWAN_VM_HOME/venv
VNG=$VENV/bin/vng
# Debian's python, not whatever python3 comes first in PATH: a venv built on a python under
# root's home (pyenv) is unusable for other users, and the tests must run as any user.
if [ -x "$VNG" ] && [ "$(readlink -f "$VENV/bin/python")" = "$(readlink -f /usr/bin/python3)" ] &&
	[ "$("$VENV/bin/python" -m pip show virtme-ng 2>/dev/null | awk '/^Version:/ {print $2}')" = "$VIRTME_NG_VERSION" ]; then
	say "cached: $VNG"
else
	rm -rf "$VENV"
	# Debian's python refuses system-wide pip installs (PEP 668): use a private venv.
	apt_install python3-venv
	/usr/bin/python3 -m venv "$VENV" || die "/usr/bin/python3 -m venv $VENV failed"
	say "pip install virtme-ng==$VIRTME_NG_VERSION"
	"$VENV/bin/python" -m pip install -q --disable-pip-version-check "virtme-ng==$VIRTME_NG_VERSION" ||
		die "pip install virtme-ng==$VIRTME_NG_VERSION failed"
fi
[ -x "$VNG" ] || die "vng not found at $VNG after install"

# ---------------------------------------------------------------------------
step "virtiofsd $VIRTIOFSD_VERSION"
# Optional: with it vng shares the host's / over virtio-fs with caching instead of uncached
# 9p, which makes every exec in the guest 2-3 times cheaper. Debian 12 ships only QEMU's old
# C virtiofsd, which vng rejects, so build the Rust one from crates.io.
VIRTIOFSD_DIR=$RSWAN_VM_HOME/virtiofsd
if [ -x "$VIRTIOFSD_DIR/bin/virtiofsd" ] &&
	[ "$("$VIRTIOFSD_DIR/bin/virtiofsd" --version 2>/dev/null | awk '{print $2}')" = "$VIRTIOFSD_VERSION" ]; then
	say "cached: $VIRTIOFSD_DIR/bin/virtiofsd"
elif ! command -v cargo >/dev/null; then
	say "WARNING: cargo not found; skipping virtiofsd (the VM falls back to slower 9p)"
else
	apt_install libcap-ng-dev libseccomp-dev pkg-config
	build_dir=$(mktemp -d)
	say "cargo install virtiofsd@$VIRTIOFSD_VERSION (a few minutes)"
	if CARGO_TARGET_DIR=$build_dir cargo install -q --locked "virtiofsd@$VIRTIOFSD_VERSION" --root "$VIRTIOFSD_DIR"; then
		say "installed $VIRTIOFSD_DIR/bin/virtiofsd"
	else
		say "WARNING: building virtiofsd failed; the VM falls back to slower 9p"
	fi
	rm -rf "$build_dir"
fi
RSWAN_VM_PATH_EXTRA=
[ ! -x "$VIRTIOFSD_DIR/bin/virtiofsd" ] || RSWAN_VM_PATH_EXTRA=$VIRTIOFSD_DIR/bin

# ---------------------------------------------------------------------------
step "env file"
ENV_FILE=$RSWAN_VM_HOME/env.sh
cat >"$ENV_FILE.tmp" <<EOF
# Written by tests/vm/setup-host.sh; read by tests/vm/run.sh and the guest.
RSWAN_VM_KVER=$KVER
RSWAN_VM_VMLINUZ=$VMLINUZ
RSWAN_VM_VNG=$VNG
RSWAN_VM_LIBRESWAN=$LIBRESWAN_ROOT
RSWAN_VM_PATH_EXTRA=$RSWAN_VM_PATH_EXTRA
RSWAN_VM_SETUP_VERSION=1
EOF
mv "$ENV_FILE.tmp" "$ENV_FILE"
cat "$ENV_FILE"
say "done in $(($(date +%s) - t_start))s"
