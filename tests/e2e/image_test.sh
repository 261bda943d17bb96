#!/usr/bin/env bash
# A non-base image through the whole stack, as a user meets it: `ak image
# build NAME` while the stack runs, `ak status` shows the executor reporting
# it (no restart), `ak run --image NAME` runs in it (the output comes from
# that image), `ak image rm NAME` and the report drops it, and a missing
# image is refused with what to do (not RESOURCE_EXHAUSTED).
#
# The image is a real root filesystem image built by `ak image build`, from
# a debootstrap stage seeded with a static busybox tree (vmm/testing/
# tiny_stage.h): debootstrap would take a minute or more and fetch from
# deb.debian.org, which tests must not reach. AK_DEBIAN_MIRROR points at a
# loopback port nothing listens on, so the stage's key is this test's own
# and a build that missed the seed would fail at once. The kernel comes from
# the VM tests' cache ($AK_TEST_IMAGES) when it is there.
set -uo pipefail

. "$(dirname "$0")/lib.sh" || exit 1
e2e_init aki akj
seed=$rf/vmm/seed_tiny_stage
[ -x "$seed" ] || { echo "no seed_tiny_stage at $seed"; exit 1; }
export AK_DEBIAN_MIRROR=http://127.0.0.1:9/ak-e2e-image-test-$$
images() {  # the images the stack's executor reports, one line each
        "$ak" status --json 2>/dev/null | /usr/bin/python3 -c 'import json, sys
for x in json.load(sys.stdin)["executors"]:
    print("\n".join(x["images"]))'
}
wait_images() {  # wait_images yes|no NAME: until the report has (or lacks) NAME, at most 15 s
        for i in $(seq 75); do
                if images | grep -qx "$2"; then [ "$1" = yes ] && return 0; else [ "$1" = no ] && return 0; fi
                sleep 0.2
        done
        return 1
}

# Air-gapped: with the mirror dead and no seed, the kernel cannot be had and
# the error names the seed flags; a seed exported from the VM tests' cache
# ($AK_TEST_IMAGES, where the kernel was downloaded once) and installed with
# `ak image seed --from` gives the stack its kernel and base image.
cache=${AK_TEST_IMAGES:-/var/tmp/ak-test-images}
AK_HOME=$tmp/empty "$ak" image build base >"$tmp/out" 2>&1 && fail "ak image build base without a kernel or a seed succeeded"
grep -q 'cannot download the guest kernel.*ak image seed --from DIR.*--image-seed DIR' "$tmp/out" ||
        fail "without a seed: $(cat "$tmp/out")"
if [ -e "$cache/kernel/current" ]; then
        # The cache's own home is its parent's layout: images/ is the store.
        mkdir -p "$tmp/cachehome" && ln -s "$cache" "$tmp/cachehome/images"
        AK_HOME=$tmp/cachehome "$ak" image export-seed "$tmp/seed" >"$tmp/out" 2>&1 ||
                fail "ak image export-seed: $(cat "$tmp/out")"
        t0=$(date +%s%3N)
        "$ak" image seed --from "$tmp/seed" >"$tmp/out" 2>&1 || fail "ak image seed --from: $(cat "$tmp/out")"
        echo "ak image seed --from (kernel + base, every file checked): $(($(date +%s%3N) - t0)) ms"
        [ -e "$home/images/kernel/current" ] || fail "the seed left no kernel/current"
fi

"$ak" up --warm 0 >"$tmp/up" 2>&1 || { cat "$tmp/up"; logs; exit 1; }
wait_images yes base || fail "the executor does not report base: $("$ak" status --json)"
images | grep -qx tiny && fail "tiny reported before it was built"

# A missing image: refused, naming the image and how to make it; by ak's
# own look at the local store, and by the scheduler for a client that calls
# it directly (AK_SCHEDULER, as on a fleet).
remote() { AK_SCHEDULER=unix:$home/run/scheduler.sock AK_TOKEN=$(cat "$home/run/token") "$ak" "$@"; }
missing() {  # missing WHEN: ak run --image tiny is refused, both ways
        "$ak" run --image tiny -- true >/dev/null 2>"$tmp/err" && fail "$1: ak run --image tiny succeeded"
        grep -q "no image named 'tiny': \`ak image build tiny\` makes one" "$tmp/err" ||
                fail "$1: ak run --image tiny said: $(cat "$tmp/err")"
        remote run --image tiny -- true >/dev/null 2>"$tmp/err" && fail "$1: ak run --image tiny via the scheduler succeeded"
        grep -q 'FAILED_PRECONDITION: no executor has image "tiny": build it .*`ak image build tiny`' "$tmp/err" ||
                fail "$1: the scheduler said: $(cat "$tmp/err")"
}
missing "before the build"

