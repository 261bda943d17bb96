/* ak-guest: the guest agent. Flags, wiring, logging; the work is in the
 * library (agent.h, init.h). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "guest/agent.h"
#include "guest/init.h"
#include "guest/stdio_bridge.h"
#include "lib/base/parse.h"

#define MAX_LISTEN 16

static void log_line(const char *msg)
{
        fprintf(stderr, "ak-guest: %s\n", msg);
}

static void usage(FILE *f)
{
        fputs("usage: ak-guest [--listen vsock:PORT|unix:PATH]... [--init [--modules FILE]\n"
              "                [--root DEVICE [--rootfstype TYPE]] [--page-reporting-order N]]\n"
              "       ak-guest --stdio | --relay unix:PATH\n"
              "\n"
              "  --listen SPEC   where to accept host connections (repeatable;\n"
              "                  default vsock:52000)\n"
              "  --init          run as PID 1: mount /proc /sys /dev /dev/pts /tmp, load\n"
              "                  modules, optionally switch root, reap orphans, and power\n"
              "                  off on `shutdown`\n"
              "  --modules FILE  kernel modules to load in order (one path or name a line)\n"
              "  --root DEVICE   mount DEVICE and switch into it\n"
              "  --rootfstype T  its filesystem type (default ext4)\n"
              "  --page-reporting-order N\n"
              "                  report free blocks of 4 KiB << N (0..10) to the host's\n"
              "                  balloon (default: the kernel's, 2 MiB)\n"
              "  --stdio         serve one host connection on stdin/stdout (the same\n"
              "                  protocol, e.g. under `container exec -i`), then exit\n"
              "  --relay SPEC    carry one connection on stdin/stdout to the agent\n"
              "                  listening at unix:PATH, then exit\n",
              f);
}

/* fds 0-2 must exist, or pipes for children would land on them. */
static void ensure_std_fds(void)
{
        for (int fd = 0; fd < 3; fd++) {
                if (fcntl(fd, F_GETFD) >= 0)
                        continue;
                int n = open("/dev/null", O_RDWR);
                if (n >= 0 && n != fd) {
                        dup2(n, fd);
                        close(n);
                }
        }
}

static int listen_all(struct agent *a, const char **specs, int n, bool init_mode)
{
        int ok = 0;

        /* In a fresh VM the vsock transport may still be probing: retry. */
        for (int attempt = 0; attempt < (init_mode ? 50 : 1); attempt++) {
                ok = 0;
                for (int i = 0; i < n; i++) {
                        if (!specs[i])
                                continue;
                        int r = agent_listen(a, specs[i]);
                        if (r < 0) {
                                if (attempt == 0 || !init_mode)
                                        fprintf(stderr, "ak-guest: listen %s: %s\n", specs[i], strerror(-r));
                                continue;
                        }
                        fprintf(stderr, "ak-guest: listening on %s\n", specs[i]);
                        specs[i] = NULL;
                        ok++;
                }
                bool all = true;
                for (int i = 0; i < n; i++)
                        all &= specs[i] == NULL;
                if (all)
                        return 0;
                struct timespec ts = { 0, 100 * 1000 * 1000 };
                nanosleep(&ts, NULL);
        }
        return ok ? 0 : -1;
}

/* --stdio: one connection on fds 0/1, then exit 0 (1 if it could not start). */
static int serve_stdio(bool other_modes)
{
        if (other_modes) {
                fprintf(stderr, "ak-guest: --stdio goes alone (no --listen, no --init)\n");
                return 2;
        }
        struct agent_options ao = { .exit_when_idle = true, .log = log_line };
        struct stdio_bridge *b = NULL;
        struct agent *a = NULL;
        int fd = -1;
        int r = agent_new(&ao, &a);
        if (r == 0)
                r = stdio_bridge_start(0, 1, &fd, &b);
        if (r == 0)
                r = agent_adopt(a, fd);
        if (r < 0) {
                fprintf(stderr, "ak-guest: --stdio: %s\n", strerror(-r));
                agent_free(a);
                return 1;
        }
        r = agent_run(a);
        agent_free(a);
        stdio_bridge_finish(b);
        if (r < 0)
                fprintf(stderr, "ak-guest: event loop: %s\n", strerror(-r));
        return r < 0 ? 1 : 0;
}

/* --relay unix:PATH: one connection on fds 0/1 to the agent listening at
 * PATH (retried for 5 s: it may be starting), then exit 0. */
