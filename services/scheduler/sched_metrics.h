/* The scheduler's series (ak_scheduler_*) in the process's metrics
 * registry: executors by state, sandboxes and the queue's length, read at
 * each scrape; executors that went lost, the queue's waits and refusals,
 * counted as they happen. Thread-safe. */
#pragma once

struct scheduler;
struct svc_phases;

/* Installs the collector for s. 0 or a negative errno. */
int sched_metrics_attach(struct scheduler *s);
/* Removes it (waits for a scrape that runs it). NULL-safe. */
void sched_metrics_detach(struct scheduler *s);
/* An executor was marked lost (missed heartbeats). */
void sched_metrics_executor_lost(void);
/* A create or run left the queue after waiting this long. */
void sched_metrics_queue_waited(double seconds);
/* The queue refused one: "full", "never_fits" or "deadline". */
void sched_metrics_queue_rejected(const char *reason);
/* One call's phases (lib/svc/phases.h): its debug line, and each phase
 * observed in ak_scheduler_call_phase_seconds{call, phase}. */
void sched_metrics_phases(const struct svc_phases *ph);
