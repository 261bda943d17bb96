/* Elements of the nftables sets in a VM's namespace (allow_dyn4/6,
 * deny_dyn4/6 of table inet ak_vm, vmm_net.h), added as the VM's resolver
 * answers, through libnftables rather than an nft(8) fork per answer.
 *
 * The context is created on a thread inside the namespace (netns_call): its
 * netlink socket is opened there and stays there, so later commands from
 * the netloop's thread change the namespace's ruleset, not the host's.
 *
 * Not thread-safe: one caller at a time (the netloop). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "lib/base/error.h"
#include "vmm/net/dns_msg.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NFT_SETS_TTL_FLOOR 60     /* seconds: an element lives at least this long */
#define NFT_SETS_TTL_CEIL 86400   /* and at most a day, whatever the TTL */

struct nft_sets;

/* A libnftables context in the namespace netns_fd (-1: the caller's). */
int nft_sets_new(int netns_fd, struct nft_sets **ret, struct ak_error *err);

/* Runs nft commands (nft -f syntax); with ret_output, what they print
 * (valid until the next call). 0, or -EIO with err holding nft's words. */
int nft_sets_run(struct nft_sets *s, const char *cmds, const char **ret_output, struct ak_error *err);

/* Adds addrs to <prefix>4 / <prefix>6 of table inet ak_vm ("allow_dyn",
 * "deny_dyn"), each with a timeout of its TTL clamped to
 * [NFT_SETS_TTL_FLOOR, NFT_SETS_TTL_CEIL], refreshed when already there.
 * One netlink transaction. */
int nft_sets_add(struct nft_sets *s, const char *prefix, const struct dns_addr *addrs, size_t n,
                 struct ak_error *err);

void nft_sets_free(struct nft_sets *s);

#ifdef __cplusplus
}
#endif
