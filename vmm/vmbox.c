#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/base/pathfmt.h"
#include "lib/base/time.h"
#include "lib/guest/guest_client.h"
#include "lib/log/log.h"
#include "vmm/backend/vmm_net.h"
#include "vmm/backend/vmm_proc.h"
#include "vmm/vm_registry.h"
#include "vmm/vmbox.h"

extern char **environ;

enum phase { BOOTING, READY, FAILED, EXITED };

struct vmbox {
        pthread_t thread;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        enum phase phase;
        bool stop;
        int grace_ms;
        int ready_timeout_ms;
        struct vm_config cfg;
        char dir[PATH_MAX], kernel[PATH_MAX], initrd[PATH_MAX], root[PATH_MAX];
        char uds[PATH_MAX], accel[8];
        pid_t pid, bridge_tid;
        int64_t ready_at;
        struct ak_error err;
        /* Supervised boxes (no owner thread): the ak-vmm record, and
         * whether the supervisor is this process's child (to be reaped). */
        bool supervised, child;
        struct vm_record rec;
        /* A supervised VM's network namespace: made (or taken over) here,
         * its user-space side served by this process (vmm_net.h). */
        struct vmm_net *net;
};

static void set_phase(struct vmbox *b, enum phase p)
{
        pthread_mutex_lock(&b->lock);
        b->phase = p;
        pthread_cond_broadcast(&b->cond);
        pthread_mutex_unlock(&b->lock);
}

static void *owner(void *arg)
{
        struct vmbox *b = arg;
        struct vm *vm = NULL;
        struct ak_error err = { 0 };
        int status;

        if (vm_start(&b->cfg, &vm, &err) < 0 || vm_wait_ready(vm, b->ready_timeout_ms, &err) < 0) {
                vm_free(vm);
                b->err = err;
                set_phase(b, FAILED);
                return NULL;
        }
        snprintf(b->uds, sizeof(b->uds), "%s", vm_vsock_uds(vm));
        snprintf(b->accel, sizeof(b->accel), "%s", vm_accel(vm));
        b->pid = vm_pid(vm);
        b->bridge_tid = vm_bridge_tid(vm);
        b->ready_at = ak_mono_ms();
        set_phase(b, READY);

        pthread_mutex_lock(&b->lock);
        while (!b->stop) {
                struct timespec ts = ak_timespec_after(CLOCK_REALTIME, 100);
                pthread_cond_timedwait(&b->cond, &b->lock, &ts);
                if (b->phase == READY && vm_poll_exit(vm, &status) == 1) {
                        b->phase = EXITED;
                        pthread_cond_broadcast(&b->cond);
                }
        }
        int grace = b->grace_ms;
        pthread_mutex_unlock(&b->lock);
        if (vm_poll_exit(vm, &status) == 0)
                vm_stop(vm, grace, &status);
        vm_free(vm);
        return NULL;
}

static void copy(char *dst, size_t size, const char **field)
{
        if (*field) {
                snprintf(dst, size, "%s", *field);
                *field = dst;
        }
}

int vmbox_boot(const struct vm_config *cfg, int ready_timeout_ms, struct vmbox **ret, struct ak_error *err)
{
        struct vmbox *b = calloc(1, sizeof(*b));
        if (!b)
                return ak_error_set(err, -ENOMEM, "out of memory");
        pthread_mutex_init(&b->lock, NULL);
        pthread_cond_init(&b->cond, NULL);
        b->cfg = *cfg;
        copy(b->dir, sizeof(b->dir), &b->cfg.dir);
        copy(b->kernel, sizeof(b->kernel), &b->cfg.kernel);
        copy(b->initrd, sizeof(b->initrd), &b->cfg.initrd);
        copy(b->root, sizeof(b->root), &b->cfg.root_disk);
        b->ready_timeout_ms = ready_timeout_ms;
        int r = pthread_create(&b->thread, NULL, owner, b);
        if (r) {
                free(b);
                return ak_error_errno(err, -r, "start the VM owner thread");
        }
        pthread_mutex_lock(&b->lock);
        while (b->phase == BOOTING)
                pthread_cond_wait(&b->cond, &b->lock);
        enum phase p = b->phase;
        pthread_mutex_unlock(&b->lock);
        if (p == FAILED) {
                pthread_join(b->thread, NULL);
                if (err)
                        *err = b->err;
                r = b->err.code < 0 ? b->err.code : -EIO;
                free(b);
                return r;
        }
        *ret = b;
        return 0;
}

