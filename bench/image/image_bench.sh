#!/usr/bin/env bash
# bench/image: OCI image figures, each beside a baseline measured in the same
# run, from a docker-registry on loopback holding an image made here
# (vmm/image/oci/testdata/make_image.py: gzip layers of incompressible bytes):
#
#   ak image pull REF (pull + convert to ext4)  vs  skopeo copy docker://REF oci:DIR
#                                                   + umoci unpack + mkfs.ext4 -d
#                                                   (same sizing rule as ak)
#   ak image pull REF again (cache hit)         vs  the pull above
#   ak run --image IMG -- .../busybox echo hi   vs  the same in base, through a
#   (boot to first output)                          local stack (ak up)
#
#   bazel run -c opt //bench/image -- [--runs N] [--layers N] [--layer-mib M]
#
# Needs root (owners in the ext4), docker-registry, skopeo, umoci, and for
# the run figures a kernel in $AK_TEST_IMAGES (/var/tmp/ak-test-images),
# given to the stack as an image seed (ak image export-seed / seed --from).
set -euo pipefail

runs=3 layers=4 layer_mib=25
while [ $# -gt 0 ]; do
        case $1 in
        --runs) runs=$2; shift 2 ;;
        --layers) layers=$2; shift 2 ;;
        --layer-mib) layer_mib=$2; shift 2 ;;
        *) echo "usage: image_bench [--runs N] [--layers N] [--layer-mib M]" >&2; exit 2 ;;
        esac
done

# A runfile: from the runfiles tree, else from the runfiles manifest.
runfile() {
        local rf=${RUNFILES_DIR:-$0.runfiles}/ak/$1
        if [ -e "$rf" ]; then echo "$rf"; else grep "^ak/$1 " "${RUNFILES_MANIFEST_FILE:-$0.runfiles_manifest}" | cut -d' ' -f2; fi
}
ak=$(runfile cli/ak)
mkimage=$(runfile vmm/image/oci/testdata/make_image.py)
[ -x "$ak" ] && [ -f "$mkimage" ] || { echo "image_bench: cannot find ak or make_image.py in the runfiles" >&2; exit 1; }
for t in docker-registry skopeo umoci mkfs.ext4; do
        command -v $t >/dev/null || { echo "image_bench: $t is not installed (tools/deps.sh)" >&2; exit 1; }
done

tmp=$(mktemp -d /tmp/akbench.XXXXXX)
reg_pid=
cleanup() {
        AK_HOME=$tmp/runhome "$ak" down >/dev/null 2>&1 || true
        [ -n "$reg_pid" ] && kill "$reg_pid" 2>/dev/null
        rm -rf "$tmp"
}
trap cleanup EXIT
export AK_DEBIAN_MIRROR=http://127.0.0.1:9/ak-image-bench   # never the archive
now() { date +%s%N; }
ms() { echo $((($2 - $1) / 1000000)); }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : int((a[NR / 2] + a[NR / 2 + 1]) / 2)}'; }

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$tmp/registry.yml" <<CFG
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $tmp/registry
http:
  addr: 127.0.0.1:$port
CFG
docker-registry serve "$tmp/registry.yml" >/dev/null 2>"$tmp/registry.log" &
reg_pid=$!
for i in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
echo '{"default":[{"type":"insecureAcceptAnything"}]}' >"$tmp/policy.json"
python3 "$mkimage" "$tmp/src" 1 --layers "$layers" --layer-bytes $((layer_mib << 20)) >/dev/null
skopeo --policy "$tmp/policy.json" copy -q --dest-tls-verify=false oci:"$tmp/src":1 docker://127.0.0.1:$port/bench/img:1
ref=127.0.0.1:$port/bench/img:1
echo "image: $layers gzip layers x $layer_mib MiB (incompressible), $(du -sm "$tmp/src/blobs" | cut -f1) MiB of blobs; $runs runs"

