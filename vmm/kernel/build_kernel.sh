#!/bin/sh
# Builds ak's small guest kernel from Debian's linux-source-6.1 tarball:
# `make tinyconfig`, then vmm/kernel/ak-guest.config merged on top with
# scripts/kconfig/merge_config.sh, then `make bzImage`. Offline and
# reproducible (fixed build user, host and timestamp). Needs the packages
# tools/deps.sh installs (linux-source-6.1, gcc, make, flex, bison, bc,
# libelf-dev, libssl-dev, lz4).
#
#   build_kernel.sh TARBALL FRAGMENT OUT_BZIMAGE OUT_MODULES_BUILTIN
#
# Jobs: $AK_KERNEL_JOBS (default: the number of online CPUs).
set -eu

if [ $# -ne 4 ]; then
        echo "usage: $0 TARBALL FRAGMENT OUT_BZIMAGE OUT_MODULES_BUILTIN" >&2
        exit 2
fi
tarball=$1 fragment=$2 out_bz=$3 out_builtin=$4
case $fragment in /*) ;; *) fragment=$PWD/$fragment ;; esac
case $out_bz in /*) ;; *) out_bz=$PWD/$out_bz ;; esac
case $out_builtin in /*) ;; *) out_builtin=$PWD/$out_builtin ;; esac
if [ ! -r "$tarball" ]; then
        echo "$0: cannot read $tarball: install linux-source-6.1 (tools/deps.sh)" >&2
        exit 1
fi
for tool in make gcc flex bison bc lz4 xz; do
        command -v $tool >/dev/null 2>&1 || { echo "$0: $tool not found: run tools/deps.sh" >&2; exit 1; }
done
jobs=${AK_KERNEL_JOBS:-$(getconf _NPROCESSORS_ONLN)}

work=$(mktemp -d "${TMPDIR:-/tmp}/ak-kernel.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
tar -xJf "$tarball" -C "$work"
src=$(find "$work" -mindepth 1 -maxdepth 1 -type d -name 'linux-source-*' | head -n 1)
[ -n "$src" ] || { echo "$0: $tarball holds no linux-source-* directory" >&2; exit 1; }
cd "$src"

export ARCH=x86_64 KBUILD_BUILD_USER=ak KBUILD_BUILD_HOST=ak \
        KBUILD_BUILD_TIMESTAMP="Thu Jan  1 00:00:00 UTC 1970" KBUILD_BUILD_VERSION=1
make -s tinyconfig >/dev/null
scripts/kconfig/merge_config.sh -m .config "$fragment" >/dev/null
make -s olddefconfig >/dev/null

# Kconfig drops an option whose dependencies are missing without a word:
# every option the fragment sets must come out as it says.
bad=0
for line in $(grep -E '^CONFIG_[A-Z0-9_]+=' "$fragment"); do
        key=${line%%=*} want=${line#*=}
        got=$(grep -E "^$key=" .config | cut -d= -f2- || true)
        if [ "$want" = n ]; then
                [ -z "$got" ] && continue
        elif [ "$got" = "$want" ]; then
                continue
        fi
        echo "$0: $fragment sets $key=$want but the kernel's Kconfig made it '${got:-n}' (a missing dependency?)" >&2
        bad=1
done
[ $bad -eq 0 ] || exit 1

make -s -j"$jobs" bzImage
cp arch/x86/boot/bzImage "$out_bz"
cp modules.builtin "$out_builtin"
