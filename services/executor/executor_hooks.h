/* A sandbox's proxy hooks (SandboxSpec.proxy_hooks, agentkernel's
 * [[proxy.hooks]]): each connection the VM's egress proxy carries or
 * refuses on ports 80 and 443, and each request the secrets' relay carries
 * (vmm_net_request_event: plain HTTP's first request, a TLS tunnel as one
 * "CONNECT", a refusal with its rule) becomes an on_request and an
 * on_response event,
 * delivered to the hooks that asked for it: a JSON line appended to a file
 * under <state-dir>/proxy-hooks/<sandbox>/, or an audit event (type
 * "proxy", action "proxy_request" / "proxy_response"). Events hold the
 * sandbox, method, host, path (no query), status, byte counts, duration and
 * whether a value was put in; never a body, a header or a value. Private to
 * services/executor. */
#pragma once

#include "lib/rpc/rpc.h"
#include "protos/ak/v1/sandbox.pb-c.h"
#include "vmm/backend/vmm_net.h"

struct executor;
struct sandbox;

#define HOOKS_MAX 8
#define HOOK_NAME_MAX 64
#define HOOK_FILE_MAX 128

struct proxy_hooks;

/* Checks spec->proxy_hooks and keeps them in sb->hooks (none: RPC_OK,
 * nothing kept). INVALID_ARGUMENT naming the entry for a bad name, event,
 * type ("webhook" is not offered: the executor does not post to URLs a
 * client names) or file name, or hooks on a sandbox without network (they
 * observe its egress proxy); RESOURCE_EXHAUSTED when out of memory. Makes the file
 * hooks' directory. Call after sb's name and tenant are set. */
int hooks_take(struct executor *ex, const Ak__V1__SandboxSpec *spec, struct sandbox *sb, struct rpc_call *call);

/* An executor restart: the hooks sb's record holds (hooks[0..n), checked
 * again as hooks_take does) into sb->hooks. n == 0: 0, nothing kept.
 * -EINVAL with err naming the entry, -ENOMEM, or mkdir's error. */
struct sb_record_hook;
int hooks_restore(struct executor *ex, struct sandbox *sb, const struct sb_record_hook *hooks, size_t n,
                  struct ak_error *err);

/* h's hooks as given, for sb's record: the count written to out (at most
 * max). h NULL: 0. */
size_t hooks_record(const struct proxy_hooks *h, struct sb_record_hook *out, size_t max);

/* NULL is a no-op. No event may be in delivery (the VM's network is gone). */
void hooks_free(struct proxy_hooks *h);

/* The vmm_net_secrets.on_request callback; ctx is a struct proxy_hooks.
 * Thread-safe. File write failures are counted, not reported. */
void hooks_on_request(void *ctx, const struct vmm_net_request_event *ev);
