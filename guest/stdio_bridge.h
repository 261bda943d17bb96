/* `ak-guest --stdio` and `--relay`: one host connection on two file
 * descriptors (stdin in, stdout out: pipes, as `container exec -i` gives
 * them, or a socket). The agent serves stream sockets, so a socketpair
 * carries the connection to this process's agent (--stdio), or a socket
 * connected to a running agent (--relay): one thread copies in → socket
 * (and half-closes it at EOF), another socket → out (and hangs the socket
 * up when out's reader has gone, so the agent aborts what it runs). */
#pragma once

struct stdio_bridge;

/* Starts both threads; *ret_fd is the agent's end (hand it to
 * agent_adopt). Call after agent_new, so the threads inherit its blocked
 * signals. Once per process (-EBUSY after). 0 or -errno. */
int stdio_bridge_start(int in, int out, int *ret_fd, struct stdio_bridge **ret);

/* The same, to sock, a stream socket connected to an agent (taken; closed
 * on failure). */
int stdio_bridge_relay(int in, int out, int sock, struct stdio_bridge **ret);

/* Waits until everything the agent wrote has reached out (the agent has
 * closed its end). The input thread may still be blocked in
 * read(in): the process exits next. NULL is a no-op. */
void stdio_bridge_finish(struct stdio_bridge *b);