const char *vmbox_uds(const struct vmbox *b)
{
        return b->uds;
}

pid_t vmbox_pid(const struct vmbox *b)
{
        return b->pid;
}

pid_t vmbox_bridge_tid(const struct vmbox *b)
{
        return b->bridge_tid;
}

const char *vmbox_accel(const struct vmbox *b)
{
        return b->accel;
}

const char *vmbox_dir(const struct vmbox *b)
{
        return b->dir;
}

int64_t vmbox_ready_at_ms(const struct vmbox *b)
{
        return b->ready_at;
}

static bool sup_alive(struct vmbox *b)
{
        int status;
        if (b->child && b->rec.pid > 0 && waitpid(b->rec.pid, &status, WNOHANG) == b->rec.pid)
                b->child = false;
        return vm_proc_alive(b->rec.pid, b->rec.pid_start) && vm_proc_alive(b->rec.vmm_pid, b->rec.vmm_start);
}

bool vmbox_running(struct vmbox *b)
{
        if (b->supervised) {
                pthread_mutex_lock(&b->lock);
                bool alive = sup_alive(b);
                pthread_mutex_unlock(&b->lock);
                return alive;
        }
        pthread_mutex_lock(&b->lock);
        bool running = b->phase == READY;
        pthread_mutex_unlock(&b->lock);
        return running;
}

static void sup_stop(struct vmbox *b, int grace_ms);

void vmbox_free(struct vmbox *b, int grace_ms)
{
        if (!b)
                return;
        if (b->supervised) {
                sup_stop(b, grace_ms);
                vmbox_release(b);
                return;
        }
        pthread_mutex_lock(&b->lock);
        b->stop = true;
        b->grace_ms = grace_ms;
        pthread_cond_broadcast(&b->cond);
        pthread_mutex_unlock(&b->lock);
        pthread_join(b->thread, NULL);
        pthread_mutex_destroy(&b->lock);
        pthread_cond_destroy(&b->cond);
        free(b);
}

/* ---- Supervised VMs ---- */

static void box_destroy(struct vmbox *b)
{
        pthread_mutex_destroy(&b->lock);
        pthread_cond_destroy(&b->cond);
        free(b);
}

static struct vmbox *box_alloc(void)
{
        struct vmbox *b = calloc(1, sizeof(*b));
        if (!b)
                return NULL;
        pthread_mutex_init(&b->lock, NULL);
        pthread_cond_init(&b->cond, NULL);
        return b;
}

static void box_from_record(struct vmbox *b)
{
        b->supervised = true;
        snprintf(b->dir, sizeof(b->dir), "%s", b->rec.dir);
        snprintf(b->uds, sizeof(b->uds), "%s", b->rec.vsock_uds);
        snprintf(b->accel, sizeof(b->accel), "%s", b->rec.accel);
        b->pid = b->rec.vmm_pid;
        b->phase = READY;
        b->ready_at = ak_mono_ms();
}

