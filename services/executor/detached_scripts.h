/* The guest-side scripts of detached commands (POSIX sh; busybox or
 * coreutils + util-linux). Each runs as `sh -c SCRIPT ak-detached ARGS...`.
 * Private to services/executor. */
#pragma once

/* ARGS: root id started_ms max_log argv...; runs as the command's user in
 * its workdir and environment. Prints the command's pid once it runs; exit
 * 104 when root holds DETACHED_MAX_PER_SANDBOX commands already. Per
 * stream, the first max_log bytes are kept in root/id/stdout|stderr and the
 * rest is read and dropped, so the command never blocks on its output.
 * The logs grow while the command runs: each dd is one read(2) of what the
 * pipe holds (no fullblock), appended at once, so a reader sees output as
 * it is written (busybox `head -c` buffered it in stdio until the end). A
 * read that adds nothing is the end of the stream. */
#define DETACHED_SH_START \
        "r=$1 i=$2 t=$3 m=$4; shift 4\n" \
        "[ -d \"$r\" ] || mkdir -m 1777 \"$r\" 2>/dev/null\n" \
        "umask 077\n" \
        "[ $(($(ls \"$r\" | wc -l))) -lt 256 ] || { echo 'too many detached commands' >&2; exit 104; }\n" \
        "d=$r/$i\n" \
        "mkdir \"$d\" || exit 105\n" \
        "printf '%s\\0' \"$@\" > \"$d/cmd\"; echo \"$t\" > \"$d/started\"; echo \"$m\" > \"$d/max\"\n" \
        "mkfifo \"$d/o\" \"$d/e\" \"$d/p\" || exit 106\n" \
        "setsid sh -c '\n" \
        "d=$1 m=$2; shift 2\n" \
        "keep() { : > \"$1\"; n=0; while [ $n -lt $m ]; do k=$((m - n)); [ $k -gt 65536 ] && k=65536\n" \
        "  dd bs=$k count=1 2>/dev/null >> \"$1\" || break; s=$(($(wc -c < \"$1\")))\n" \
        "  [ $s -gt $n ] || break; n=$s; done; cat > /dev/null; }\n" \
        "keep \"$d/stdout\" < \"$d/o\" &\n" \
        "keep \"$d/stderr\" < \"$d/e\" &\n" \
        "setsid \"$@\" > \"$d/o\" 2> \"$d/e\" < /dev/null &\n" \
        "c=$!\n" \
        "echo $c > \"$d/pid\"; echo $c > \"$d/p\"\n" \
        "wait $c; rc=$?\n" \
        "wait\n" \
        "echo $rc > \"$d/exit.new\"; mv \"$d/exit.new\" \"$d/exit\"\n" \
        "' ak-detached \"$d\" \"$m\" \"$@\" < /dev/null > /dev/null 2>&1 &\n" \
        "read pid < \"$d/p\"; rm -f \"$d/p\"\n" \
        "echo \"$pid\"\n"

/* ARGS: root stream offset max [id...] (no id: every command, oldest
 * first). stream is "-" (no data), "stdout" or "stderr". Prints one record
 * per id (detached_parse.h). Runs as root. */
#define DETACHED_SH_INFO \
        "r=$1 s=$2 o=$3 n=$4; shift 4\n" \
        "sz() { if [ -f \"$1\" ]; then echo $(($(wc -c < \"$1\"))); else echo 0; fi; }\n" \
        "if [ $# -eq 0 ]; then [ -d \"$r\" ] || exit 0; set -- $(ls \"$r\"); fi\n" \
        "for i; do d=$r/$i\n" \
        "  if [ ! -f \"$d/pid\" ]; then printf 'ak0 %s\\n' \"$i\"; continue; fi\n" \
        "  x=-; [ -f \"$d/exit\" ] && x=$(cat \"$d/exit\")\n" \
        "  k=0; [ -f \"$d/killed\" ] && k=1\n" \
        "  printf 'ak1 %s %s %s %s %s %s %s %s %s\\n' \"$i\" \"$(cat \"$d/pid\")\" \"$(cat \"$d/started\")\" \"$x\" " \
        "\"$k\" \"$(sz \"$d/stdout\")\" \"$(sz \"$d/stderr\")\" \"$(cat \"$d/max\")\" \"$(sz \"$d/cmd\")\"\n" \
        "  cat \"$d/cmd\"\n" \
        "  [ \"$s\" = - ] && continue\n" \
        "  t=$(sz \"$d/$s\"); l=0; [ \"$t\" -gt \"$o\" ] && l=$((t - o)); [ \"$l\" -gt \"$n\" ] && l=$n\n" \
        "  echo \"$l\"\n" \
        "  [ \"$l\" -gt 0 ] && tail -c +$((o + 1)) \"$d/$s\" | head -c \"$l\"\n" \
        "done\n" \
        "exit 0\n"

/* ARGS: root id. SIGKILL to the command's process group, then waits up to
 * 5 s for the wrapper to record its exit. Exit 3: no such command. Root. */
#define DETACHED_SH_KILL \
        "d=$1/$2; [ -f \"$d/pid\" ] || exit 3\n" \
        "[ -f \"$d/exit\" ] && exit 0\n" \
        ": > \"$d/killed\"; kill -9 -\"$(cat \"$d/pid\")\" 2>/dev/null\n" \
        "i=0; while [ ! -f \"$d/exit\" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done\n" \
        "exit 0\n"
