/* The auditor's series (ak_auditor_*), read from auditor_status at each
 * scrape of the process's metrics registry: the spool's size and records,
 * and per destination the events delivered, dead-lettered and not yet
 * delivered (the delivery backlog). Private to services/auditor. */
#pragma once

struct auditor;

/* Installs the collector for a. 0 or a negative errno. */
int auditor_metrics_attach(struct auditor *a);
/* Removes it (waits for a scrape that runs it). NULL-safe. */
void auditor_metrics_detach(struct auditor *a);
