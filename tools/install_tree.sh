#!/usr/bin/env bash
# tools/install_tree.sh BIN_DIR PREFIX: copies the built ak, its services,
# ak-vmm, ak-guest and the man pages (//cli:man, BIN_DIR/cli/man/*.1) from
# BIN_DIR (a bazel-bin) to PREFIX (see install.sh for the layout). Needs no Bazel: install.sh builds, this copies, tests call it
# with their runfiles. Each file is written beside its target and renamed
# into place, so a failed copy never leaves a half-written binary.
set -euo pipefail
[ $# -eq 2 ] || {
        echo "usage: tools/install_tree.sh BIN_DIR PREFIX" >&2
        exit 2
}
src=$1
prefix=$2
case $prefix in
/*) ;;
*) prefix=$(pwd)/$prefix ;;
esac

files=(
        cli/ak
        services/scheduler/ak-scheduler
        services/executor/ak-executor
        services/signer/ak-signer
        services/auditor/ak-auditor
        services/gateway/ak-gateway
        vmm/ak-vmm
        guest/ak-guest
)
for f in "${files[@]}"; do
        if [ ! -x "$src/$f" ]; then
                echo "install: $src/$f is missing or not executable: build //cli:ak first" >&2
                exit 1
        fi
done
pages=("$src"/cli/man/*.1)
if [ ! -f "$src/cli/man/ak.1" ]; then
        echo "install: $src/cli/man/ak.1 is missing: build //cli:man first" >&2
        exit 1
fi

lib=$prefix/lib/ak
for f in "${files[@]}"; do
        dst=$lib/$f
        mkdir -p "$(dirname "$dst")"
        tmp=$(mktemp "$dst.new.XXXXXX")
        # cp -L: in runfiles trees the inputs are symlinks to the real files.
        if ! cp -L "$src/$f" "$tmp" || ! chmod 0755 "$tmp" || ! mv -f "$tmp" "$dst"; then
                rm -f "$tmp"
                echo "install: copy $src/$f to $dst failed" >&2
                exit 1
        fi
done
man1=$prefix/share/man/man1
mkdir -p "$man1"
for p in "${pages[@]}"; do
        dst=$man1/$(basename "$p")
        tmp=$(mktemp "$dst.new.XXXXXX")
        if ! cp -L "$p" "$tmp" || ! chmod 0644 "$tmp" || ! mv -f "$tmp" "$dst"; then
                rm -f "$tmp"
                echo "install: copy $p to $dst failed" >&2
                exit 1
        fi
done
mkdir -p "$prefix/bin"
ln -sfn ../lib/ak/cli/ak "$prefix/bin/ak.new"
mv -fT "$prefix/bin/ak.new" "$prefix/bin/ak"
echo "install: ak and its helpers are in $lib, ak is $prefix/bin/ak" >&2
