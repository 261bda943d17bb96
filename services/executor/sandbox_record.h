/* The record a sandbox or warm-pool VM leaves in its VM directory
 * (state_dir/v/<n>/sandbox.json), so a restarted executor re-adopts the VM
 * with what it was (executor_adopt.h). JSON, written atomically; read back
 * as untrusted bytes (a damaged or edited file is refused, with limits on
 * every size). Pure functions, thread-safe. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/base/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SB_RECORD_FILE "sandbox.json"
#define SB_RECORD_MAX_BYTES ((size_t)4 << 20)
#define SB_RECORD_MAX_MAP 256      /* env entries; labels */
#define SB_RECORD_MAX_STRING 4096  /* an env or label key or value */
#define SB_RECORD_MAX_EGRESS 64    /* entries of an egress list (VMM_NET_MAX_EGRESS) */
#define SB_RECORD_MAX_EGRESS_ITEM 255 /* bytes of a CIDR or domain rule */
#define SB_RECORD_IFNAME_MAX 15    /* IFNAMSIZ - 1 */
#define SB_RECORD_MAX_SECRETS 32   /* INJECT_SECRETS_MAX */
#define SB_RECORD_BINDING_MAX 400  /* NAME:HOST:HEADER (SECRETS_BINDING_MAX is 386) */
#define SB_RECORD_PLACEHOLDER_MAX 64
#define SB_RECORD_MAX_HOOKS 8      /* HOOKS_MAX */

/* One of spec.secrets: the binding as given ("NAME:HOST[:HEADER]") and
 * the placeholder the guest's environment holds for it. Never a value. */
struct sb_record_secret {
        char binding[SB_RECORD_BINDING_MAX + 1];
        char placeholder[SB_RECORD_PLACEHOLDER_MAX + 1];
};

/* One of spec.proxy_hooks as given (checked again when taken back). */
struct sb_record_hook {
        char name[65];
        char event[16];
        char type[16];
        char path[129]; /* a file name; "" for type audit */
};

/* spec.egress as checked at create (canonical CIDRs, domain rules): the
 * lists of struct vmm_net_egress. */
enum sb_egress_list { SB_EGRESS_ALLOW, SB_EGRESS_DENY, SB_EGRESS_ALLOW_NAMES, SB_EGRESS_DENY_NAMES, SB_EGRESS_LISTS };

struct sb_record {
        bool pool;                 /* a warm-pool VM: image and profile only */
        char name[64];             /* sandboxes: the rest */
        char uuid[37];
        char image[512];
        char tenant[64];
        char profile[32];
        unsigned vcpus, memory_mb;
        bool network, persistent, from_pool;
        int network_req;
        uint32_t ttl_seconds;
        int64_t created_at_ms, expires_at_ms;
        char **env_keys, **env_values;        /* n_env each, malloc'd */
        size_t n_env;
        char **label_keys, **label_values;
        size_t n_labels;
        /* The VM's network namespace's host end ("akv<n>", [a-z0-9] only),
         * "" when it has none of its own (both kinds; optional in the
         * file, as in records written before it). */
        char net_ifname[SB_RECORD_IFNAME_MAX + 1];
        /* The sandbox's egress policy (optional in the file: none). */
        char **egress[SB_EGRESS_LISTS];            /* n_egress[i] each, malloc'd */
        size_t n_egress[SB_EGRESS_LISTS];
        uint16_t egress_ports[SB_RECORD_MAX_EGRESS];
        size_t n_egress_ports;
        /* spec.secrets was set (optional in the file: false). With
         * n_secrets, the bindings and placeholders, and the CA is in the VM
         * directory (executor_adopt.c); without (a record of an executor
         * before them: "secrets": true), not restorable. Values are never
         * recorded: they stay in the vault. */
        bool secrets;
        size_t n_secrets;
        struct sb_record_secret secret[SB_RECORD_MAX_SECRETS];
        /* spec.proxy_hooks (optional in the file: none). */
        size_t n_hooks;
        struct sb_record_hook hooks[SB_RECORD_MAX_HOOKS];
};

/* Serializes r (compact JSON, malloc'd into *ret). -ENOMEM, -E2BIG. */
int sb_record_format(const struct sb_record *r, char **ret, size_t *ret_len);
/* Parses a record: 0 with *ret filled (free with sb_record_clear), or
 * -EINVAL / -E2BIG with err naming the field. *ret is untouched on failure. */
int sb_record_parse(const char *text, size_t len, struct sb_record *ret, struct ak_error *err);
/* Frees the maps and lists (r itself is the caller's). */
void sb_record_clear(struct sb_record *r);

#ifdef __cplusplus
}
#endif
