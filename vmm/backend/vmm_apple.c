/* The apple backend: a container per VM through the `container` CLI, and
 * the vsock helper that reaches its guest agent. See vmm_apple.h. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "lib/base/cleanup.h"
#include "lib/base/pathfmt.h"
#include "lib/base/proc.h"
#include "lib/base/time.h"
#include "vmm/backend/vmm.h"
#include "vmm/backend/vmm_apple.h"
#include "vmm/backend/vmm_apple_impl.h"
#include "vmm/backend/vmm_proc.h"

#define CLI_BIN "container"
#define IMAGE_MAX 255
#define QUICK_MS 10000      /* status, inspect, delete */
#define START_MS 120000     /* system start (may download a kernel), run (may pull) */
#define INSPECT_EVERY_MS 1000

struct vmm {
        struct vmm_proc proc;          /* the vsock helper */
        struct apple_vsock vsock;
        char cli[PATH_MAX];
        char name[20];
        char uds[108];                 /* a Unix socket path */
        bool created, removed, gone;
        int status;
        long long inspected_at;
};

static int check(const struct vmm_config *cfg, const char *image, struct ak_error *err)
{
        if (cfg->vcpus < 1 || cfg->vcpus > VMM_MAX_VCPUS)
                return ak_error_set(err, -EINVAL, "vcpus %u: must be 1..%d", cfg->vcpus, VMM_MAX_VCPUS);
        if (cfg->memory_mb < VMM_MIN_MEMORY_MB || cfg->memory_mb > VMM_MAX_MEMORY_MB)
                return ak_error_set(err, -EINVAL, "memory %u MiB: must be %d..%d", cfg->memory_mb,
                                    VMM_MIN_MEMORY_MB, VMM_MAX_MEMORY_MB);
        if (!cfg->console_log || !cfg->vsock_uds)
                return ak_error_set(err, -EINVAL, "apple: a console log and a hybrid vsock socket are required");
        if (strlen(cfg->vsock_uds) >= sizeof(((struct vmm *)0)->uds))
                return ak_error_set(err, -ENAMETOOLONG, "apple: socket path %s too long", cfg->vsock_uds);
        if (cfg->root_disk)
                return ak_error_set(err, -EOPNOTSUPP, "apple: containers run OCI images, not root disk images (%s); "
                                    "set AK_APPLE_IMAGE and use the base image", cfg->root_disk);
        if (!image || !*image)
                return ak_error_set(err, -EINVAL, "apple: no image: set AK_APPLE_IMAGE to an OCI image reference "
                                    "whose /usr/local/bin/ak-guest is the guest agent");
        size_t n = strlen(image);
        if (n > IMAGE_MAX || image[0] == '-' || strspn(image, "abcdefghijklmnopqrstuvwxyz"
                                                             "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/:@") != n)
                return ak_error_set(err, -EINVAL, "apple: image %.300s: not an OCI image reference", image);
        return 0;
}

static int find_cli(char *buf, size_t size, struct ak_error *err)
{
        const char *env = getenv("AK_CONTAINER_CLI");
        if (env && *env) {
                if (access(env, X_OK) < 0)
                        return ak_error_errno(err, -errno, "AK_CONTAINER_CLI=%s", env);
                return pathfmt(buf, size, "%s", env) < 0 ? ak_error_set(err, -ENAMETOOLONG, "AK_CONTAINER_CLI")
                                                         : 0;
        }
        if (proc_which(CLI_BIN, buf, size) < 0)
                return ak_error_set(err, -ENOENT, CLI_BIN " not found in PATH: install Apple's container CLI "
                                    "(macOS 26+, https://github.com/apple/container/releases) or set "
                                    "AK_CONTAINER_CLI");
        return 0;
}

/* One CLI call that must succeed: its output on failure goes into err. */
static int cli(struct vmm *vm, const char *const *args, bool yes, int timeout_ms, char **ret_out,
               struct ak_error *err)
{
        _cleanup_free_ char *out = NULL;
        int status = 0;
        int r = apple_cli_run(vm->cli, args, yes, timeout_ms, &status, &out, err);
        if (r < 0)
                return ak_error_wrap(err, "apple");
        if (status != 0)
                return ak_error_set(err, -EIO, "apple: container %s %s failed (status %d): %.1500s", args[0],
                                    args[1] ? args[1] : "", status, proc_tail_lines(out ? out : "", 8));
        if (ret_out)
                *ret_out = TAKE_PTR(out);
        return 0;
}

