/* Shared between cli/stack.c and cli/stack_gateway.c; not for other users. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

#include "cli/stack.h"
#include "lib/base/error.h"

/* $AK_HOME/run/token. */
void stack_token_path(const struct stack *st, char *buf, size_t size);

/* Rewrites $AK_HOME/run/stack.json from st. */
int stack_write_record(const struct stack *st, struct ak_error *err);

/* Forks argv (setsid, stdin /dev/null, stdout and stderr appended to log). */
pid_t stack_spawn(const char *log, char *const argv[], struct ak_error *err);

/* services/<s>/ak-<s> next to ak. */
int stack_find_bin(enum stack_service s, char *buf, size_t size, struct ak_error *err);

/* A free loopback address for a service's --metrics-listen into out
 * ("127.0.0.1:PORT"): a port the kernel picked, bound and released here
 * for the service to take a moment later. 0 or -errno with err filled. */
int stack_pick_metrics_addr(char *out, size_t size, struct ak_error *err);

/* The last 2 KiB of log on stderr. */
void stack_print_log_tail(const char *log);

/* Starts ak-gateway on o->gateway_listen once the scheduler is up: records
 * its pid and the address it printed. On failure, stops what it started and
 * says why in o->gateway_error; the stack is left as it was. */
void stack_start_gateway(struct stack *st, struct stack_up_options *o);

/* Stops the supervised VMs (ak-vmm and QEMU) the executor left in
 * $AK_HOME/executor/v, by their recorded pids and start times; call after
 * the executor has exited. Their directories stay (the next executor lists
 * their sandboxes as lost). The number stopped. */
int stack_stop_vms(const struct stack *st);
