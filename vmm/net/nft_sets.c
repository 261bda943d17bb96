#include <arpa/inet.h>
#include <errno.h>
#include <nftables/libnftables.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/net/netloop.h"
#include "vmm/net/nft_sets.h"

struct nft_sets {
        struct nft_ctx *ctx;
};

static int ctx_new(void *arg)
{
        struct nft_ctx **ctx = arg;
        if (!(*ctx = nft_ctx_new(NFT_CTX_DEFAULT)))
                return -ENOMEM;
        if (nft_ctx_buffer_output(*ctx) < 0 || nft_ctx_buffer_error(*ctx) < 0)
                return -ENOMEM;
        /* Opens the netlink socket here, in the namespace, if libnftables
         * opens it lazily: a harmless command that must succeed. */
        return nft_run_cmd_from_buffer(*ctx, "list tables") == 0 ? 0 : -EIO;
}

int nft_sets_new(int netns_fd, struct nft_sets **ret, struct ak_error *err)
{
        struct nft_sets *s = calloc(1, sizeof(*s));
        if (!s)
                return ak_error_set(err, -ENOMEM, "out of memory");
        int r = netns_fd >= 0 ? netns_call(netns_fd, ctx_new, &s->ctx) : ctx_new(&s->ctx);
        if (r < 0) {
                nft_sets_free(s);
                return ak_error_errno(err, r, "VM network: a libnftables context in the VM's namespace");
        }
        *ret = s;
        return 0;
}

int nft_sets_run(struct nft_sets *s, const char *cmds, const char **ret_output, struct ak_error *err)
{
        if (nft_run_cmd_from_buffer(s->ctx, cmds) != 0) {
                const char *why = nft_ctx_get_error_buffer(s->ctx);
                return ak_error_set(err, -EIO, "nft: %.200s: %s", cmds, why && *why ? why : "failed");
        }
        const char *out = nft_ctx_get_output_buffer(s->ctx);
        if (ret_output)
                *ret_output = out ? out : "";
        return 0;
}

static uint32_t clamp_ttl(uint32_t ttl)
{
        return ttl < NFT_SETS_TTL_FLOOR ? NFT_SETS_TTL_FLOOR : ttl > NFT_SETS_TTL_CEIL ? NFT_SETS_TTL_CEIL : ttl;
}

int nft_sets_add(struct nft_sets *s, const char *prefix, const struct dns_addr *addrs, size_t n,
                 struct ak_error *err)
{
        /* add (no error if present), delete, add with the timeout: the one
         * way to refresh an element's timeout that works on every kernel,
         * atomic as one transaction. */
        size_t cap = 256 + n * 3 * (64 + INET6_ADDRSTRLEN), len = 0;
        char *b = malloc(cap);
        if (!b)
                return ak_error_set(err, -ENOMEM, "out of memory");
        b[0] = 0;
        for (size_t i = 0; i < n; i++) {
                char a[INET6_ADDRSTRLEN];
                const char *fam = addrs[i].family == AF_INET ? "4" : "6";
                if (!inet_ntop(addrs[i].family, addrs[i].bytes, a, sizeof(a)))
                        continue;
                len += (size_t)snprintf(b + len, cap - len,
                                        "add element inet ak_vm %s%s { %s }\n"
                                        "delete element inet ak_vm %s%s { %s }\n"
                                        "add element inet ak_vm %s%s { %s timeout %us }\n",
                                        prefix, fam, a, prefix, fam, a, prefix, fam, a, clamp_ttl(addrs[i].ttl));
        }
        int r = len ? nft_sets_run(s, b, NULL, err) : 0;
        free(b);
        return r;
}

void nft_sets_free(struct nft_sets *s)
{
        if (!s)
                return;
        if (s->ctx)
                nft_ctx_free(s->ctx);
        free(s);
}