/* `container system status`, and `system start` when it is not running. */
static int ensure_system(struct vmm *vm, struct ak_error *err)
{
        static const char *const status[] = { "system", "status", NULL };
        static const char *const start[] = { "system", "start", NULL };
        _cleanup_free_ char *out = NULL;
        int code = 0, r;

        if ((r = apple_cli_run(vm->cli, status, false, QUICK_MS, &code, &out, err)) < 0)
                return ak_error_wrap(err, "apple");
        if (code == 0 && out && strstr(out, "is running"))
                return 0;
        free(out);
        out = NULL;
        if ((r = apple_cli_run(vm->cli, start, true, START_MS, &code, &out, err)) < 0)
                return ak_error_wrap(err, "apple");
        if (code != 0 && !(out && strstr(out, "already")))
                return ak_error_set(err, -EIO, "apple: the container system is not running and `container "
                                    "system start` failed (status %d): %.1500s", code,
                                    proc_tail_lines(out ? out : "", 8));
        return 0;
}

static int run_container(struct vmm *vm, const struct vmm_config *cfg, const char *image, struct ak_error *err)
{
        char cpus[16], mem[24];
        const char *args[16] = { "run", "-d", "--name", vm->name, "--cpus", cpus, "--memory", mem };
        size_t n = 8;
        _cleanup_free_ char *out = NULL;

        snprintf(cpus, sizeof(cpus), "%u", cfg->vcpus);
        snprintf(mem, sizeof(mem), "%uM", cfg->memory_mb);
        if (!cfg->network) {
                args[n++] = "--network";
                args[n++] = "none";
        }
        args[n++] = image;
        args[n++] = "sleep";
        args[n++] = "infinity";
        args[n] = NULL;
        int r = cli(vm, args, false, START_MS, &out, err);
        if (r < 0)
                return r;
        vm->created = true;
        _cleanup_close_ int fd = open(cfg->console_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0 && out)
                (void)!write(fd, out, strlen(out));
        return 0;
}

static int listen_on(const char *path, struct ak_error *err)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return ak_error_errno(err, -errno, "socket");
        unlink(path);
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 64) < 0)
                return ak_error_errno(err, -errno, "apple: listen on %s", path);
        return TAKE_FD(fd);
}

static void apple_free(struct vmm *vm);

