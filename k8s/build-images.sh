#!/bin/sh
# Builds the images the manifests run, ak/<service>:VERSION, from Bazel's
# outputs (-c opt), with k8s/Dockerfile. VERSION is what the binaries say.
# Usage: k8s/build-images.sh [REGISTRY/]   e.g. k8s/build-images.sh registry.example/
#   then docker push the four images, and with a registry prefix point the
#   manifests at it (kustomize: `images:` in kustomization.yaml).
set -eu
prefix=${1:-}
cd "$(dirname "$0")/.."
targets="//services/scheduler:ak-scheduler //services/executor:ak-executor //services/signer:ak-signer
         //services/auditor:ak-auditor //services/gateway:ak-gateway //guest:ak-guest //cli:ak"
# shellcheck disable=SC2086
bazel build -c opt $targets
bin=$(bazel info -c opt bazel-bin)
version=$("$bin/services/scheduler/ak-scheduler" --version | awk '{print $2}')
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
for s in scheduler executor signer auditor gateway; do
        install -D -m 755 "$bin/services/$s/ak-$s" "$ctx/opt/ak/services/$s/ak-$s"
done
install -D -m 755 "$bin/guest/ak-guest" "$ctx/opt/ak/guest/ak-guest"
install -D -m 755 "$bin/cli/ak" "$ctx/opt/ak/cli/ak"   # the seed stage runs ak image export-seed
cp k8s/Dockerfile "$ctx/Dockerfile"
for s in scheduler signer auditor gateway executor; do
        docker build --target "$s" -t "${prefix}ak/$s:$version" "$ctx"
done
echo "built ${prefix}ak/{scheduler,signer,auditor,gateway,executor}:$version"
