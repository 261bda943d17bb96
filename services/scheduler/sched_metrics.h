/* The scheduler's series (ak_scheduler_*) in the process's metrics
 * registry: executors by state and sandboxes, read from the registry at
 * each scrape, and a count of executors that went lost. Thread-safe. */
#pragma once

struct scheduler;

/* Installs the collector for s. 0 or a negative errno. */
int sched_metrics_attach(struct scheduler *s);
/* Removes it (waits for a scrape that runs it). NULL-safe. */
void sched_metrics_detach(struct scheduler *s);
/* An executor was marked lost (missed heartbeats). */
void sched_metrics_executor_lost(void);
