/* The executor's series (ak_executor_*), in the process's metrics registry
 * (lib/metrics). Counters and histograms are recorded where things happen
 * (exmetrics_*); gauges and mirrored counts (sandboxes by state, pools,
 * capacity, the audit queue) are read from the executor at each scrape by
 * a collector that exmetrics_attach installs. One executor per process is
 * the model: with several (tests), the last collector to run sets the
 * gauges. Everything here is thread-safe. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct executor;
struct svc_phases;

/* Registers the families (once per process) and installs the collector
 * for ex. Returns 0 or a negative errno. */
int exmetrics_attach(struct executor *ex);
/* Removes ex's collector, waiting for a scrape that runs it. NULL-safe. */
void exmetrics_detach(struct executor *ex);

/* A VM boot (a sandbox's or a pool's) that took `seconds`; ok false: it failed. */
void exmetrics_vm_boot(double seconds, bool ok);
/* A sandbox got its VM: from a warm pool or booted for it, in `seconds`. */
void exmetrics_sandbox_start(bool from_pool, double seconds);
/* One exec finished: the guest's exit code (-1: none), its duration. */
void exmetrics_exec(int exit_code, bool timed_out, double seconds);
/* One call's phases (lib/svc/phases.h): its debug line, and each phase
 * observed in ak_executor_call_phase_seconds{call, phase}. */
void exmetrics_phases(const struct svc_phases *ph);
/* A receipt was produced, signed or not. */
void exmetrics_receipt(bool is_signed);
