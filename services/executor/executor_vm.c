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
#include "lib/base/time.h"
#include "lib/base/utf8.h"
#include "lib/guest/guest_client.h"
#include "lib/svc/log.h"
#include "services/executor/executor_metrics.h"
#include "services/executor/executor_netaudit.h"
#include "services/executor/cgroup.h"
#include "services/executor/executor_sandbox.h"
#include "services/executor/executor_state.h"
#include "services/executor/executor_images.h"
#include "services/executor/executor_vm.h"
#include "vmm/vmbox.h"


/* Before anyone uses the guest: the sandbox's user (uid/gid 1000 with a
 * home) and, for the restrictive profile, / read-only (vm_guest_prepare). */
static int prepare_guest(const char *uds, bool root_disk, bool read_only_root, struct ak_error *err)
{
        const struct vm_guest_user u = { .id = SANDBOX_USER_UID, .name = SANDBOX_USER_NAME, .home = SANDBOX_USER_HOME };
        return vm_guest_prepare(uds, root_disk, &u, read_only_root, err);
}

static void cgroup_forget(struct executor *ex, const char *dir)
{
        const char *base = strrchr(dir, '/');
        if (ex->cgroup && base) {
                char name[32];
                snprintf(name, sizeof(name), "vm%s", base + 1);
                cgroup_release(ex->cgroup, name);
        }
}

void evm_net_settings(struct executor *ex, const struct vmm_net_egress *egress, struct net_reporter *reporter,
                      struct vm_config *vc)
{
        vc->net_pool = ex->cfg.net_pool;
        vc->net_deny_cidrs = ex->cfg.deny_cidrs;
        vc->n_net_deny_cidrs = ex->cfg.n_deny_cidrs;
        vc->net_egress = egress;
        vc->net_allow_private = ex->cfg.egress_allow_private;
        vc->net_reporter = reporter;
        vc->net_dns_upstreams = ex->cfg.dns_upstreams;
        vc->n_net_dns_upstreams = ex->cfg.n_dns_upstreams;
}

int evm_boot(struct executor *ex, const char *image, const struct profile *p, unsigned vcpus,
                       unsigned memory_mb, bool network, const struct vmm_net_egress *egress,
                       const struct vmm_net_secrets *secrets, char dir[PATH_MAX], struct vmbox **ret,
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
                .no_acpi = boot.no_acpi,
                .accel = ex->cfg.accel,
                .vmm = ex->cfg.vmm,
        };
        struct net_audit *na = network ? net_audit_new(ex) : NULL;
        evm_net_settings(ex, egress, net_audit_reporter(na), &vc);
        vc.net_secrets = secrets;
        /* A VM can run under its own supervisor and outlive this process
         * (executor_adopt.h); with network, its namespace lives on with it
         * and the next executor restarts its resolver, proxy and denial
         * log (vmbox_adopt). */
        bool supervised = ex->cfg.vm_supervisors && (!ex->cfg.vmm || ex->cfg.vmm == &vmm_qemu_ops);
        char vmname[32], cgdir[PATH_MAX];
        snprintf(vmname, sizeof(vmname), "vm%" PRIu64, n);
        /* --vm-cgroup: ak-vmm joins its own cgroup outside ours before it
         * starts QEMU, so a kill of our container's cgroup spares both. */
        if (supervised && ex->cgroup && cgroup_is_home(ex->cgroup)) {
                if ((r = cgroup_prepare(ex->cgroup, vmname, cgdir, sizeof(cgdir), err)) < 0) {
                        net_audit_release(ex, na, NULL);
                        images_use_end(ex, dir);
                        ak_rm_rf(dir);
                        return ak_error_wrap(err, "--vm-cgroup");
                }
                vc.cgroup = cgdir;
        }
        uint64_t t0 = ak_mono_ns();
        if (supervised)
                r = vmbox_boot_supervised(ex->vmm_bin, &vc, vmname, boot.hash, ex->cfg.boot_timeout_ms, &box, err);
        else
                r = vmbox_boot(&vc, ex->cfg.boot_timeout_ms, &box, err);
        exmetrics_vm_boot((double)(ak_mono_ns() - t0) / 1e9, r >= 0);
        SVC_LOG(r < 0 ? SVC_LOG_WARN : SVC_LOG_DEBUG, r < 0 ? "vm boot failed" : "vm booted", SVC_LOG_S("image", image),
                SVC_LOG_S("dir", dir), SVC_LOG_I("duration_ms", (ak_mono_ns() - t0) / 1000000),
                SVC_LOG_S("error", r < 0 ? err->msg : ""));
        if (r < 0) {
                net_audit_release(ex, na, NULL);
                cgroup_forget(ex, dir);
                images_use_end(ex, dir);
                ak_rm_rf(dir);
                return r;
        }
        net_audit_attach(ex, na, box);
        if (ex->cgroup && cgroup_has_cpu(ex->cgroup) && p->cpu_percent) {
                const char *name = vmname;
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
        if ((r = prepare_guest(vmbox_uds(box), vc.root_disk != NULL, p->read_only_root, err)) < 0)
                goto fail;
        *ret = box;
        return 0;
fail:
        evm_dispose(ex, box, dir);
        return r;
}

void evm_release(struct executor *ex, struct vmbox *box, const char *dir)
{
        bool supervised = box && vmbox_supervised(box);
        if (supervised) {
                /* Its denial log stops with its release; the reporter after. */
                vmbox_release(box);
                net_audit_release(ex, NULL, box);
        } else if (box) {
                vmbox_free(box, 2000);
                net_audit_release(ex, NULL, box);
                cgroup_forget(ex, dir);
        }
        images_use_end(ex, dir);
}

void evm_dispose(struct executor *ex, struct vmbox *box, const char *dir)
{
        vmbox_free(box, 2000);
        if (box)
                net_audit_release(ex, NULL, box);
        cgroup_forget(ex, dir);
        images_use_end(ex, dir);
        ak_rm_rf(dir);
}

