#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "lib/base/cleanup.h"
#include "vmm/backend/vmm.h"

const struct vmm_ops *vmm_find(const char *name)
{
        static const struct vmm_ops *const all[] = { &vmm_qemu_ops, &vmm_firecracker_ops, &vmm_apple_ops };
        for (size_t i = 0; i < AK_ARRAY_SIZE(all); i++)
                if (strcmp(all[i]->name, name) == 0)
                        return all[i];
        return NULL;
}

static bool cpu_has_virt(void)
{
        char line[4096];
        bool found = false;
        FILE *f = fopen("/proc/cpuinfo", "re");
        if (!f)
                return false;
        while (!found && fgets(line, sizeof(line), f)) {
                if (strncmp(line, "flags", 5) != 0)
                        continue;
                found = strstr(line, " vmx") || strstr(line, " svm");
        }
        fclose(f);
        return found;
}

bool vmm_kvm_usable(char *why, size_t why_size)
{
        if (!cpu_has_virt()) {
                snprintf(why, why_size, "the CPU advertises no vmx/svm in /proc/cpuinfo");
                return false;
        }
        _cleanup_close_ int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
        if (fd < 0) {
                snprintf(why, why_size, "/dev/kvm: %s", strerror(errno));
                return false;
        }
        if (ioctl(fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
                snprintf(why, why_size, "/dev/kvm: unexpected KVM API version");
                return false;
        }
        int vm = ioctl(fd, KVM_CREATE_VM, 0);
        if (vm < 0) {
                snprintf(why, why_size, "KVM_CREATE_VM: %s", strerror(errno));
                return false;
        }
        close(vm);
        return true;
}

int vmm_config_check(const struct vmm_config *cfg, struct ak_error *err)
{
        if (cfg->vcpus < 1 || cfg->vcpus > VMM_MAX_VCPUS)
                return ak_error_set(err, -EINVAL, "vcpus %u: must be 1..%d", cfg->vcpus, VMM_MAX_VCPUS);
        if (cfg->memory_mb < VMM_MIN_MEMORY_MB || cfg->memory_mb > VMM_MAX_MEMORY_MB)
                return ak_error_set(err, -EINVAL, "memory %u MiB: must be %d..%d", cfg->memory_mb,
                                    VMM_MIN_MEMORY_MB, VMM_MAX_MEMORY_MB);
        if (cfg->tcg_tb_mb > VMM_MAX_TCG_TB_MB)
                return ak_error_set(err, -EINVAL, "TCG translation cache %u MiB: must be 1..%d (0: QEMU's default)",
                                    cfg->tcg_tb_mb, VMM_MAX_TCG_TB_MB);
        if (!cfg->kernel || !cfg->initrd || !cfg->console_log || !cfg->control_socket)
                return ak_error_set(err, -EINVAL, "kernel, initrd, console log and control socket are required");
        const char *files[] = { cfg->kernel, cfg->initrd, cfg->root_disk };
        for (size_t i = 0; i < AK_ARRAY_SIZE(files); i++)
                if (files[i] && access(files[i], R_OK) < 0)
                        return ak_error_errno(err, -errno, "%s", files[i]);
        /* QEMU's -option syntax uses ',' as a separator. */
        const char *paths[] = { cfg->kernel, cfg->initrd, cfg->root_disk, cfg->console_log, cfg->control_socket,
                                cfg->vhost_user_socket, cfg->log_file };
        for (size_t i = 0; i < AK_ARRAY_SIZE(paths); i++)
                if (paths[i] && strchr(paths[i], ','))
                        return ak_error_set(err, -EINVAL, "path %s: a ',' cannot be passed to the VMM", paths[i]);
        if (cfg->cmdline && strlen(cfg->cmdline) > 2048)
                return ak_error_set(err, -EINVAL, "kernel command line longer than 2048 bytes");
        return 0;
}

int vmm_accel_parse(const char *s, enum vmm_accel *ret)
{
        static const char *const names[] = { [VMM_ACCEL_AUTO] = "auto", [VMM_ACCEL_KVM] = "kvm",
                                             [VMM_ACCEL_TCG] = "tcg" };
        for (size_t i = 0; i < AK_ARRAY_SIZE(names); i++)
                if (strcmp(s, names[i]) == 0) {
                        *ret = (enum vmm_accel)i;
                        return 0;
                }
        return -EINVAL;
}
