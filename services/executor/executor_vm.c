/* A sandbox's VM: the image resolved, the VM booted in its directory under
 * the state dir, the profile's CPU quota and read-only root applied; and
 * disposed of again. */
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/base/fs.h"
#include "lib/base/utf8.h"
#include "lib/guest/guest_client.h"
#include "services/executor/executor_netaudit.h"
#include "services/executor/cgroup.h"
#include "services/executor/executor_sandbox.h"
#include "services/executor/executor_state.h"
#include "services/executor/executor_images.h"
#include "services/executor/executor_vm.h"
#include "vmm/vmbox.h"


/* Before anyone uses the guest: the sandbox's user (uid/gid 1000 with a
 * home, in /etc/passwd and /etc/group unless the image has that id), and
 * for the restrictive profile a 64 MiB tmpfs on /tmp and / read-only. */
static int prepare_guest(const char *uds, bool read_only_root, struct ak_error *err)
{
#define STR_(x) #x
#define STR(x) STR_(x)
#define ID STR(SANDBOX_USER_UID)
        static const char user[] =
                "mkdir -p /etc " SANDBOX_USER_HOME " && chown " ID ":" ID " " SANDBOX_USER_HOME " && "
                "chmod 0755 " SANDBOX_USER_HOME " && "
                "{ grep -q '^[^:]*:[^:]*:" ID ":' /etc/passwd 2>/dev/null || "
                "echo '" SANDBOX_USER_NAME ":x:" ID ":" ID ":ak sandbox:" SANDBOX_USER_HOME ":/bin/sh' "
                ">> /etc/passwd; } && "
                "{ grep -q '^[^:]*:[^:]*:" ID ":' /etc/group 2>/dev/null || "
                "echo '" SANDBOX_USER_NAME ":x:" ID ":' >> /etc/group; }";
        static const char ro[] = " && mkdir -p /tmp && mount -t tmpfs -o size=64m,mode=1777 tmpfs /tmp && "
                                 "mount -o remount,ro /";
#undef ID
#undef STR
#undef STR_
        char script[sizeof(user) + sizeof(ro)];
        snprintf(script, sizeof(script), "%s%s", user, read_only_root ? ro : "");
        const char *const cmd[] = { "/bin/sh", "-c", script };
        struct proto_request_args req = PROTO_REQUEST_ARGS_INIT;
        struct proto_reply *rep = NULL;
        int fd = -1, r;

        req.id = "prepare";
        req.type = "run";
        req.command = cmd;
        req.n_command = 3;
        req.timeout_ms = 20000;
        if ((r = guest_client_connect(uds, GUEST_AGENT_PORT, 10000, &fd)) < 0)
                return ak_error_errno(err, r, "preparing the guest: connect");
        r = guest_client_call(fd, &req, 30000, &rep);
        close(fd);
        if (r < 0)
                return ak_error_errno(err, r, "preparing the guest: run its setup");
        if (!rep->has_exit_code || rep->exit_code != 0) {
                if (rep->stderr_str)
                        utf8_sanitize(rep->stderr_str, rep->stderr_len); /* guest text */
                r = ak_error_set(err, -EIO, "preparing the guest (sandbox user%s) failed: %.200s%.200s",
                                 read_only_root ? ", read-only root" : "", rep->stderr_str ? rep->stderr_str : "",
                                 rep->error ? rep->error : "");
                proto_reply_free(rep);
                return r;
        }
        proto_reply_free(rep);
        return 0;
}

int evm_boot(struct executor *ex, const char *image, const struct profile *p, unsigned vcpus,
                       unsigned memory_mb, bool network, const struct vmm_net_egress *egress, char dir[PATH_MAX], struct vmbox **ret,
                       struct ak_error *err)
{
        struct image_boot boot;
        struct vmbox *box = NULL;
        int r;

        pthread_mutex_lock(&ex->images.lock);
        r = image_resolve_boot(ex->images.store, image, NULL, &boot, err);
        pthread_mutex_unlock(&ex->images.lock);
        pthread_mutex_lock(&ex->lock);
        uint64_t n = ex->next_vm++;
        pthread_mutex_unlock(&ex->lock);
        if (r < 0)
                return ak_error_wrap(err, "image %s", image);
        snprintf(dir, PATH_MAX, "%.64s/v/%" PRIu64, ex->state_dir, n);
        if (mkdir(dir, 0700) < 0)
                return ak_error_errno(err, -errno, "mkdir %s", dir);
        if ((r = images_use_begin(ex, boot.hash, dir, err)) < 0) {
                ak_rm_rf(dir);
                return ak_error_wrap(err, "image %s", image);
        }
        struct vm_config vc = {
                .dir = dir,
                .kernel = boot.kernel,
                .initrd = boot.initrd,
                .root_disk = boot.rootfs[0] ? boot.rootfs : NULL,
                .root_mode = VMM_DISK_SNAPSHOT,
                .vcpus = vcpus,
                .memory_mb = memory_mb,
                .network = network,
                .accel = ex->cfg.accel,
                .vmm = ex->cfg.vmm,
                .net_pool = ex->cfg.net_pool,
                .net_deny_cidrs = ex->cfg.deny_cidrs,
                .n_net_deny_cidrs = ex->cfg.n_deny_cidrs,
                .net_egress = egress,
                .net_allow_private = ex->cfg.egress_allow_private,
                .net_dns_upstreams = ex->cfg.dns_upstreams,
                .n_net_dns_upstreams = ex->cfg.n_dns_upstreams,
        };
        struct net_audit *na = network ? net_audit_new(ex) : NULL;
        vc.net_reporter = net_audit_reporter(na);
        if ((r = vmbox_boot(&vc, ex->cfg.boot_timeout_ms, &box, err)) < 0) {
                net_audit_release(ex, na, NULL);
                images_use_end(ex, dir);
                ak_rm_rf(dir);
                return r;
        }
        net_audit_attach(ex, na, box);
        if (ex->cgroup && p->cpu_percent) {
                char name[32];
                snprintf(name, sizeof(name), "vm%" PRIu64, n);
                if ((r = cgroup_limit(ex->cgroup, name, vmbox_pid(box), p->cpu_percent * (vcpus ? vcpus : 1),
                                      err)) < 0)
                        goto fail;
                /* The vsock bridge works for this VM alone: its CPU counts
                 * against the VM's quota where the hierarchy allows. */
                struct ak_error terr = { 0 };
                pid_t tid = vmbox_bridge_tid(box);
                if (tid && (r = cgroup_add_thread(ex->cgroup, name, tid, &terr)) < 0 && r != -EOPNOTSUPP) {
                        ak_error_set(err, r, "%s", terr.msg);
                        goto fail;
                }
        }
        if ((r = prepare_guest(vmbox_uds(box), p->read_only_root, err)) < 0)
                goto fail;
        *ret = box;
        return 0;
fail:
        evm_dispose(ex, box, dir);
        return r;
}

void evm_dispose(struct executor *ex, struct vmbox *box, const char *dir)
{
        vmbox_free(box, 2000);
        if (box)
                net_audit_release(ex, NULL, box);
        const char *base = strrchr(dir, '/');
        if (ex->cgroup && base) {
                char name[32];
                snprintf(name, sizeof(name), "vm%s", base + 1);
                cgroup_release(ex->cgroup, name);
        }
        images_use_end(ex, dir);
        ak_rm_rf(dir);
}

