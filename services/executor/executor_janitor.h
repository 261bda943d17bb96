/* The janitor thread (executor_janitor.c). Private to services/executor. */
#pragma once

/* pthread body, arg the executor: every cfg.reap_interval_ms (or when a
 * disposal is queued) stops queued VMs, cancels guest calls whose client
 * went away, removes expired sandboxes and marks those whose VM exited.
 * Returns once ex->stop is set. */
void *janitor_thread(void *arg);
