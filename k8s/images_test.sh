#!/bin/sh
# k8s/build-images.sh with buildah, offline: the scheduler and signer images
# are built from this tree's binaries on a runtime base made here (the
# binaries' shared libraries copied from this machine, which is Debian 12 as
# the real base is; the real base needs the Debian archive), in a private
# vfs store under a temporary directory. Then: the OCI labels (source,
# version = the binary's --version, revision, title) as buildah and, from an
# OCI layout, skopeo read them; the user the manifests run as; and the
# image's own binary answering --version when run with buildah (chroot
# isolation). The executor image is not built here: its image seed needs the
# Debian archive (the kernel package).
set -eu
cd "${TEST_SRCDIR:-$(dirname "$0")/..}/${TEST_WORKSPACE:-ak}" 2>/dev/null || cd "$(dirname "$0")/.."
for t in buildah skopeo python3; do
        if ! command -v $t >/dev/null 2>&1; then
                echo "SKIPPED: images_test needs $t (tools/deps.sh)"
                exit 0
        fi
done
t=$(mktemp -d /tmp/akimg.XXXXXX)
trap 'buildah rm --all >/dev/null 2>&1 || true; rm -rf "$t"' EXIT
cat >"$t/storage.conf" <<CONF
[storage]
driver = "vfs"
runroot = "$t/run"
graphroot = "$t/root"
CONF
export CONTAINERS_STORAGE_CONF="$t/storage.conf"
fail() { echo "FAIL: $*" >&2; exit 1; }

# The base: every library ak-scheduler and ak-signer load, where they load them.
c=$(buildah from scratch)
for f in $(ldd services/scheduler/ak-scheduler services/signer/ak-signer | awk '/=> \//{print $3} /^\t\/.*ld-linux/{print $1}' | sort -u); do
        real=$(readlink -f "$f")
        buildah copy "$c" "$real" "$f" >/dev/null
done
buildah commit --rm "$c" localhost/ak-test-base >/dev/null

rev=0123456789abcdef0123456789abcdef01234567
src=https://git.example.invalid/ak
k8s/build-images.sh --bin "$PWD" --base localhost/ak-test-base --only "scheduler signer" \
        --source "$src" --revision "$rev" --prefix localhost/ >"$t/build.log" 2>&1 ||
        { cat "$t/build.log" >&2; fail "build-images.sh failed"; }
version=$(services/scheduler/ak-scheduler --version | awk '{print $2}')

for s in scheduler signer; do
        img=localhost/ak/$s:$version
        buildah inspect --type image "$img" >"$t/$s.buildah.json" || fail "no image $img: $(cat "$t/build.log")"
        buildah push "$img" "oci:$t/oci-$s:$version" >/dev/null 2>&1 || fail "buildah push $img to an OCI layout"
        skopeo inspect --config "oci:$t/oci-$s:$version" >"$t/$s.skopeo.json" || fail "skopeo inspect $s"
        python3 - "$t/$s.buildah.json" "$t/$s.skopeo.json" "$s" "$version" "$rev" "$src" <<'PY' || exit 1
import json, sys
b, k, s, version, rev, src = sys.argv[1:]
want = {"org.opencontainers.image.source": src, "org.opencontainers.image.version": version,
        "org.opencontainers.image.revision": rev, "org.opencontainers.image.title": "ak-" + s}
for who, cfg in (("buildah", json.load(open(b))["OCIv1"]["config"]), ("skopeo", json.load(open(k))["config"])):
    labels = cfg.get("Labels") or {}
    for key, v in want.items():
        if labels.get(key) != v:
            sys.exit("FAIL: %s: %s says %s=%r, want %r" % (s, who, key, labels.get(key), v))
    if not labels.get("org.opencontainers.image.created", "").endswith("Z"):
        sys.exit("FAIL: %s: %s: no created label" % (s, who))
    if cfg.get("User") != "65532:65532":
        sys.exit("FAIL: %s: %s: user %r, the manifests run it as 65532:65532" % (s, who, cfg.get("User")))
    if cfg.get("Entrypoint") != ["/opt/ak/services/%s/ak-%s" % (s, s)]:
        sys.exit("FAIL: %s: %s: entrypoint %r" % (s, who, cfg.get("Entrypoint")))
print("images_test: ak/%s:%s labels and config as built (buildah and skopeo agree)" % (s, version))
PY
done

# The image runs its binary (buildah's chroot isolation: no daemon, no runtime).
c=$(buildah from localhost/ak/scheduler:"$version")
out=$(buildah run --isolation chroot --user 65532:65532 "$c" -- /opt/ak/services/scheduler/ak-scheduler --version 2>&1) ||
        fail "running ak-scheduler in its image: $out"
[ "$out" = "ak-scheduler $version" ] || fail "ak-scheduler --version in its image said: $out"
echo "images_test: build-images.sh built ak/scheduler and ak/signer with buildah; labels checked; the image runs: $out"