int vmbox_spawn_supervisor(const struct vmbox_supervisor *s, pid_t *ret)
{
        char vcpus[16], mem[16], log[PATH_MAX];
        const char *argv[40]; /* 33 with every flag, and the NULL */
        size_t n = 0;
        snprintf(vcpus, sizeof(vcpus), "%u", s->vcpus ? s->vcpus : VM_DEFAULT_VCPUS);
        snprintf(mem, sizeof(mem), "%u", s->memory_mb ? s->memory_mb : VM_DEFAULT_MEMORY_MB);
        argv[n++] = s->bin;
        argv[n++] = "--dir";
        argv[n++] = s->dir;
        argv[n++] = "--name";
        argv[n++] = s->name;
        argv[n++] = "--kernel";
        argv[n++] = s->kernel;
        argv[n++] = "--initrd";
        argv[n++] = s->initrd;
        if (s->rootfs && *s->rootfs) {
                argv[n++] = "--rootfs";
                argv[n++] = s->rootfs;
        }
        argv[n++] = "--vcpus";
        argv[n++] = vcpus;
        argv[n++] = "--memory-mb";
        argv[n++] = mem;
        argv[n++] = "--accel";
        argv[n++] = s->accel == VMM_ACCEL_KVM ? "kvm" : s->accel == VMM_ACCEL_TCG ? "tcg" : "auto";
        if (s->image) {
                argv[n++] = "--image";
                argv[n++] = s->image;
        }
        if (s->image_hash && *s->image_hash) {
                argv[n++] = "--image-hash";
                argv[n++] = s->image_hash;
        }
        if (s->network)
                argv[n++] = "--net";
        if (s->no_acpi)
                argv[n++] = "--no-acpi";
        if (s->netns_fd > 0) {
                argv[n++] = "--netns-fd";
                argv[n++] = "3";
        }
        if (s->netns_fd > 0 && s->resolv_conf) {
                argv[n++] = "--resolv-conf";
                argv[n++] = s->resolv_conf;
        }
        if (s->cgroup) {
                argv[n++] = "--cgroup";
                argv[n++] = s->cgroup;
        }
        /* It logs as we do (ak-executor --log-format json: its VMs' lines
         * are JSON too). */
        argv[n++] = "--log-format";
        argv[n++] = ak_log_format_name();
        argv[n++] = "--log-level";
        argv[n++] = ak_log_level_name();
        argv[n] = NULL;

        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        sigset_t none, all;
        if (pathfmt(log, sizeof(log), "%s/ak-vmm.log", s->dir) < 0)
                return -ENAMETOOLONG;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        /* Not O_CLOEXEC: it is ak-vmm's stdout and stderr (opened in the
         * child; we never hold it). O_NOFOLLOW: dir is private, but a link
         * planted there must not send the lines elsewhere. */
        posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0600);
        posix_spawn_file_actions_adddup2(&fa, 1, 2);
        if (s->netns_fd > 0)
                posix_spawn_file_actions_adddup2(&fa, s->netns_fd, 3);
        posix_spawnattr_init(&attr);
        sigemptyset(&none);
        sigfillset(&all);
        posix_spawnattr_setsigmask(&attr, &none);
        posix_spawnattr_setsigdefault(&attr, &all);
        /* A session of its own: no signal to our group (a terminal's ^C, a
         * container runtime's kill) reaches it, and it outlives us. */
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
        int r = posix_spawn(ret, s->bin, &fa, &attr, (char *const *)argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
        return -r;
}

/* The last lines of dir/file into err's message (after what it says). */
static void add_tail(struct ak_error *err, const char *dir, const char *file)
{
        char path[PATH_MAX], tail[1024];
        if (!err)
                return;
        pathfmt(path, sizeof(path), "%s/%s", dir, file);
        vmm_log_tail(path, 5, tail, sizeof(tail));
        size_t used = strlen(err->msg);
        if (tail[0] && used + 4 < sizeof(err->msg))
                snprintf(err->msg + used, sizeof(err->msg) - used, "; %.16s:\n%.900s", file, tail);
}

