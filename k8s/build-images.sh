#!/bin/sh
# Builds the images the manifests run, ak/<service>:VERSION, from Bazel's
# outputs (-c opt) with buildah: no Docker daemon, no Dockerfile, rootful or
# rootless, any storage driver (set it in containers-storage.conf, or
# CONTAINERS_STORAGE_CONF). VERSION is what the binaries say.
#
# Usage: k8s/build-images.sh [--prefix REGISTRY/] [--source URL] [--base IMAGE]
#                            [--revision REV] [--bin DIR] [--only "scheduler ..."]
#   --prefix P    tag P ak/<service>:VERSION (then `buildah push` each, and
#                 point kustomization.yaml's images: at them)
#   --source URL  org.opencontainers.image.source (default: git's origin URL;
#                 one of the two is required)
#   --revision R  org.opencontainers.image.revision (default: git's HEAD)
#   --base IMAGE  the runtime base, already holding the libraries
#                 (libgrpc29 libprotobuf-c1 libcurl4 android-libboringssl
#                 ca-certificates libmicrohttpd12 libgnutls30): no apt-get,
#                 so an offline build. Default: debian:bookworm-slim plus those
#                 packages, committed as ak/base:VERSION (needs the archive)
#   --bin DIR     Bazel's output tree, already built (default: bazel build -c opt)
#   --only LIST   these images only (default: all five)
# Every image: OCI labels org.opencontainers.image.{source,version,revision,
# title,created}, the entrypoint its binary; the control plane's run as
# 65532:65532 (the manifests' runAsUser). The executor image also holds QEMU,
# ak-guest, ak-vmm (the VM supervisor of --vm-supervisors, found beside it
# as /opt/ak/vmm/ak-vmm), nsenter (util-linux) and an image seed (`ak image
# export-seed`, made in a build container: the kernel from the Debian
# archive), which its --image-seed names, so no node fetches anything.
set -eu
prefix="" source="" revision="" base="" bin="" only="scheduler signer auditor gateway executor"
while [ $# -gt 0 ]; do
        case "$1" in
        --prefix) prefix=$2; shift 2 ;;
        --source) source=$2; shift 2 ;;
        --base) base=$2; shift 2 ;;
        --revision) revision=$2; shift 2 ;;
        --bin) bin=$2; shift 2 ;;
        --only) only=$2; shift 2 ;;
        *) echo "build-images: unknown argument $1 (see the usage at the top of $0)" >&2; exit 2 ;;
        esac
done
cd "$(dirname "$0")/.."
command -v buildah >/dev/null || { echo "build-images: buildah is not installed (tools/deps.sh)" >&2; exit 1; }
if [ -z "$bin" ]; then
        bazel build -c opt //services/scheduler:ak-scheduler //services/executor:ak-executor \
                //services/signer:ak-signer //services/auditor:ak-auditor //services/gateway:ak-gateway \
                //guest:ak-guest //vmm:ak-vmm //cli:ak
        bin=$(bazel info -c opt bazel-bin)
fi
version=$("$bin/services/scheduler/ak-scheduler" --version | awk '{print $2}')
[ -n "$source" ] || source=$(git remote get-url origin 2>/dev/null || true)
[ -n "$source" ] || { echo "build-images: no git origin: say where the source lives with --source URL" \
        "(the images' org.opencontainers.image.source)" >&2; exit 1; }
if [ -z "$revision" ]; then
        revision=$(git rev-parse HEAD 2>/dev/null) || { echo "build-images: not in a git checkout: give" \
                "--revision REV (the images' org.opencontainers.image.revision)" >&2; exit 1; }
        git diff --quiet HEAD || echo "build-images: warning: uncommitted changes; the images say revision $revision" >&2
fi
created=$(date -u +%Y-%m-%dT%H:%M:%SZ)

# The libraries the binaries link (Debian 12's), and the executor's tools.
libs="libgrpc29 libprotobuf-c1 libcurl4 android-libboringssl ca-certificates libmicrohttpd12 libgnutls30"
executor_pkgs="qemu-system-x86 busybox-static kmod debootstrap e2fsprogs util-linux"
apt() { # container packages...
        c=$1; shift
        buildah run "$c" -- sh -ec "apt-get update -qq && apt-get install -y -qq --no-install-recommends $* \
                && rm -rf /var/lib/apt/lists/*"
}
if [ -z "$base" ]; then
        c=$(buildah from docker.io/library/debian:bookworm-slim)
        # shellcheck disable=SC2086
        apt "$c" $libs
        buildah commit --rm "$c" "ak/base:$version" >/dev/null
        base="ak/base:$version"
fi

# label CONTAINER SERVICE ENTRYPOINT USER: the config every image shares.
label() {
        buildah config --entrypoint "[\"$3\"]" --user "$4" \
                --label org.opencontainers.image.source="$source" \
                --label org.opencontainers.image.version="$version" \
                --label org.opencontainers.image.revision="$revision" \
                --label org.opencontainers.image.title="ak-$2" \
                --label org.opencontainers.image.created="$created" "$1"
}

# The image seed the executor installs with --image-seed: kernel and base
# image, checked against their manifest at start.
seed_dir=/opt/ak/image-seed
build_executor() {
        s=$(buildah from "$base")
        # shellcheck disable=SC2086
        apt "$s" $executor_pkgs
        buildah copy "$s" "$bin/guest/ak-guest" /opt/ak/guest/ak-guest >/dev/null
        buildah copy "$s" "$bin/cli/ak" /opt/ak/cli/ak >/dev/null
        buildah run "$s" -- sh -ec "AK_HOME=/tmp/ak-seed-home AK_GUEST_BIN=/opt/ak/guest/ak-guest \
                /opt/ak/cli/ak image export-seed $seed_dir && rm -rf /tmp/ak-seed-home"
        e=$(buildah from "$base")
        # shellcheck disable=SC2086
        apt "$e" $executor_pkgs
        buildah copy "$e" "$bin/guest/ak-guest" /opt/ak/guest/ak-guest >/dev/null
        buildah copy --from "$s" "$e" "$seed_dir" "$seed_dir" >/dev/null
        buildah rm "$s" >/dev/null
        buildah copy "$e" "$bin/vmm/ak-vmm" /opt/ak/vmm/ak-vmm >/dev/null
        buildah copy "$e" "$bin/services/executor/ak-executor" /opt/ak/services/executor/ak-executor >/dev/null
        label "$e" executor /opt/ak/services/executor/ak-executor 0:0   # privileged: /dev/kvm, netns, nft
        buildah commit --rm "$e" "${prefix}ak/executor:$version" >/dev/null
}

for svc in $only; do
        case "$svc" in
        scheduler|signer|auditor|gateway)
                c=$(buildah from "$base")
                buildah copy --chmod 0755 "$c" "$bin/services/$svc/ak-$svc" "/opt/ak/services/$svc/ak-$svc" >/dev/null
                label "$c" "$svc" "/opt/ak/services/$svc/ak-$svc" 65532:65532
                buildah commit --rm "$c" "${prefix}ak/$svc:$version" >/dev/null
                ;;
        executor) build_executor ;;
        *) echo "build-images: no image $svc (scheduler signer auditor gateway executor)" >&2; exit 2 ;;
        esac
        echo "built ${prefix}ak/$svc:$version"
done
# kubectl apply -k k8s/ (after the Secrets: see README.md).
