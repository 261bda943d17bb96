#!/usr/bin/env bash
# tools/deb_control.sh STAGE: prints the DEBIAN/control of the ak package
# staged under STAGE/usr (by install_tree.sh). Depends lists the Debian
# packages that own the shared libraries the binaries load (from ldd and
# dpkg -S, as dpkg-shlibdeps would without needing dpkg-dev) and the tools ak
# runs (QEMU, busybox for the base image, nft/ip/nsenter for sandbox networks,
# mkfs.ext4 for images, depmod, debootstrap).
set -euo pipefail
stage=$1
lib=$stage/usr/lib/ak

version=$("$lib/cli/ak" version --json | sed -n 's/.*"version": *"\([^"]*\)".*/\1/p')
if [ -z "$version" ]; then
        echo "deb_control: could not read the version from $lib/cli/ak version --json" >&2
        exit 1
fi

# ldd fails on the static ak-guest: that one loads nothing.
libs=$(find "$lib" -type f -perm -u+x | while read -r f; do ldd "$f" 2>/dev/null || true; done |
        awk '$2 == "=>" && $3 ~ /^\// {print $3}' | sort -u)
pkgs=()
for l in $libs; do
        owner=$(dpkg -S "$(readlink -f "$l")" 2>/dev/null || dpkg -S "$l" 2>/dev/null || true)
        owner=${owner%%:*}
        # ld.so's own symlink dance can leave one unowned; libc6 owns it.
        [ -n "$owner" ] || continue
        pkgs+=("$owner")
done
# BoringSSL is dlmopen()ed by lib/crypto (not in ldd's list).
pkgs+=(android-libboringssl)
pkgs+=(qemu-system-x86 busybox-static nftables iproute2 util-linux e2fsprogs kmod debootstrap)
depends=$(printf '%s\n' "${pkgs[@]}" | sort -u | paste -sd, - | sed 's/,/, /g')

cat <<EOF
Package: ak
Version: $version
Architecture: amd64
Maintainer: ak developers <ak@localhost>
Depends: $depends
Section: admin
Priority: optional
Description: run AI coding agents and untrusted commands in isolated microVMs
 ak runs commands in QEMU microVMs (KVM when the host has it, TCG otherwise)
 behind a scheduler, executor, signer, auditor and an agentkernel-compatible
 HTTP gateway. Compatible with agentkernel 0.18.1's guest protocol, receipts,
 HTTP API and MCP tools.
EOF