static int relay(const char *spec)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct stdio_bridge *b = NULL;
        int fd = -1, r = -EINVAL;

        if (strncmp(spec, "unix:", 5) != 0 || strlen(spec + 5) >= sizeof(sa.sun_path)) {
                fprintf(stderr, "ak-guest: --relay %s: expected unix:PATH\n", spec);
                return 2;
        }
        strcpy(sa.sun_path, spec + 5);
        signal(SIGPIPE, SIG_IGN);
        for (int i = 0; i < 100; i++) {
                fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
                        r = 0;
                        break;
                }
                r = -errno;
                if (fd >= 0)
                        close(fd);
                fd = -1;
                struct timespec ts = { 0, 50 * 1000 * 1000 };
                nanosleep(&ts, NULL);
        }
        if (r == 0)
                r = stdio_bridge_relay(0, 1, fd, &b);
        if (r < 0) {
                fprintf(stderr, "ak-guest: --relay %s: %s\n", spec + 5, strerror(-r));
                return 1;
        }
        stdio_bridge_finish(b);
        return 0;
}

int main(int argc, char **argv)
{
        static const struct option longopts[] = {
                { "listen", required_argument, NULL, 'l' },
                { "init", no_argument, NULL, 'i' },
                { "modules", required_argument, NULL, 'm' },
                { "root", required_argument, NULL, 'r' },
                { "rootfstype", required_argument, NULL, 't' },
                { "page-reporting-order", required_argument, NULL, 'P' },
                { "stdio", no_argument, NULL, 's' },
                { "relay", required_argument, NULL, 'R' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        const char *specs[MAX_LISTEN];
        int n_specs = 0, c;
        struct init_options io = { .page_reporting_order = -1, .log = log_line };
        bool init_mode = false, stdio = false;
        const char *relay_to = NULL;

        while ((c = getopt_long(argc, argv, "l:h", longopts, NULL)) != -1) {
                switch (c) {
                case 'l':
                        if (n_specs == MAX_LISTEN) {
                                fprintf(stderr, "ak-guest: at most %d --listen\n", MAX_LISTEN);
                                return 2;
                        }
                        if (strncmp(optarg, "vsock:", 6) && strncmp(optarg, "unix:", 5)) {
                                fprintf(stderr, "ak-guest: --listen %s: expected vsock:PORT or unix:PATH\n",
                                        optarg);
                                return 2;
                        }
                        specs[n_specs++] = optarg;
                        break;
                case 'i':
                        init_mode = true;
                        break;
                case 'm':
                        io.modules_file = optarg;
                        break;
                case 'r':
                        io.root_device = optarg;
                        break;
                case 't':
                        io.root_fstype = optarg;
                        break;
                case 'P': {
                        unsigned v;
                        if (ak_parse_uint(optarg, 0, INIT_PAGE_REPORTING_ORDER_MAX, &v) < 0)
                                fprintf(stderr, "ak-guest: --page-reporting-order %s: expected 0..%d (ignored)\n",
                                        optarg, INIT_PAGE_REPORTING_ORDER_MAX);
                        else
                                io.page_reporting_order = (int)v;
                        break;
                }
                case 's':
                        stdio = true;
                        break;
                case 'R':
                        relay_to = optarg;
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        /* As PID 1 there is nobody to read a usage error: carry on. */
                        if (!init_mode) {
                                usage(stderr);
                                return 2;
                        }
                }
        }
        if (stdio)
                return serve_stdio(n_specs || init_mode || relay_to);
        if (relay_to) {
                if (n_specs || init_mode) {
                        fprintf(stderr, "ak-guest: --relay goes alone (no --listen, no --init)\n");
                        return 2;
                }
                return relay(relay_to);
        }
        if (!n_specs)
                specs[n_specs++] = "vsock:52000";

        if (init_mode && getpid() != 1) {
                fprintf(stderr, "ak-guest: --init: not PID 1\n");
                return 2;
        }
        ensure_std_fds();
        if (init_mode && init_setup(&io) < 0)
                log_line("root switch failed: serving from the initramfs");

        struct agent_options ao = { .init_mode = init_mode, .log = log_line };
        struct agent *a;
        int r = agent_new(&ao, &a);
        if (r < 0) {
                fprintf(stderr, "ak-guest: %s\n", strerror(-r));
                goto out;
        }
        if (listen_all(a, specs, n_specs, init_mode) < 0) {
                r = -EADDRNOTAVAIL;
                agent_free(a);
                goto out;
        }
        r = agent_run(a);
        if (r < 0)
                fprintf(stderr, "ak-guest: event loop: %s\n", strerror(-r));
        else if (r == 1)
                log_line("shutdown requested");
        agent_free(a);
out:
        if (init_mode) {
                r = init_poweroff();
                fprintf(stderr, "ak-guest: power off: %s\n", strerror(-r));
                /* PID 1 must not exit: the kernel would panic. */
                for (;;)
                        pause();
        }
        return r < 0 ? 1 : 0;
}
