#!/usr/bin/env bash
# tools/deb_pack.sh BIN_DIR OUT.deb: packs the built ak tree from BIN_DIR (a
# bazel-bin, or a test's runfiles) as a Debian package installing under /usr
# (install_tree.sh's layout), its control file from deb_control.sh. Needs no
# Bazel; install.sh --deb builds first and calls it.
set -euo pipefail
[ $# -eq 2 ] || {
        echo "usage: tools/deb_pack.sh BIN_DIR OUT.deb" >&2
        exit 2
}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
stage=$(mktemp -d /tmp/ak-deb.XXXXXX)
trap 'rm -rf "$stage"' EXIT
# The package's root becomes the system's /: 0755, never mktemp's 0700.
chmod 0755 "$stage"
"$here/install_tree.sh" "$1" "$stage/usr" 2>/dev/null
mkdir -p "$stage/DEBIAN"
"$here/deb_control.sh" "$stage" >"$stage/DEBIAN/control"
dpkg-deb --root-owner-group --build "$stage" "$2" >&2