/* Waits for the spawned supervisor's vm.json and the guest's answer. */
static int wait_supervised(struct vmbox *b, const struct vm_config *cfg, const char *name, int ready_timeout_ms,
                           struct ak_error *err)
{
        pid_t pid = b->rec.pid;
        int64_t deadline = ak_mono_ms() + ready_timeout_ms;
        bool have = false;
        int status, last = -ETIMEDOUT;
        while (ak_mono_ms() < deadline) {
                if (waitpid(pid, &status, WNOHANG) == pid) {
                        b->child = false;
                        ak_error_set(err, -EIO, "VM %s: ak-vmm exited (status %d) before the guest answered", name,
                                     WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
                        add_tail(err, cfg->dir, "ak-vmm.log");
                        add_tail(err, cfg->dir, "console.log");
                        return -EIO;
                }
                if (!have && vm_record_read(cfg->dir, &b->rec, NULL) == 0) {
                        have = true;
                        box_from_record(b);
                }
                if (have) {
                        int64_t left = deadline - ak_mono_ms();
                        if ((last = guest_client_ping(b->uds, left < 1000 ? (int)(left > 1 ? left : 1) : 1000)) == 0)
                                break;
                }
                usleep(20000);
        }
        if (last == 0 && cfg->network &&
            (last = vm_guest_network_setup(b->uds, cfg->root_disk != NULL,
                                           (int)(deadline - ak_mono_ms() > 1000 ? deadline - ak_mono_ms() : 1000),
                                           err)) < 0)
                return last;
        if (last == 0) {
                b->ready_at = ak_mono_ms();
                return 0;
        }
        ak_error_set(err, -ETIMEDOUT, "VM %s: the guest agent did not answer within %d ms (%s)", name,
                     ready_timeout_ms, strerror(-last));
        add_tail(err, cfg->dir, "console.log");
        return -ETIMEDOUT;
}

int vmbox_boot_supervised(const char *vmm_bin, const struct vm_config *cfg, const char *name, const char *image_hash,
                          int ready_timeout_ms,
                          struct vmbox **ret, struct ak_error *err)
{
        if (cfg->vmm && cfg->vmm != &vmm_qemu_ops)
                return ak_error_set(err, -EOPNOTSUPP, "supervised VMs are QEMU VMs");
        struct vmbox *b = box_alloc();
        if (!b)
                return ak_error_set(err, -ENOMEM, "out of memory");
        /* A confined VM's namespace is made here, so that its resolver,
         * proxy and denial log run in this process (as for unsupervised
         * VMs) and its kernel objects outlive it with QEMU. */
        struct vmm_net_config nc = VMM_NET_CONFIG_OF(cfg, cfg->dir);
        int r;
        bool own_ns = cfg->network && !cfg->no_jail && geteuid() == 0;
        if (cfg->network && !own_ns && vmm_net_secrets_proxied(cfg->net_secrets)) {
                box_destroy(b);
                return ak_error_set(err, -EOPNOTSUPP, "VM %s: secrets and proxy hooks need the VM's own network namespace, "
                                    "which an unconfined VM (not root, or no jail) does not have: run the executor "
                                    "as root", name);
        }
        if (own_ns && (r = vmm_net_setup(&nc, &b->net, err)) < 0) {
                box_destroy(b);
                return ak_error_wrap(err, "VM %s", name);
        }
        char resolv[PATH_MAX];
        bool have_resolv = b->net && vmm_net_resolv_conf(b->net);
        if (have_resolv)
                snprintf(resolv, sizeof(resolv), "%s", vmm_net_resolv_conf(b->net));
        pid_t pid;
        const struct vmbox_supervisor sv = {
                .bin = vmm_bin, .dir = cfg->dir, .name = name, .kernel = cfg->kernel, .initrd = cfg->initrd,
                .rootfs = cfg->root_disk, .image_hash = image_hash, .vcpus = cfg->vcpus,
                .memory_mb = cfg->memory_mb, .accel = cfg->accel, .network = cfg->network,
                .no_acpi = cfg->no_acpi,
                .netns_fd = b->net ? vmm_net_netns_fd(b->net) : 0, .resolv_conf = have_resolv ? resolv : NULL,
                .cgroup = cfg->cgroup,
        };
        r = vmbox_spawn_supervisor(&sv, &pid);
        if (r < 0) {
                vmm_net_free(b->net);
                box_destroy(b);
                return ak_error_set(err, r, "start %s: %s", vmm_bin, strerror(-r));
        }
        b->child = true;
        b->rec.pid = pid;
        if ((r = wait_supervised(b, cfg, name, ready_timeout_ms, err)) == 0) {
                *ret = b;
                return 0;
        }
        if (!b->supervised) {
                /* No record yet: the supervisor alone, by its pid (our child, not reaped). */
                if (b->child) {
                        kill(pid, SIGKILL);
                        waitpid(pid, NULL, 0);
                }
                vmm_net_free(b->net);
                box_destroy(b);
        } else {
                vmbox_free(b, 0);
        }
        return r;
}

/* The network namespace QEMU (pid, start) runs in, as an fd: opened by
 * /proc/PID/ns/net and kept only when the pid still names that process
 * afterwards (a recycled pid would be another process's namespace). */
static int open_vmm_netns(pid_t pid, uint64_t start, int *ret, struct ak_error *err)
{
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return ak_error_errno(err, -errno, "open %s", path);
        if (!vm_proc_alive(pid, start)) {
                close(fd);
                return ak_error_set(err, -ESRCH, "its QEMU process (pid %d) is gone", (int)pid);
        }
        *ret = fd;
        return 0;
}

int vmbox_adopt(const char *dir, int ping_timeout_ms, const struct vm_config *net, const char *net_ifname,
                struct vmbox **ret, struct ak_error *err)
{
        struct vm_record rec;
        int r = vm_record_read(dir, &rec, err);
        if (r < 0)
                return r;
        struct vmbox *b = box_alloc();
        if (!b)
                return ak_error_set(err, -ENOMEM, "out of memory");
        b->rec = rec;
        box_from_record(b);
        bool sup = vm_proc_alive(rec.pid, rec.pid_start), vmm = vm_proc_alive(rec.vmm_pid, rec.vmm_start);
        if (!sup || !vmm)
                r = ak_error_set(err, -ESRCH, "its %s (pid %d) is gone", !sup ? "ak-vmm supervisor" : "QEMU process",
                                 (int)(!sup ? rec.pid : rec.vmm_pid));
        else if ((r = guest_client_ping(rec.vsock_uds, ping_timeout_ms)) < 0)
                ak_error_set(err, r, "its guest agent does not answer on %s (%s)", rec.vsock_uds, strerror(-r));
        if (r == 0 && rec.network && net_ifname && *net_ifname) {
                int fd = -1;
                if (!net)
                        r = ak_error_set(err, -EINVAL, "its network: no settings to take it over with");
                else if ((r = open_vmm_netns(rec.vmm_pid, rec.vmm_start, &fd, err)) == 0) {
                        struct vmm_net_config nc = VMM_NET_CONFIG_OF(net, dir);
                        r = vmm_net_adopt(&nc, fd, net_ifname, &b->net, err);
                }
                if (r < 0)
                        ak_error_wrap(err, "its network could not be restored");
        }
        if (r < 0) {
                /* Not recoverable: whatever half of it is left is stopped
                 * (its namespace goes with its QEMU). */
                vmbox_free(b, 0);
                return r;
        }
        *ret = b;
        return 0;
}

static void sup_stop(struct vmbox *b, int grace_ms)
{
        if (vm_proc_alive(b->rec.pid, b->rec.pid_start))
                kill(b->rec.pid, SIGTERM);
        for (int64_t end = ak_mono_ms() + grace_ms + 3000; ak_mono_ms() < end;) {
                bool sup = sup_alive(b) || vm_proc_alive(b->rec.pid, b->rec.pid_start);
                if (!sup && !vm_proc_alive(b->rec.vmm_pid, b->rec.vmm_start))
                        break;
                usleep(10000);
        }
        if (vm_proc_alive(b->rec.pid, b->rec.pid_start))
                kill(b->rec.pid, SIGKILL);
        if (vm_proc_alive(b->rec.vmm_pid, b->rec.vmm_start))
                kill(b->rec.vmm_pid, SIGKILL);
        if (b->child)
                waitpid(b->rec.pid, NULL, 0);
        b->child = false;
        vmm_net_free(b->net);
        b->net = NULL;
}

bool vmbox_supervised(const struct vmbox *b)
{
        return b->supervised;
}

const char *vmbox_image_hash(const struct vmbox *b)
{
        return b->supervised ? b->rec.image_hash : "";
}

pid_t vmbox_supervisor_pid(const struct vmbox *b)
{
        return b->supervised ? b->rec.pid : 0;
}

void vmbox_release(struct vmbox *b)
{
        if (!b)
                return;
        if (!b->supervised) {
                vmbox_free(b, 2000);
                return;
        }
        vmm_net_release(b->net);
        box_destroy(b);
}

const char *vmbox_net_ifname(const struct vmbox *b)
{
        return b->net ? vmm_net_host_ifname(b->net) : "";
}
