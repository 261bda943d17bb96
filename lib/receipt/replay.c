/* replay_args, as agentkernel. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/receipt/receipt.h"

struct argv {
        char **v;
        size_t n, cap;
        int err;
};

static void push(struct argv *a, const char *s)
{
        if (a->err)
                return;
        if (a->n + 1 >= a->cap) {
                size_t cap = a->cap ? a->cap * 2 : 16;
                char **v = realloc(a->v, cap * sizeof(*v));
                if (!v) {
                        a->err = -ENOMEM;
                        return;
                }
                a->v = v;
                a->cap = cap;
        }
        a->v[a->n] = strdup(s ? s : "");
        if (!a->v[a->n]) {
                a->err = -ENOMEM;
                return;
        }
        a->v[++a->n] = NULL;
}

int receipt_replay_args(const struct receipt *rc, char ***ret_argv, size_t *ret_argc)
{
        const struct receipt_invocation *inv = &rc->invocation;
        struct argv a = { 0 };

        if (inv->mode == RECEIPT_MODE_RUN) {
                const struct receipt_run *run = &inv->run;
                push(&a, "run");
                if (run->image) {
                        push(&a, "--image");
                        push(&a, run->image);
                }
                if (run->backend) {
                        push(&a, "-B");
                        push(&a, run->backend);
                }
                if (run->fast)
                        push(&a, "--fast");
                if (run->keep)
                        push(&a, "--keep");
                if (run->no_network)
                        push(&a, "--no-network");
                push(&a, "--profile");
                push(&a, run->profile);
                push(&a, "--");
                for (size_t i = 0; i < run->n_command; i++)
                        push(&a, run->command[i]);
        } else {
                const struct receipt_exec *ex = &inv->exec;
                push(&a, "exec");
                push(&a, ex->name);
                for (size_t i = 0; i < ex->n_env; i++) {
                        push(&a, "--env");
                        push(&a, ex->env[i]);
                }
                if (ex->workdir) {
                        push(&a, "--workdir");
                        push(&a, ex->workdir);
                }
                if (ex->sudo)
                        push(&a, "--sudo");
                push(&a, "--");
                for (size_t i = 0; i < ex->n_command; i++)
                        push(&a, ex->command[i]);
        }
        if (a.err) {
                receipt_strv_free(a.v, a.n);
                return a.err;
        }
        *ret_argv = a.v;
        *ret_argc = a.n;
        return 0;
}
