/* `ak down` and the executor's supervised VMs: with --vm-supervisors they
 * outlive the executor on purpose (a restart keeps them), so taking the
 * stack down stops them here, each by the pids and start times its ak-vmm
 * recorded (vm.json): a recycled pid is never signalled. */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/stack_internal.h"
#include "lib/base/pathfmt.h"
#include "lib/base/time.h"
#include "vmm/vm_registry.h"

/* SIGTERM to the supervisor (it quits QEMU), SIGKILL to both after 5 s. */
static void stop_vm(const struct vm_record *rec)
{
        if (vm_proc_alive(rec->pid, rec->pid_start))
                kill(rec->pid, SIGTERM);
        for (int64_t end = ak_mono_ms() + 5000; ak_mono_ms() < end;) {
                if (!vm_proc_alive(rec->pid, rec->pid_start) && !vm_proc_alive(rec->vmm_pid, rec->vmm_start))
                        return;
                usleep(20000);
        }
        if (vm_proc_alive(rec->pid, rec->pid_start))
                kill(rec->pid, SIGKILL);
        if (vm_proc_alive(rec->vmm_pid, rec->vmm_start))
                kill(rec->vmm_pid, SIGKILL);
}

int stack_stop_vms(const struct stack *st)
{
        char v[PATH_MAX], dir[PATH_MAX];
        int stopped = 0;
        if (pathfmt(v, sizeof(v), "%s/executor/v", st->home) < 0)
                return 0;
        DIR *d = opendir(v);
        if (!d)
                return 0;
        struct dirent *e;
        while ((e = readdir(d))) {
                struct vm_record rec;
                if (e->d_name[0] == '.' || pathfmt(dir, sizeof(dir), "%s/%s", v, e->d_name) < 0 ||
                    vm_record_read(dir, &rec, NULL) < 0)
                        continue;
                if (vm_proc_alive(rec.pid, rec.pid_start) || vm_proc_alive(rec.vmm_pid, rec.vmm_start)) {
                        stop_vm(&rec);
                        stopped++;
                }
        }
        closedir(d);
        return stopped;
}