static int apple_start(const struct vmm_config *cfg, struct vmm **ret, struct ak_error *err)
{
        _cleanup_close_ int con = -1, log = -1;
        const char *image = cfg->image ? cfg->image : getenv("AK_APPLE_IMAGE");
        int r;

        if ((r = check(cfg, image, err)) < 0)
                return r;
        struct vmm *vm = calloc(1, sizeof(*vm));
        if (!vm)
                return ak_error_set(err, -ENOMEM, "out of memory");
        vm->proc.pid = -1;
        vm->vsock.listen_fd = -1;
        snprintf(vm->uds, sizeof(vm->uds), "%s", cfg->vsock_uds);
        apple_container_name(vm->uds, vm->name);
        if ((r = find_cli(vm->cli, sizeof(vm->cli), err)) < 0 || (r = ensure_system(vm, err)) < 0)
                goto fail;
        /* A container of the same name is a leftover of an earlier run. */
        const char *const del[] = { "delete", "-f", vm->name, NULL };
        int ignored;
        apple_cli_run(vm->cli, del, false, QUICK_MS, &ignored, NULL, NULL);
        if ((r = run_container(vm, cfg, image, err)) < 0)
                goto fail;
        /* One agent per container, so that every connection sees the same
         * sessions (a shell opened on one gets input on another). */
        const char *const agent[] = { "exec", "-d", vm->name, APPLE_GUEST_AGENT, "--listen", APPLE_AGENT_SOCKET,
                                      NULL };
        if ((r = cli(vm, agent, false, QUICK_MS, NULL, err)) < 0)
                goto fail;
        con = open(cfg->console_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        log = open(cfg->log_file ? cfg->log_file : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (con < 0 || log < 0) {
                r = ak_error_errno(err, -errno, "apple: open the console log or the log file");
                goto fail;
        }
        if ((r = vm->vsock.listen_fd = listen_on(vm->uds, err)) < 0)
                goto fail;
        char **a = vm->vsock.exec_argv;
        a[0] = vm->cli;
        a[1] = (char *)"exec";
        a[2] = (char *)"-i";
        a[3] = vm->name;
        a[4] = (char *)APPLE_GUEST_AGENT;
        a[5] = (char *)"--relay";
        a[6] = (char *)APPLE_AGENT_SOCKET;
        a[7] = NULL;
        vm->vsock.next_port = 1u << 30;
        r = vmm_proc_fork(&vm->proc, apple_vsock_serve, &vm->vsock, con, log, err);
        close(vm->vsock.listen_fd);
        vm->vsock.listen_fd = -1;
        if (r < 0)
                goto fail;
        *ret = vm;
        return 0;
fail:
        apple_free(vm);
        return r;
}

static pid_t apple_pid(const struct vmm *vm)
{
        return vm->proc.pid;
}

/* The container is done: the helper goes too. */
static int finished(struct vmm *vm, int status, int *ret_status)
{
        vm->gone = true;
        vm->status = status;
        vmm_proc_kill(&vm->proc, NULL);
        if (ret_status)
                *ret_status = status;
        return 1;
}

static int apple_poll_exit(struct vmm *vm, int *ret_status)
{
        char state[32];
        int status;

        if (vm->gone)
                return finished(vm, vm->status, ret_status);
        if (vmm_proc_poll(&vm->proc, &status) == 1)
                return finished(vm, status, ret_status);
        /* The CLI is a process per call: ask at most once a second. */
        if (ak_mono_ms() - vm->inspected_at < INSPECT_EVERY_MS)
                return 0;
        vm->inspected_at = ak_mono_ms();
        const char *const args[] = { "inspect", vm->name, NULL };
        _cleanup_free_ char *out = NULL;
        if (apple_cli_run(vm->cli, args, false, QUICK_MS, &status, &out, NULL) < 0 || !out)
                return 0; /* no answer is not an answer */
        if (status != 0)
                return strstr(out, "not found") ? finished(vm, 255, ret_status) : 0;
        int r = apple_inspect_state(out, strlen(out), state, sizeof(state));
        if (r == -ENOENT)
                return finished(vm, 255, ret_status);
        if (r == 0 && strcmp(state, "running") != 0)
                return finished(vm, 0, ret_status);
        return 0;
}

static int apple_stop(struct vmm *vm, int grace_ms, int *ret_status)
{
        int status = 128 + 9;
        if (vm->created && !vm->removed) {
                if (grace_ms > 0 && !vm->gone) {
                        char secs[16];
                        snprintf(secs, sizeof(secs), "%d", grace_ms < 1000 ? 1 : grace_ms / 1000);
                        const char *const stop[] = { "stop", "-t", secs, vm->name, NULL };
                        if (cli(vm, stop, false, grace_ms + QUICK_MS, NULL, NULL) == 0)
                                status = 0;
                }
                const char *const del[] = { "delete", "-f", vm->name, NULL };
                cli(vm, del, false, QUICK_MS, NULL, NULL);
                vm->removed = true;
        }
        if (vm->gone)
                status = vm->status;
        return finished(vm, status, ret_status);
}

static void apple_free(struct vmm *vm)
{
        if (!vm)
                return;
        apple_stop(vm, 0, NULL);
        if (vm->vsock.listen_fd >= 0)
                close(vm->vsock.listen_fd);
        unlink(vm->uds);
        free(vm);
}

static const char *apple_accel(const struct vmm *vm)
{
        return "vz";
}

const struct vmm_ops vmm_apple_ops = {
        .name = "apple",
        .native_vsock = true,
        .own_guest_network = true,
        .control_socket_name = "container.sock",
        .start = apple_start,
        .pid = apple_pid,
        .poll_exit = apple_poll_exit,
        .stop = apple_stop,
        .free = apple_free,
        .accel = apple_accel,
};
