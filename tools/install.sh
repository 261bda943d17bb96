#!/usr/bin/env bash
# tools/install.sh PREFIX      builds ak (bazel -c opt) and installs it under PREFIX
# tools/install.sh --deb FILE  builds ak and packs the same tree as a .deb (prefix /usr)
#
# What lands where (ak finds its helpers by walking up from its own real path,
# lib/base/binpath.h, so the tree below PREFIX/lib/ak keeps the Bazel layout):
#   PREFIX/bin/ak                               -> ../lib/ak/cli/ak
#   PREFIX/lib/ak/cli/ak                        the CLI
#   PREFIX/lib/ak/services/NAME/ak-NAME         scheduler, executor, signer, auditor, gateway
#   PREFIX/lib/ak/vmm/ak-vmm                    the VM supervisor
#   PREFIX/lib/ak/guest/ak-guest                the guest agent (static)
#   PREFIX/share/man/man1/ak.1, ak-VERB.1       man pages (from the --help texts)
# After it, `ak` runs from any directory with no checkout and no Bazel. Its
# state stays in $AK_HOME (~/.agentkernel), as with ./ak.
# Installing over an existing tree replaces each file atomically (a running
# stack keeps the binaries it started with). Uninstall: rm -r PREFIX/lib/ak
# PREFIX/bin/ak.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

usage() {
        echo "usage: tools/install.sh PREFIX | --deb FILE.deb" >&2
        echo "  e.g. tools/install.sh /usr/local     (then: ak version)" >&2
        exit 2
}
[ $# -eq 1 ] || [ $# -eq 2 ] || usage
deb=
case $1 in
--deb)
        [ $# -eq 2 ] || usage
        deb=$2
        ;;
-h | --help) usage ;;
-*) usage ;;
*) [ $# -eq 1 ] || usage ;;
esac

"$root/tools/deps.sh"
echo "install: building ak (bazel build -c opt //cli:ak //cli:man)..." >&2
(cd "$root" && bazel build -c opt --noshow_progress //cli:ak //cli:man)
bin=$(cd "$root" && bazel info -c opt bazel-bin 2>/dev/null)

if [ -z "$deb" ]; then
        "$root/tools/install_tree.sh" "$bin" "$1"
        echo "install: done; run $1/bin/ak version" >&2
        exit 0
fi
"$root/tools/deb_pack.sh" "$bin" "$deb"
echo "install: wrote $deb (apt install ./$(basename "$deb"))" >&2
