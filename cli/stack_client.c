/* The client's side of the local stack: which scheduler to call and with
 * what credentials (stack.h), starting the stack when none runs, and the
 * guest image a run needs before the stack is asked for it. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/progress.h"
#include "cli/stack.h"
#include "vmm/image/image.h"

/* The local stack's token, for the life of the process. */
static char local_token[STACK_TOKEN_MAX];

/* A fleet's scheduler: possibly several replicas behind a Service, so
 * failover on (a follower's refusal or a dead leader reconnects, rpc.h). */
static int fleet_channel(const char *target, const struct rpc_tls *tls, struct rpc_channel **ret,
                         struct ak_error *err)
{
        int r = rpc_channel_new(target, tls, ret, err);
        if (r < 0)
                return r;
        return rpc_channel_set_failover(*ret, &(struct rpc_failover){ 0 });
}

int stack_client(bool autostart, struct rpc_channel **ret, struct rpc_call_options *opts,
                 struct ak_error *err)
{
        const char *target = getenv("AK_SCHEDULER"), *token = getenv("AK_TOKEN");
        struct stack st;
        int r;

        memset(opts, 0, sizeof(*opts));
        if (token && *token)
                opts->bearer_token = token;
        if (target && *target) {
                /* A fleet's scheduler over TLS: AK_TLS_CA verifies it; a
                 * client certificate when it wants one (mTLS). */
                static struct rpc_tls tls;
                const char *ca = getenv("AK_TLS_CA"), *cert = getenv("AK_TLS_CERT"), *key = getenv("AK_TLS_KEY");
                const char *name = getenv("AK_TLS_NAME");
                if (!ca || !*ca) {
                        if ((cert && *cert) || (key && *key) || (name && *name))
                                return ak_error_set(err, -EINVAL, "AK_TLS_CERT, AK_TLS_KEY and AK_TLS_NAME need "
                                                                  "AK_TLS_CA (the CA that signed the scheduler's "
                                                                  "certificate)");
                        return fleet_channel(target, NULL, ret, err);
                }
                if (!(cert && *cert) != !(key && *key))
                        return ak_error_set(err, -EINVAL, "AK_TLS_CERT and AK_TLS_KEY go together");
                tls = (struct rpc_tls){ .ca_file = ca,
                                        .cert_file = cert && *cert ? cert : NULL,
                                        .key_file = key && *key ? key : NULL,
                                        .server_name = name && *name ? name : NULL };
                return fleet_channel(target, &tls, ret, err);
        }
        r = stack_load(&st, err);
        if (r < 0 && r != -ENOENT)
                return r;
        int alive = 0;
        for (int i = 0; r == 0 && i < STACK_N; i++)
                alive += stack_pid_alive(&st, (enum stack_service)i);
        if (r == 0 && alive && !stack_pid_alive(&st, STACK_SCHEDULER))
                return ak_error_set(err, -ENOTCONN,
                                    "the stack in %s is partly down (ak-scheduler is not running; "
                                    "its log: %s/logs/scheduler.log); `ak down && ak up` restarts it",
                                    st.home, st.home);
        if (r < 0 || !alive) {
                if (!autostart)
                        return ak_error_set(err, -ENOTCONN, "no stack is running in %s; `ak up` starts one",
                                            st.home);
                fprintf(stderr, "ak: no stack running in %s; starting one (`ak down` stops it)\n", st.home);
                if (r == 0) {
                        struct ak_error ignored = { 0 };
                        stack_down(&st, &ignored);
                }
                struct stack_up_options o = { .min_warm = 0, .progress = true };
                if ((r = stack_up(&st, &o, err)) < 0)
                        return r;
        }
        if (!opts->bearer_token) {
                r = stack_token(&st, local_token, sizeof(local_token));
                if (r < 0 && r != -ENOENT)
                        return ak_error_errno(err, r, "read %s/run/token", st.home);
                if (r == 0)
                        opts->bearer_token = local_token;
        }
        return rpc_channel_new(st.addr[STACK_SCHEDULER], NULL, ret, err);
}

int stack_prepare_image(const char *image, struct ak_error *err)
{
        const char *target = getenv("AK_SCHEDULER");
        struct stack st;
        char dir[PATH_MAX];
        int r;

        if (target && *target)
                return 0;
        if ((r = stack_paths(&st, err)) < 0 || (r = stack_dir(&st, "images", dir, sizeof(dir), err)) < 0)
                return r;
        struct image_store *store = NULL;
        struct image_boot boot;
        struct cli_progress pr;
        cli_progress_init(&pr);
        struct image_progress ip = { cli_progress_report, &pr };
        const char *name = image && *image ? image : IMAGE_BASE;
        struct image_info info;
        if ((r = image_store_open(dir, &store, err)) == 0) {
                /* A reference not here yet is the executor's to pull: get
                 * the kernel and base initramfs it boots with ready. */
                if (image_key_is_ref(name) && image_lookup(store, name, &info, NULL) == -ENOENT)
                        name = IMAGE_BASE;
                r = image_resolve_boot(store, name, &ip, &boot, err);
        }
        image_store_free(store);
        cli_progress_done(&pr);
        if (r < 0)
                return ak_error_wrap(err, "image %s", name);
        return 0;
}