# Built while the stack runs: the executor reports it without a restart.
marker=made-by-image-test-$$
"$seed" "$home/images" "$marker" || { fail "seeding the stage"; exit 1; }
t0=$(date +%s%3N)
"$ak" image build tiny >"$tmp/build" 2>&1 || { fail "ak image build tiny: $(cat "$tmp/build")"; logs; exit 1; }
echo "ak image build tiny (seeded stage): $(($(date +%s%3N) - t0)) ms"
epid=$(grep -o '"executor":[0-9]*' "$home/run/stack.json" | cut -d: -f2)
t0=$(date +%s%3N)
if wait_images yes tiny; then
        echo "tiny in ak status $(($(date +%s%3N) - t0)) ms after the build"
else
        fail "ak status never showed tiny: $("$ak" status)"
fi
"$ak" status | grep -q 'images base, tiny' || fail "ak status text: $("$ak" status)"

# Run in it: the output comes from that image (base has no /etc/ak-image).
"$ak" run --image tiny -- cat /etc/ak-image >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc -eq 0 ] || { fail "ak run --image tiny exited $rc: $(cat "$tmp/err")"; logs; }
[ "$(cat "$tmp/out")" = "$marker" ] || fail "ak run --image tiny printed: $(cat "$tmp/out") $(cat "$tmp/err")"
"$ak" run -- cat /etc/ak-image >"$tmp/out" 2>"$tmp/err" && fail "base has /etc/ak-image: $(cat "$tmp/out")"
"$ak" sandbox create tbox --image tiny >/dev/null 2>"$tmp/err" || fail "sandbox create --image tiny: $(cat "$tmp/err")"
"$ak" exec tbox -- cat /etc/ak-image >"$tmp/out" 2>"$tmp/err"
[ "$(cat "$tmp/out")" = "$marker" ] || fail "exec in tbox: $(cat "$tmp/out") $(cat "$tmp/err")"
# Through the scheduler directly, as a fleet client: the same image.
remote run --image tiny -- cat /etc/ak-image >"$tmp/out" 2>"$tmp/err"
[ "$(cat "$tmp/out")" = "$marker" ] || fail "ak run --image tiny via AK_SCHEDULER: $(cat "$tmp/out") $(cat "$tmp/err")"
# In use by a sandbox of the local executor (its in-use mark in the shared
# store): listed as such, and rm refuses it until the sandbox is gone.
"$ak" image list >"$tmp/out" 2>&1
grep -E '^tiny .*ak-executor:vm-[0-9]+' "$tmp/out" >/dev/null || fail "ak image list does not show tiny in use: $(cat "$tmp/out")"
"$ak" image list --json | grep -q '"used_by":\["ak-executor:vm-' || fail "ak image list --json lacks used_by"
"$ak" image rm tiny >"$tmp/out" 2>&1 && fail "ak image rm tiny succeeded while tbox runs from it"
grep -q 'in use by ak-executor:vm-.*--force' "$tmp/out" || fail "ak image rm while in use said: $(cat "$tmp/out")"
"$ak" sandbox remove tbox >/dev/null || fail "remove tbox"
"$ak" image list | grep -E '^tiny .*ak-executor' && fail "tiny still listed in use after its sandbox went"

# Removed while the stack runs: dropped from the report, refused again.
"$ak" image rm tiny >"$tmp/out" 2>&1 || fail "ak image rm tiny: $(cat "$tmp/out")"
wait_images no tiny || fail "ak status still shows tiny after ak image rm: $("$ak" status)"
missing "after ak image rm"
# All of it without an executor restart.
[ "$(grep -o '"executor":[0-9]*' "$home/run/stack.json" | cut -d: -f2)" = "$epid" ] || fail "the executor restarted"

"$ak" down >/dev/null || fail "ak down"
if [ $failures -ne 0 ]; then
        logs
        echo "$failures failure(s)"
        exit 1
fi
echo PASS
