/* Sandboxes (executor_sandbox.c): the record of one sandbox, references to
 * it, and its protobuf form. The table itself (ex->sandboxes) is filled by
 * executor_lifecycle.c. Private to services/executor. */
#pragma once

struct proxy_hooks;

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/base/uuid.h"
#include "vmm/backend/vmm_net.h"
#include "vmm/net/domain.h"
#include "vmm/net/secret_set.h"
#include "protos/ak/v1/executor.pb-c.h"
#include "services/executor/profile.h"
#include "vmm/image/image.h"

struct executor;
struct vmbox;

#define SANDBOX_NAME_MAX 63
#define SANDBOX_MAX_ENV 256
#define SANDBOX_MAX_STRING 4096
/* One SandboxSpec.secrets entry: NAME:HOST:HEADER at their longest. */
#define SECRETS_BINDING_MAX (VAULT_NAME_MAX + SNIFF_NAME_MAX + INJECT_HEADER_NAME_MAX + 2)
/* The sandbox's user: Exec without sudo runs as it, in its home; Run,
 * shells and the file calls are root's. Made at boot (executor_vm.c). */
#define SANDBOX_USER_NAME "sandbox"
#define SANDBOX_USER_UID 1000
#define SANDBOX_USER_HOME "/home/sandbox"

struct sandbox {
        /* Set before the sandbox enters the table, read-only afterwards: */
        char name[SANDBOX_NAME_MAX + 1];
        char uuid[AK_UUID_LEN + 1]; /* Sandbox.uuid: UUIDv7, made at create */
        char image[IMAGE_REF_MAX];         /* a local name or a normalized reference */
        char tenant[64];            /* spec.tenant; "default" when empty */
        const struct profile *profile;
        unsigned vcpus, memory_mb;
        bool network;
        int network_req;            /* Ak__V1__Network as asked */
        char **env_keys, **env_values;
        size_t n_env;
        char **label_keys, **label_values;
        size_t n_labels;
        uint32_t ttl_seconds;
        bool persistent;
        int64_t created_at_ms;      /* wall clock */
        bool from_pool;
        /* spec.egress, checked and canonical; egress points into these. */
        char egress_allow[VMM_NET_MAX_EGRESS][64], egress_deny[VMM_NET_MAX_EGRESS][64];
        const char *egress_allow_p[VMM_NET_MAX_EGRESS], *egress_deny_p[VMM_NET_MAX_EGRESS];
        uint16_t egress_ports[VMM_NET_MAX_EGRESS];
        /* spec.egress's domain rules (domain_rule_parse), apart from its
         * CIDRs; egress.allow_names/deny_names point into these. */
        char egress_allow_names[VMM_NET_MAX_EGRESS][DOMAIN_MAX + 1], egress_deny_names[VMM_NET_MAX_EGRESS][DOMAIN_MAX + 1];
        const char *egress_allow_names_p[VMM_NET_MAX_EGRESS], *egress_deny_names_p[VMM_NET_MAX_EGRESS];
        struct vmm_net_egress egress;
        /* spec.secrets (executor_secrets.h): the bindings as given and
         * parsed, and their values, placeholders and CA (NULL: none). */
        char secret_specs[INJECT_SECRETS_MAX][SECRETS_BINDING_MAX + 1];
        struct secret_binding secret_bindings[INJECT_SECRETS_MAX];
        size_t n_secrets;
        struct secret_set *secrets;
        struct vmm_net_secrets net_secrets; /* secrets for the VM's egress (vmm_net.h), while it runs */
        struct proxy_hooks *hooks;          /* spec.proxy_hooks (executor_hooks.h); NULL: none */
        /* spec.secret_files, parsed; their values are read from the vault
         * at each boot and written into the guest (secrets_install). */
        struct secret_file secret_files[INJECT_SECRETS_MAX];
        size_t n_secret_files;
        /* Under ex->lock: */
        int64_t expires_at_ms;      /* wall clock; 0: no TTL; ExtendSandbox moves it */
        bool test_guest;            /* no VM: uds is a test's fake guest */
        Ak__V1__SandboxState state;
        char error[512];
        struct vmbox *box;
        char uds[108];
        char vmdir[PATH_MAX];
        bool orphan_dir;            /* vmdir is a lost VM's (executor_adopt.c): removal deletes it */
        bool removed;               /* out of the table */
        unsigned refs;              /* the table's, and one per sandbox_get */
};

/* 0 for a valid tenant name (spec.tenant in sandbox.proto), else -EINVAL. */
int tenant_check(const char *s);
/* 0 for a valid sandbox name (sandbox.proto), else -EINVAL. */
int sandbox_name_check(const char *s);
/* The sandbox named `name` with a reference taken (sandbox_put drops it),
 * or NULL. Takes ex->lock. */
struct sandbox *sandbox_get(struct executor *ex, const char *name);
/* Drops a reference (sb NULL: no-op); the last one frees sb. */
void sandbox_put(struct executor *ex, struct sandbox *sb);
/* Frees a sandbox no table or caller holds any more. */
void sandbox_free(struct sandbox *sb);
/* For a sandbox the caller holds: 0 with its socket path copied to uds if
 * it is running, -ENOENT once removed, -ESRCH when not running. */
int sandbox_running_uds(struct executor *ex, struct sandbox *sb, char uds[108]);
/* REQUIRES ex->lock. A copy of sb for an answer (NULL: out of memory);
 * free it with sandbox_proto_free. */
Ak__V1__Sandbox *sandbox_to_proto(struct executor *ex, struct sandbox *sb);
void sandbox_proto_free(Ak__V1__Sandbox *m);
