#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/base/time.h"
#include "vmm/vmbox.h"

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

bool vmbox_running(struct vmbox *b)
{
        pthread_mutex_lock(&b->lock);
        bool running = b->phase == READY;
        pthread_mutex_unlock(&b->lock);
        return running;
}

void vmbox_free(struct vmbox *b, int grace_ms)
{
        if (!b)
                return;
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
