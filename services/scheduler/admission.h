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

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ADMISSION_MAX_WAITING 100000
#define ADMISSION_LOOKAHEAD 16
#define ADMISSION_HEAD_GRACE_MS 5000

struct admission;
struct admission_ticket;

/* max_waiting: tickets at once (1..ADMISSION_MAX_WAITING). */
int admission_new(unsigned max_waiting, struct admission **ret);
/* REQUIRES: no ticket left. NULL is a no-op. */
void admission_free(struct admission *a);

/* Queues a ticket for tenant (copied; at most 63 bytes used).
 * -EAGAIN when max_waiting tickets wait already, -ENOMEM. */
int admission_enter(struct admission *a, const char *tenant, struct admission_ticket **ret);
/* The same for a create of sandbox `name` (copied; at most 63 bytes), which
 * admission_lookup and admission_list then show. */
int admission_enter_named(struct admission *a, const char *tenant, const char *name,
                          struct admission_ticket **ret);
/* Whether t may try to place now (the rule above); now_ms monotonic. */
bool admission_may_try(struct admission *a, const struct admission_ticket *t, int64_t now_ms);
/* How many tickets wait. */
unsigned admission_waiting(struct admission *a);

/* A named create that waits: where it is in the fair order. */
struct admission_entry {
        char name[64];
        char tenant[64];
        unsigned position, waiting;
};
/* The waiting create named `name` (the first, should two wait): 0 or -ENOENT. */
int admission_lookup(struct admission *a, const char *name, struct admission_entry *ret);
/* Every waiting named create, in arrival order: a new array (caller frees)
 * and its length. 0 or -ENOMEM. */
int admission_list(struct admission *a, struct admission_entry **ret, size_t *ret_n);

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
