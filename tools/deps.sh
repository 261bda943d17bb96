#!/usr/bin/env bash
# Installs every Debian package ak's build, tests and ./ak need. Idempotent:
# installs only what is missing, says what, and is silent when all is there.
# Usage: tools/deps.sh [--check]   (--check: exit 1 if anything is missing)
set -euo pipefail

packages=(
        # build
        bazel-bootstrap            # Bazel 4.2.3, offline WORKSPACE build
        build-essential
        pkg-config
        protobuf-c-compiler        # protoc-c
        libprotobuf-c-dev
        libgrpc-dev                # gRPC C core + gpr
        libssl-dev                 # OpenSSL 3 libcrypto: lib/vault's AES-256-GCM
        libcurl4-openssl-dev
        libmicrohttpd-dev          # ak-gateway's HTTP/1.1 server (services/gateway)
        libcpptoml-dev             # agentkernel.toml (cli/toml.cc): header-only C++ TOML
        libmicrohttpd12            # ... built with GnuTLS: ak-gateway --tls-cert/--tls-key
        libgnutls30                # its TLS
        curl                       # tests/security:gateway_fleet_test: a verifying HTTPS client
        libarchive-dev             # image layers: tar, gzip, zstd (vmm/image/oci_layer.c)
        libnftables-dev            # vmm/net/nft_sets: a VM's DNS-answered addresses into its nft sets
        libgtest-dev
        libgmock-dev
        android-libboringssl-dev   # BoringSSL, dlmopen()ed by lib/crypto
        clang-14                   # libFuzzer targets (--config=fuzz)
        libclang-rt-14-dev
        # tests
        openssl                    # lib/rpc's TLS tests make their certificates
        python3                    # /usr/bin/python3 for independent checks
        python3-grpcio             # lib/rpc interop test: another gRPC stack as the client
        python3-cryptography       # lib/receipt: an independent Ed25519 check of our receipts
        python3-yaml               # k8s/manifests_test parses the manifests
        prometheus                 # promtool: checks /metrics output and k8s alert rules
        python3-prometheus-client  # a second parser of the /metrics output
        # microVMs (services/executor)
        nftables                   # nft: a VM's network policy (vmm/backend/vmm_net.h)
        iproute2                   # ip: its veth pair and routes
        util-linux                 # nsenter: configuring its network namespace
        qemu-system-x86            # QEMU microvm with vhost-user-vsock-device
        busybox-static             # the base image's userland (must be static)
        kmod                       # depmod: modules.dep for the guest kernel's modules
        linux-source-6.1           # ak's small guest kernel (//vmm/kernel:guest_kernel, manual) is built from it
        flex                       # ... and the kernel build needs these
        bison
        bc
        libelf-dev
        lz4                        # its image is LZ4-compressed (CONFIG_KERNEL_LZ4)
        debootstrap                # root filesystem images (ak image build --packages)
        e2fsprogs                  # mkfs.ext4 -d packs root filesystem images
        skopeo                     # OCI image tests: copies and converts test images
        umoci                      # OCI image tests: builds test image layouts
        zstd                       # OCI image tests: zstd-compressed layers
        docker-registry            # OCI pull tests (vmm/image/oci): the registry on loopback
        apache2-utils              # htpasswd: that registry's basic-auth test file
        musl-tools                 # oci_vm_test: a program linked against musl (an Alpine-like image)
        zsh                        # cli/completion_test: `ak completion zsh` parses and registers
        fish                       # cli/completion_test: `ak completion fish` answers `complete -C`
        buildah                    # k8s/build-images.sh: images without a Docker daemon (k8s:images_test)
)

# npm packages the tests use (node comes from the machine's nodejs), exact
# versions: agentkernel's own Node SDK, which //services/gateway:stack_test
# drives unchanged against ak-gateway; the official MCP TypeScript SDK, whose
# client //cli/mcp:sdk_test uses to spawn `ak mcp-server`; kubernetes-models,
# the Kubernetes OpenAPI schemas as validators, with which //k8s:schema_test
# checks every manifest offline.
npm_packages=(
        agentkernel@0.18.1
        @modelcontextprotocol/sdk@1.32.2
        kubernetes-models@5.1.0
)
npm_deps() {
local npm_dir=/usr/local/lib/ak-npm s="" want=() p name ver
[ "$(id -u)" -ne 0 ] && s=sudo
command -v npm >/dev/null || return 0
for p in "${npm_packages[@]}"; do
        name=${p%@*} ver=${p##*@}
        grep -qs "\"version\": *\"$ver\"" "$npm_dir/node_modules/$name/package.json" || want+=("$p")
done
[ "${#want[@]}" -eq 0 ] && return 0
if [ "${1:-}" = "--check" ]; then
        echo "missing npm packages in $npm_dir: ${want[*]}" >&2
        exit 1
fi
$s mkdir -p "$npm_dir"
$s npm install --silent --save-exact --prefix "$npm_dir" "${want[@]}" >/tmp/ak-npm.log 2>&1 ||
        { echo "tools/deps.sh: npm install ${want[*]} failed; see /tmp/ak-npm.log" >&2; exit 1; }
echo "ak: installed npm ${want[*]} in $npm_dir" >&2
}

missing=()
for p in "${packages[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
                missing+=("$p")
        fi
done

if [ "${#missing[@]}" -eq 0 ]; then
        npm_deps "$@"
        exit 0
fi
if [ "${1:-}" = "--check" ]; then
        echo "missing Debian packages: ${missing[*]}" >&2
        exit 1
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
        if ! command -v sudo >/dev/null; then
                echo "tools/deps.sh: need root (or sudo) to install: ${missing[*]}" >&2
                exit 1
        fi
        sudo="sudo"
fi

echo "ak: installing Debian packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Try with the lists the machine has; if they are missing or stale, update once and retry.
install() { $sudo apt-get install -y -qq "${missing[@]}" >/tmp/ak-apt.log 2>&1; }
if ! install; then
        $sudo apt-get update -qq
        if ! install; then
                echo "tools/deps.sh: apt-get install failed; see /tmp/ak-apt.log" >&2
                tail -n 20 /tmp/ak-apt.log >&2
                exit 1
        fi
fi
echo "ak: installed ${#missing[@]} packages" >&2
npm_deps "$@"
