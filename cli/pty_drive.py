#!/usr/bin/python3
"""Runs a command on a fresh pseudo-terminal, as a person at a terminal
would: the pty is its controlling terminal and its stdin/stdout/stderr.

  pty_drive.py ROWS COLS STEPS_JSON OUT_FILE -- CMD [ARGS...]

STEPS_JSON is a list of steps done in order while CMD runs:
  ["expect", TEXT]        wait until TEXT has appeared in the output
  ["send", TEXT]          type TEXT
  ["resize", ROWS, COLS]  change the window (the kernel sends SIGWINCH)
  ["signal", NAME]        send signal NAME (e.g. "SIGTERM") to CMD
  ["sleep", SECONDS]
After the steps it reads until CMD closes the terminal. OUT_FILE gets the
output; stdout gets `rc=N` (or `signal=N`), `before=` and `after=`: stty -g
of the terminal before CMD started and after it ended. Exit 1 when a step
timed out (60 s each; the reason on stderr)."""
import fcntl
import json
import os
import select
import signal
import struct
import subprocess
import sys
import termios
import time


def winsize(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def stty_g(slave):
    return subprocess.run(["stty", "-g"], stdin=slave, capture_output=True, text=True).stdout.strip()


def read_some(master, out, timeout):
    r, _, _ = select.select([master], [], [], timeout)
    if not r:
        return True
    try:
        data = os.read(master, 65536)
    except OSError:
        return False
    if not data:
        return False
    out.extend(data)
    return True


def main():
    rows, cols, steps, out_file = int(sys.argv[1]), int(sys.argv[2]), json.loads(sys.argv[3]), sys.argv[4]
    cmd = sys.argv[sys.argv.index("--") + 1:]
    master, slave = os.openpty()
    winsize(slave, rows, cols)
    before = stty_g(slave)

    def child_setup():
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    p = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave, preexec_fn=child_setup, close_fds=True)
    out = bytearray()
    ok = True
    for step in steps:
        if step[0] == "expect":
            want = step[1].encode()
            deadline = time.time() + 60
            while want not in out and time.time() < deadline:
                if not read_some(master, out, 0.2) and p.poll() is not None:
                    break
            if want not in out:
                print("step %r: not seen in %r" % (step, bytes(out[-400:])), file=sys.stderr)
                ok = False
                break
        elif step[0] == "send":
            os.write(master, step[1].encode())
        elif step[0] == "resize":
            winsize(master, step[1], step[2])
        elif step[0] == "signal":
            p.send_signal(getattr(signal, step[1]))
        elif step[0] == "sleep":
            end = time.time() + step[1]
            while time.time() < end:
                read_some(master, out, max(0.0, end - time.time()))
    deadline = time.time() + 120
    while time.time() < deadline:
        if not read_some(master, out, 0.2) and p.poll() is not None:
            break
        if p.poll() is not None and not select.select([master], [], [], 0.2)[0]:
            break
    try:
        rc = p.wait(timeout=max(1, deadline - time.time()))
    except subprocess.TimeoutExpired:
        p.kill()
        rc = p.wait()
        print("the command did not end", file=sys.stderr)
        ok = False
    after = stty_g(slave)
    with open(out_file, "wb") as f:
        f.write(out)
    print("rc=%d" % rc if rc >= 0 else "signal=%d" % -rc)
    print("before=" + before)
    print("after=" + after)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
