/* Denied network traffic of the executor's VMs (executor_netaudit.c): one
 * net_reporter per VM with network (vmm/net/net_event.h), whose events
 * become "network_denied" audit events about the sandbox the VM serves,
 * and whose counts GetStatus reports. A reporter lives as long as its VM
 * (evm_boot to evm_dispose), not its sandbox: a VM disposed of later (the
 * janitor) still reports into a live reporter. Private to
 * services/executor. */
#pragma once

#include <stdint.h>

struct executor;
struct net_reporter;
struct vmbox;
struct net_audit;

/* A reporter for a VM about to boot (no sandbox yet): NULL when out of
 * memory (the VM then boots without one: counted nowhere). */
struct net_audit *net_audit_new(struct executor *ex);
struct net_reporter *net_audit_reporter(struct net_audit *a);
/* Files a booted VM's reporter under box. Takes ex->lock. */
void net_audit_attach(struct executor *ex, struct net_audit *a, struct vmbox *box);
/* The sandbox (and its tenant) box now serves: events name it. Takes
 * ex->lock. */
void net_audit_assign(struct executor *ex, struct vmbox *box, const char *sandbox, const char *tenant);
/* After box is freed (its denial log stopped): adds its count to the
 * executor's total of past VMs and frees the reporter. a NULL or not
 * attached: frees a alone. Takes ex->lock. */
void net_audit_release(struct executor *ex, struct net_audit *a, struct vmbox *box);
/* REQUIRES ex->lock. Denials of every VM, past and present. */
uint64_t net_audit_denied_total_locked(struct executor *ex);
/* REQUIRES ex->lock. Times a VM's denial log overflowed, every VM past
 * and present (net_reporter_overruns). */
uint64_t net_audit_overruns_total_locked(struct executor *ex);
/* REQUIRES ex->lock. Denials of the VM that serves sandbox (0: none), and
 * its log's overruns in *ret_overruns. */
uint64_t net_audit_denied_locked(struct executor *ex, const char *sandbox, uint64_t *ret_overruns);
/* The attributes of a network_denied event (JSON object text) into buf:
 * destination, port, protocol, rule, suppressed, kind. */
void net_audit_attributes(const char *dst, unsigned port, int protocol, const char *rule, const char *name,
                          uint64_t suppressed, char *buf, size_t size);
