/* The janitor: TTLs, VMs that died, calls whose client went away, and the
 * VMs of removed sandboxes that go in the background. */
#include <pthread.h>
#include <stdio.h>
#include <sys/socket.h>
#include <time.h>

#include "lib/base/time.h"
#include "services/executor/executor_guest_call.h"
#include "services/executor/executor_janitor.h"
#include "services/executor/executor_lifecycle.h"
#include "services/executor/executor_sandbox.h"
#include "services/executor/executor_state.h"
#include "vmm/vmbox.h"

void *janitor_thread(void *arg)
{
        struct executor *ex = arg;
        pthread_mutex_lock(&ex->lock);
        while (!ex->stop) {
                struct timespec ts = ak_timespec_after(CLOCK_REALTIME, ex->cfg.reap_interval_ms);
                if (!ex->disposals)
                        pthread_cond_timedwait(&ex->cond, &ex->lock, &ts);
                if (ex->stop)
                        break;
                if (ex->disposals) {
                        pthread_mutex_unlock(&ex->lock);
                        lifecycle_dispose_queued(ex);
                        pthread_mutex_lock(&ex->lock);
                }
                guest_call_reap_locked(ex);
                int64_t now = ak_real_ms();
                char expired[SANDBOX_NAME_MAX + 1] = "";
                for (size_t i = 0; i < ex->n_sandboxes; i++) {
                        struct sandbox *sb = ex->sandboxes[i];
                        if (sb->expires_at_ms && now >= sb->expires_at_ms) {
                                snprintf(expired, sizeof(expired), "%s", sb->name);
                                break;
                        }
                        if (sb->box && sb->state == AK__V1__SANDBOX_STATE__SANDBOX_STATE_RUNNING &&
                            !vmbox_running(sb->box)) {
                                sb->state = AK__V1__SANDBOX_STATE__SANDBOX_STATE_ERROR;
                                snprintf(sb->error, sizeof(sb->error), "the VM exited (see %.400s/console.log)",
                                         sb->vmdir);
                                guest_call_cancel_locked(ex, sb);
                        }
                }
                if (expired[0]) {
                        pthread_mutex_unlock(&ex->lock);
                        lifecycle_remove(ex, expired, NULL, false);
                        pthread_mutex_lock(&ex->lock);
                }
        }
        pthread_mutex_unlock(&ex->lock);
        return NULL;
}