declare -a pull hit base_line
for i in $(seq "$runs"); do
        export AK_HOME=$tmp/home$i
        t0=$(now)
        "$ak" image pull "$ref" --name benchimg >"$tmp/pull.out" 2>&1 || { cat "$tmp/pull.out"; exit 1; }
        t1=$(now)
        "$ak" image pull "$ref" --name benchimg >"$tmp/pull.out" 2>&1 || { cat "$tmp/pull.out"; exit 1; }
        t2=$(now)
        pull+=($(ms "$t0" "$t1")) hit+=($(ms "$t1" "$t2"))
        d=$tmp/pipe$i
        mkdir -p "$d"
        t0=$(now)
        skopeo --policy "$tmp/policy.json" copy -q --src-tls-verify=false docker://"$ref" oci:"$d/layout":1
        umoci unpack --image "$d/layout":1 "$d/bundle" >/dev/null 2>&1
        mb=$(($(du -sb "$d/bundle/rootfs" | cut -f1) / 1048576 * 5 / 4 + 256))
        mkfs.ext4 -q -F -L akroot -E root_owner=0:0 -d "$d/bundle/rootfs" "$d/rootfs.ext4" ${mb}m >/dev/null
        t1=$(now)
        base_line+=($(ms "$t0" "$t1"))
        echo "run $i: ak image pull ${pull[-1]} ms | skopeo+umoci+mkfs.ext4 ${base_line[-1]} ms | cache hit ${hit[-1]} ms"
        rm -rf "$d"
done
p=$(printf '%s\n' "${pull[@]}" | median) b=$(printf '%s\n' "${base_line[@]}" | median) h=$(printf '%s\n' "${hit[@]}" | median)
echo "pull+convert   median $p ms   vs skopeo copy + umoci unpack + mkfs.ext4 -d $b ms   ($(awk "BEGIN {printf \"%.2f\", $p / $b}")x, target <= 1.0x)"
echo "cache hit      median $h ms   ($(awk "BEGIN {printf \"%.3f\", $h / $p}")x of a pull)"

# Boot to first output, through a local stack: a pulled image vs base.
cache=${AK_TEST_IMAGES:-/var/tmp/ak-test-images}
if [ ! -e "$cache/kernel/current" ]; then
        echo "ak run: skipped (no kernel in $cache: run a VM test once to download it)"
        exit 0
fi
mkdir -p "$tmp/cachehome" && ln -s "$cache" "$tmp/cachehome/images"
AK_HOME=$tmp/cachehome "$ak" image export-seed "$tmp/seed" >/dev/null
export AK_HOME=$tmp/runhome
"$ak" image seed --from "$tmp/seed" >/dev/null
"$ak" image pull "$ref" --name benchimg >/dev/null 2>&1
"$ak" up --warm 0 --no-gateway >/dev/null   # no fixed port: other stacks may hold :18888
declare -a ri rb
# The made-up image is FROM scratch (files of random bytes, no shell, no
# /etc): the command is the busybox every ak image has, named by its path
# (/usr/local/bin in an imported image, whose config's PATH=/usr/bin:/bin the
# run honours as docker does; /bin in base). A first run of each warms the
# page cache; a failure says why instead of a figure.
bb_image=/usr/local/bin/busybox bb_base=busybox
for img in benchimg base; do
        bb=$bb_base
        [ $img = base ] || bb=$bb_image
        if ! "$ak" run --no-network --image $img -- $bb echo hi >"$tmp/run.out" 2>"$tmp/run.err" ||
                [ "$(cat "$tmp/run.out")" != hi ]; then
                echo "ak run --image $img: not measured: $(tail -n 3 "$tmp/run.out" "$tmp/run.err")"
                exit 1
        fi
done
for i in $(seq "$runs"); do
        t0=$(now); "$ak" run --no-network --image benchimg -- $bb_image echo hi >/dev/null 2>&1; t1=$(now)
        "$ak" run --no-network --image base -- $bb_base echo hi >/dev/null 2>&1; t2=$(now)
        ri+=($(ms "$t0" "$t1")) rb+=($(ms "$t1" "$t2"))
        echo "run $i: ak run --image benchimg ${ri[-1]} ms | ak run (base) ${rb[-1]} ms"
done
a=$(printf '%s\n' "${ri[@]}" | median) c=$(printf '%s\n' "${rb[@]}" | median)
echo "ak run --image median $a ms   vs base $c ms   ($(awk "BEGIN {printf \"%.2f\", $a / $c}")x)"
