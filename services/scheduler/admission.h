/* The scheduler's queue of creates and runs that do not fit yet
 * (admission.c): bounded, and fair between tenants — tenants with
 * tickets waiting take turns (one ticket each per round, in arrival order
 * within a round), so one tenant's burst does not starve another; within a
 * tenant it is FIFO. Only the ticket at the head tries to place, so a
 * request never overtakes an earlier one of its turn.
 *
 * Pure bookkeeping under one mutex: no gRPC, no registry. Thread-safe:
 * every function from any thread; a ticket belongs to the thread that
 * entered it until admission_leave. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ADMISSION_MAX_WAITING 100000

struct admission;
struct admission_ticket;

/* max_waiting: tickets at once (1..ADMISSION_MAX_WAITING). */
int admission_new(unsigned max_waiting, struct admission **ret);
/* REQUIRES: no ticket left. NULL is a no-op. */
void admission_free(struct admission *a);

/* Queues a ticket for tenant (copied; at most 63 bytes used).
 * -EAGAIN when max_waiting tickets wait already, -ENOMEM. */
int admission_enter(struct admission *a, const char *tenant, struct admission_ticket **ret);
/* 1-based place in the fair order (1: the head), and how many wait. */
unsigned admission_position(struct admission *a, const struct admission_ticket *t, unsigned *ret_waiting);
/* Waits up to ms for a change: a ticket left, or admission_kick. */
void admission_wait(struct admission *a, int ms);
/* Wakes the waiters (capacity may have freed). */
void admission_kick(struct admission *a);
/* Removes and frees the ticket, waking the others. */
void admission_leave(struct admission *a, struct admission_ticket *t);

#ifdef __cplusplus
}
#endif
