/* The sandbox life cycle: create (from a warm pool or a fresh boot), start,
 * stop, remove, and the RPCs that expose it with get and list. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/base/cleanup.h"
#include "lib/base/time.h"
#include "lib/crypto/crypto.h"
#include "lib/receipt/receipt.h"
#include "lib/svc/log.h"
#include "lib/svc/phases.h"
#include "services/executor/executor_netaudit.h"
#include "services/executor/executor_audit.h"
#include "services/executor/executor_guest_call.h"
#include "services/executor/executor_adopt.h"
#include "services/executor/executor_images.h"
#include "services/executor/capacity.h"
#include "services/executor/executor_lifecycle.h"
#include "services/executor/executor_metrics.h"
#include "services/executor/executor_pool.h"
#include "services/executor/executor_pull.h"
#include "services/executor/executor_sandbox.h"
#include "services/executor/executor_hooks.h"
#include "services/executor/executor_secrets.h"
#include "services/executor/executor_snapshot.h"
#include "services/executor/executor_state.h"
#include "services/executor/executor_vm.h"
#include "vmm/vmbox.h"

static int copy_map(Ak__V1__SandboxSpec__EnvEntry **e, size_t n, char ***rk, char ***rv)
{
        char **k = calloc(n + 1, sizeof(char *)), **v = calloc(n + 1, sizeof(char *));
        if (!k || !v)
                goto oom;
        for (size_t i = 0; i < n; i++)
                if (!(k[i] = strdup(e[i]->key ? e[i]->key : "")) || !(v[i] = strdup(e[i]->value ? e[i]->value : "")))
                        goto oom;
        *rk = k;
        *rv = v;
        return 0;
oom:
        receipt_strv_free(k, n);
        receipt_strv_free(v, n);
        return -ENOMEM;
}

static int check_map(struct rpc_call *call, const char *field, Ak__V1__SandboxSpec__EnvEntry **e, size_t n)
{
        if (n > SANDBOX_MAX_ENV)
                return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "spec.%s: %zu entries, at most %d", field, n,
                                     SANDBOX_MAX_ENV);
        for (size_t i = 0; i < n; i++)
                if ((e[i]->key && strlen(e[i]->key) > SANDBOX_MAX_STRING) ||
                    (e[i]->value && strlen(e[i]->value) > SANDBOX_MAX_STRING) || !e[i]->key || !e[i]->key[0] ||
                    strchr(e[i]->key, '='))
                        return rpc_call_fail(call, RPC_INVALID_ARGUMENT,
                                             "spec.%s: key \"%.64s\": keys are 1..%d bytes without '=', values at "
                                             "most %d bytes", field, e[i]->key ? e[i]->key : "", SANDBOX_MAX_STRING,
                                             SANDBOX_MAX_STRING);
        return RPC_OK;
}

void lifecycle_allocated_locked(struct executor *ex, unsigned *vcpus, uint64_t *mem)
{
        *vcpus = 0;
        *mem = 0;
        for (size_t i = 0; i < ex->n_sandboxes; i++)
                if (ex->sandboxes[i]->state != AK__V1__SANDBOX_STATE__SANDBOX_STATE_STOPPED) {
                        *vcpus += ex->sandboxes[i]->vcpus;
                        *mem += ex->sandboxes[i]->memory_mb;
                }
        for (size_t i = 0; i < ex->n_pools; i++) {
                unsigned n = (unsigned)ex->pools[i].n_ready + ex->pools[i].booting;
                *vcpus += n;
                *mem += (uint64_t)n * (ex->pools[i].profile->memory_mb ? ex->pools[i].profile->memory_mb
                                                                        : VM_DEFAULT_MEMORY_MB);
        }
}

static void set_running(struct executor *ex, struct sandbox *sb, struct vmbox *box, const char *dir)
{
        net_audit_assign(ex, box, sb->name, sb->tenant);
        pthread_mutex_lock(&ex->lock);
        sb->box = box;
        snprintf(sb->uds, sizeof(sb->uds), "%s", vmbox_uds(box));
        snprintf(sb->vmdir, sizeof(sb->vmdir), "%s", dir);
        sb->state = AK__V1__SANDBOX_STATE__SANDBOX_STATE_RUNNING;
        sb->error[0] = 0;
        pthread_mutex_unlock(&ex->lock);
        /* Not re-adoptable without it, but the sandbox works. */
        adopt_record_sandbox(ex, sb, NULL);
        adopt_forget_stopped(ex, sb->name);
}

static bool has_egress(const struct sandbox *sb)
{
        return sb->egress.n_allow || sb->egress.n_deny || sb->egress.n_ports || sb->egress.n_allow_names ||
               sb->egress.n_deny_names;
}

static int boot_sandbox_vm(struct executor *ex, struct sandbox *sb, bool try_pool, struct svc_phases *ph,
                           uint64_t t0, struct ak_error *err)
{
        struct pool_vm pv;
        /* Pool VMs have the executor's network rules only: no egress
         * policy, no secrets or proxy hooks (those need the VM's proxy set
         * up at boot). */
        bool pool_shape = sb->vcpus == 1 && sb->network == sb->profile->network && !(sb->network && has_egress(sb)) &&
                          !sb->secrets && !sb->hooks &&
                          sb->memory_mb == (sb->profile->memory_mb ? sb->profile->memory_mb : VM_DEFAULT_MEMORY_MB);
        int r;
        if (try_pool && pool_shape && pool_take(ex, sb->image, sb->profile, &pv) == 0) {
                /* Before anyone runs in it: the CA trusted, secret files in. */
                if ((r = secrets_install(ex, sb, vmbox_uds(pv.box), err)) < 0) {
                        evm_dispose(ex, pv.box, pv.dir);
                        return r;
                }
                sb->from_pool = true;
                svc_phases_mark(ph, "vm");
                set_running(ex, sb, pv.box, pv.dir);
                svc_phases_mark(ph, "record");
                exmetrics_sandbox_start(true, (double)(ak_mono_ns() - t0) / 1e9);
                return 0;
        }
        char dir[PATH_MAX];
        struct vmbox *box = NULL;
        sb->net_secrets = (struct vmm_net_secrets){ .set = sb->secrets,
                                                    .upstream_roots = ex->cfg.secrets_upstream_ca,
                                                    .on_request = sb->hooks ? hooks_on_request : NULL,
                                                    .ctx = sb->hooks };
        r = evm_boot(ex, sb->image, sb->profile, sb->vcpus, sb->memory_mb, sb->network,
                     has_egress(sb) ? &sb->egress : NULL, sb->secrets || sb->hooks ? &sb->net_secrets : NULL, dir,
                     &box, err);
        if (r < 0)
                return r;
        if ((r = secrets_install(ex, sb, vmbox_uds(box), err)) < 0) {
                evm_dispose(ex, box, dir);
                return r;
        }
        svc_phases_mark(ph, "vm");
        set_running(ex, sb, box, dir);
        svc_phases_mark(ph, "record");
        exmetrics_sandbox_start(false, (double)(ak_mono_ns() - t0) / 1e9);
        return 0;
}

/* Boots sb (a warm pool VM when try_pool and one fits) and logs the one
 * line of its boot: "sandbox booted" with the time it took, or "sandbox boot
 * failed" with the reason the caller puts in sb->error (state ERROR). */
static int boot_sandbox(struct executor *ex, struct sandbox *sb, bool try_pool, struct svc_phases *ph,
                        struct ak_error *err)
{
        uint64_t t0 = ak_mono_ns();
        int r = boot_sandbox_vm(ex, sb, try_pool, ph, t0, err);
        int64_t ms = (int64_t)((ak_mono_ns() - t0) / 1000000);
        if (r < 0)
                SVC_LOG(SVC_LOG_ERROR, "sandbox boot failed", SVC_LOG_S("sandbox", sb->name),
                        SVC_LOG_S("tenant", sb->tenant), SVC_LOG_S("image", sb->image), SVC_LOG_I("duration_ms", ms),
                        SVC_LOG_S("state", "error"), SVC_LOG_S("error", err->msg));
        else
                SVC_LOG(SVC_LOG_INFO, "sandbox booted", SVC_LOG_S("sandbox", sb->name), SVC_LOG_S("tenant", sb->tenant),
                        SVC_LOG_S("image", sb->image), SVC_LOG_I("boot_ms", ms), SVC_LOG_I("from_pool", sb->from_pool));
        return r;
}

/* Checks spec.egress and copies it, canonical, into sb: RPC_OK, or the call
 * failed with INVALID_ARGUMENT naming the entry. */
static int take_egress(const struct executor *ex, const Ak__V1__Egress *e, struct sandbox *sb,
                       struct rpc_call *call)
{
        struct ak_error err = { 0 };
        sb->egress = (struct vmm_net_egress){ sb->egress_allow_p, 0, sb->egress_deny_p, 0, sb->egress_ports, 0,
                                              sb->egress_allow_names_p, 0, sb->egress_deny_names_p, 0 };
        if (!e)
                return RPC_OK;
        if (e->n_allow > VMM_NET_MAX_EGRESS || e->n_deny > VMM_NET_MAX_EGRESS || e->n_ports > VMM_NET_MAX_EGRESS)
                return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "spec.egress: %zu allow, %zu deny, %zu ports: at "
                                     "most %d of each", e->n_allow, e->n_deny, e->n_ports, VMM_NET_MAX_EGRESS);
        for (size_t i = 0; i < e->n_allow; i++) {
                struct vmm_net_egress *g = &sb->egress;
                if (domain_rule_like(e->allow[i])) {
                        char *name = sb->egress_allow_names[g->n_allow_names];
                        if (domain_rule_parse(e->allow[i], name, DOMAIN_MAX + 1, &err) < 0)
                                return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "spec.egress.allow[%zu]: %s", i,
                                                     err.msg);
                        sb->egress_allow_names_p[g->n_allow_names++] = name;
                        continue;
                }
                char *cidr = sb->egress_allow[g->n_allow];
                if (vmm_net_cidr_parse(e->allow[i], cidr, 64, &err) < 0 ||
                    vmm_net_egress_check(cidr, ex->cfg.deny_cidrs, ex->cfg.n_deny_cidrs, ex->cfg.egress_allow_private,
                                         &err) < 0)
                        return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "spec.egress.allow[%zu]: %s", i, err.msg);
                sb->egress_allow_p[g->n_allow++] = cidr;
        }
        for (size_t i = 0; i < e->n_deny; i++) {
                struct vmm_net_egress *g = &sb->egress;
                if (domain_rule_like(e->deny[i])) {
                        char *name = sb->egress_deny_names[g->n_deny_names];
                        if (domain_rule_parse(e->deny[i], name, DOMAIN_MAX + 1, &err) < 0)
                                return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "spec.egress.deny[%zu]: %s", i,
                                                     err.msg);
                        sb->egress_deny_names_p[g->n_deny_names++] = name;
                        continue;
                }
                char *cidr = sb->egress_deny[g->n_deny];
                if (vmm_net_cidr_parse(e->deny[i], cidr, 64, &err) < 0)
                        return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "spec.egress.deny[%zu]: %s", i, err.msg);
                sb->egress_deny_p[g->n_deny++] = cidr;
        }
        for (size_t i = 0; i < e->n_ports; i++) {
                if (e->ports[i] < 1 || e->ports[i] > 65535)
                        return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "spec.egress.ports[%zu]: %u is not a "
                                             "port (want 1..65535)", i, e->ports[i]);
                sb->egress_ports[i] = (uint16_t)e->ports[i];
        }
        sb->egress.n_ports = e->n_ports;
        return RPC_OK;
}

/* Checks spec (every field a client sets) and picks the name: spec's, or a
 * random one. RPC_OK, or the call failed with INVALID_ARGUMENT naming the
 * field. */
static int check_spec(const Ak__V1__SandboxSpec *spec, struct rpc_call *call, char name[SANDBOX_NAME_MAX + 1],
                      char ret_image[IMAGE_REF_MAX], const struct profile **ret_profile)
{
        int r;

        if (spec->name && spec->name[0]) {
                if (sandbox_name_check(spec->name) < 0)
                        return rpc_call_fail(call, RPC_INVALID_ARGUMENT,
                                             "spec.name \"%.80s\": want [a-z0-9][a-z0-9_.-]{0,62}", spec->name);
                snprintf(name, SANDBOX_NAME_MAX + 1, "%s", spec->name);
        } else {
                uint8_t rnd[6];
                if (crypto_random_bytes(rnd, sizeof(rnd)) < 0)
                        return rpc_call_fail(call, RPC_INTERNAL, "no random bytes for a sandbox name");
                snprintf(name, SANDBOX_NAME_MAX + 1, "sb-%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3], rnd[4],
                         rnd[5]);
        }
        const char *image = spec->image && spec->image[0] ? spec->image : IMAGE_BASE;
        char norm[IMAGE_REF_MAX];
        struct ak_error ierr = { 0 };
        /* A bare name is a local image; with '/', ':' or '@' an OCI
         * reference, kept normalized (docker.io/library/python:3.12). */
        if (image_key_is_ref(image) && image_ref_normalize(image, norm, &ierr) < 0)
                return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "spec.image: %s", ierr.msg);
        if (!image_key_is_ref(image) && image_name_check(image) < 0)
                return rpc_call_fail(call, RPC_INVALID_ARGUMENT,
                                     "spec.image \"%.80s\": not an image name ([a-z0-9][a-z0-9._-]*, at most %d) nor "
                                     "an OCI reference (python:3.12-alpine)", image, IMAGE_NAME_MAX);
        const struct profile *p = profile_find(spec->profile);
        if (!p)
                return rpc_call_fail(call, RPC_INVALID_ARGUMENT,
                                     "spec.profile \"%.80s\": want permissive, moderate or restrictive",
                                     spec->profile);
        if (spec->vcpus > VMM_MAX_VCPUS)
                return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "spec.vcpus %u: at most %d", spec->vcpus,
                                     VMM_MAX_VCPUS);
        if (spec->memory_mb && (spec->memory_mb < VMM_MIN_MEMORY_MB || spec->memory_mb > VMM_MAX_MEMORY_MB))
                return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "spec.memory_mb %u: want %d..%d", spec->memory_mb,
                                     VMM_MIN_MEMORY_MB, VMM_MAX_MEMORY_MB);
        if (spec->ttl_seconds > 30u * 86400)
                return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "spec.ttl_seconds %u: at most 30 days",
                                     spec->ttl_seconds);
        if ((r = check_map(call, "env", spec->env, spec->n_env)) != RPC_OK ||
            (r = check_map(call, "labels", (Ak__V1__SandboxSpec__EnvEntry **)spec->labels, spec->n_labels)) != RPC_OK)
                return r;

        if (spec->tenant && *spec->tenant && tenant_check(spec->tenant) < 0)
                return rpc_call_fail(call, RPC_INVALID_ARGUMENT,
                                     "spec.tenant: want 1 to 63 of A-Z a-z 0-9 . _ - starting with a letter or digit");
        snprintf(ret_image, IMAGE_REF_MAX, "%s", image_key_is_ref(image) ? norm : image);
        *ret_profile = p;
        return RPC_OK;
}

/* A new sandbox (state CREATING, two references: the table's and the
 * caller's) for a checked spec; NULL when out of memory. */
static struct sandbox *sandbox_from_spec(const Ak__V1__SandboxSpec *spec, const char *name, const char *image,
                                         const struct profile *p)
{
        struct sandbox *sb = calloc(1, sizeof(*sb));
        if (!sb)
                return NULL;
        snprintf(sb->name, sizeof(sb->name), "%s", name);
        if (ak_uuid7(sb->uuid) < 0) {
                free(sb);
                return NULL;
        }
        snprintf(sb->tenant, sizeof(sb->tenant), "%s", spec->tenant && *spec->tenant ? spec->tenant : "default");
        snprintf(sb->image, sizeof(sb->image), "%s", image);
        sb->profile = p;
        sb->vcpus = spec->vcpus ? spec->vcpus : 1;
        sb->memory_mb = spec->memory_mb ? spec->memory_mb : (p->memory_mb ? p->memory_mb : VM_DEFAULT_MEMORY_MB);
        sb->network_req = spec->network;
        sb->network = spec->network == AK__V1__NETWORK__NETWORK_ON    ? true
                      : spec->network == AK__V1__NETWORK__NETWORK_OFF ? false
                                                                      : p->network;
        sb->ttl_seconds = spec->ttl_seconds;
        sb->persistent = spec->persistent;
        sb->created_at_ms = ak_real_ms();
        sb->expires_at_ms = spec->ttl_seconds ? sb->created_at_ms + (int64_t)spec->ttl_seconds * 1000 : 0;
        sb->state = AK__V1__SANDBOX_STATE__SANDBOX_STATE_CREATING;
        sb->refs = 2; /* the table's and the caller's */
        if (copy_map(spec->env, spec->n_env, &sb->env_keys, &sb->env_values) < 0 ||
            copy_map((Ak__V1__SandboxSpec__EnvEntry **)spec->labels, spec->n_labels, &sb->label_keys,
                     &sb->label_values) < 0) {
                sandbox_free(sb);
                return NULL;
        }
        sb->n_env = spec->n_env;
        sb->n_labels = spec->n_labels;
        return sb;
}

int lifecycle_create(struct executor *ex, const Ak__V1__SandboxSpec *spec, struct rpc_call *call,
                     struct svc_phases *ph, struct sandbox **ret)
{
        static const Ak__V1__SandboxSpec empty = AK__V1__SANDBOX_SPEC__INIT;
        struct ak_error err = { 0 };
        char name[SANDBOX_NAME_MAX + 1], image[IMAGE_REF_MAX];
        const struct profile *p = NULL;
        int r;

        if (!spec)
                spec = &empty;
        if ((r = check_spec(spec, call, name, image, &p)) != RPC_OK)
                return r;
        /* Before anything is made: a sandbox of an image this node lacks
         * would only fail to boot. */
        if ((r = images_ensure(ex, image, name, spec->tenant, &err)) < 0)
                return rpc_call_fail(call, images_error_code(image, r), "%s", err.msg);
        /* Another tenant's snapshot is not there for this one. */
        if (snapshot_check_restore(ex, image, spec->tenant, &err) < 0)
                return rpc_call_fail(call, RPC_FAILED_PRECONDITION, "%s", err.msg);
        /* Before the node swaps or OOMs: no new sandbox under memory pressure. */
        struct capacity_probe probe;
        if (capacity_probe_read(ex->cfg.proc_dir, &probe, &err) < 0 || capacity_pressure_check(&probe, &err) < 0)
                return rpc_call_fail(call, RPC_RESOURCE_EXHAUSTED, "no room for %s on this node: %s", name, err.msg);
        struct sandbox *sb = sandbox_from_spec(spec, name, image, p);
        if (!sb)
                return rpc_call_fail(call, RPC_RESOURCE_EXHAUSTED, "out of memory");
        if ((r = take_egress(ex, spec->egress, sb, call)) != RPC_OK ||
            (r = secrets_take(ex, spec, sb, call)) != RPC_OK || (r = hooks_take(ex, spec, sb, call)) != RPC_OK) {
                sandbox_free(sb);
                return r;
        }

        pthread_mutex_lock(&ex->lock);
        int code = RPC_OK;
        unsigned used_vcpus;
        uint64_t used_mem;
        lifecycle_allocated_locked(ex, &used_vcpus, &used_mem);
        for (size_t i = 0; i < ex->n_sandboxes; i++)
                if (strcmp(ex->sandboxes[i]->name, name) == 0)
                        code = RPC_ALREADY_EXISTS;
        if (code == RPC_OK && ex->n_sandboxes >= EXECUTOR_MAX_SANDBOXES)
                code = RPC_RESOURCE_EXHAUSTED;
        if (code == RPC_OK && ex->draining)
                code = RPC_UNAVAILABLE;
        /* A pool VM taken for this sandbox is already counted. */
        if (code == RPC_OK && (used_vcpus + sb->vcpus > ex->cfg.capacity_vcpus + 1 ||
                               used_mem + sb->memory_mb > ex->cfg.capacity_memory_mb + 512))
                code = RPC_RESOURCE_EXHAUSTED;
        if (code == RPC_OK)
                ex->sandboxes[ex->n_sandboxes++] = sb;
        pthread_mutex_unlock(&ex->lock);
        if (code != RPC_OK) {
                sandbox_free(sb);
                if (code == RPC_ALREADY_EXISTS)
                        return rpc_call_fail(call, code, "a sandbox named %s already exists on this executor", name);
                if (code == RPC_UNAVAILABLE)
                        return rpc_call_fail(call, code, "executor %s is draining (Drain): no new sandboxes; "
                                             "place %s on another executor", ex->node.id, name);
                return rpc_call_fail(call, code, "no capacity for %s: %u of %u vCPUs and %" PRIu64 " of %" PRIu64
                                     " MB in use", name, used_vcpus, ex->cfg.capacity_vcpus, used_mem,
                                     ex->cfg.capacity_memory_mb);
        }
        svc_phases_mark(ph, "check");
        int ar = audit_emit(ex, call, "sandbox_created", "create", AK__V1__EVENT_OUTCOME__EVENT_OUTCOME_PERMIT, name,
                            NULL);
        svc_phases_mark(ph, "audit_created");
        if (ar < 0) {
                /* Not booted without its event: the sandbox stays, in ERROR, to be removed. */
                pthread_mutex_lock(&ex->lock);
                sb->state = AK__V1__SANDBOX_STATE__SANDBOX_STATE_ERROR;
                snprintf(sb->error, sizeof(sb->error), "not started: its audit event could not be stored");
                pthread_mutex_unlock(&ex->lock);
                *ret = sb;
                return audit_refuse(ex, call, ar);
        }
        if ((r = boot_sandbox(ex, sb, true, ph, &err)) < 0) {
                pthread_mutex_lock(&ex->lock);
                sb->state = AK__V1__SANDBOX_STATE__SANDBOX_STATE_ERROR;
                snprintf(sb->error, sizeof(sb->error), "%.500s", err.msg);
                pthread_mutex_unlock(&ex->lock);
                audit_emit(ex, call, "sandbox_error", "start", AK__V1__EVENT_OUTCOME__EVENT_OUTCOME_ERROR, name, NULL);
                *ret = sb;
                return rpc_call_fail(call, RPC_UNAVAILABLE, "sandbox %s: boot failed: %s", name, err.msg);
        }
        ar = audit_emit(ex, call, "sandbox_started", "start", AK__V1__EVENT_OUTCOME__EVENT_OUTCOME_PERMIT, name, NULL);
        svc_phases_mark(ph, "audit_started");
        *ret = sb;
        return ar < 0 ? audit_refuse(ex, call, ar) : RPC_OK;
}

/* Takes the VM away from sb (under the lock) and disposes of it outside. */
static void stop_vm(struct executor *ex, struct sandbox *sb, Ak__V1__SandboxState state, bool later)
{
        char dir[PATH_MAX];
        struct disposal *d = later ? calloc(1, sizeof(*d)) : NULL;
        pthread_mutex_lock(&ex->lock);
        struct vmbox *box = sb->box;
        sb->box = NULL;
        sb->test_guest = false;
        sb->state = state;
        snprintf(dir, sizeof(dir), "%s", sb->vmdir);
        bool orphan = sb->orphan_dir;
        sb->orphan_dir = false;
        guest_call_cancel_locked(ex, sb);
        if (box && d) {
                d->box = TAKE_PTR(box);
                snprintf(d->dir, sizeof(d->dir), "%s", dir);
                d->next = ex->disposals;
                ex->disposals = TAKE_PTR(d);
                pthread_cond_broadcast(&ex->cond);
        }
        pthread_mutex_unlock(&ex->lock);
        free(d);
        if (box || orphan)
                evm_dispose(ex, box, dir);
}

void lifecycle_dispose_queued(struct executor *ex)
{
        pthread_mutex_lock(&ex->lock);
        while (ex->disposals) {
                struct disposal *d = ex->disposals;
                ex->disposals = d->next;
                pthread_mutex_unlock(&ex->lock);
                evm_dispose(ex, d->box, d->dir);
                free(d);
                pthread_mutex_lock(&ex->lock);
        }
        pthread_mutex_unlock(&ex->lock);
}

int lifecycle_remove(struct executor *ex, const char *name, struct rpc_call *call, bool later)
{
        struct sandbox *sb = NULL;
        pthread_mutex_lock(&ex->lock);
        for (size_t i = 0; i < ex->n_sandboxes; i++)
                if (strcmp(ex->sandboxes[i]->name, name) == 0) {
                        sb = ex->sandboxes[i];
                        ex->sandboxes[i] = ex->sandboxes[--ex->n_sandboxes];
                        sb->removed = true;
                        break;
                }
        pthread_mutex_unlock(&ex->lock);
        if (!sb)
                return -ENOENT;
        bool had_vm = sb->box != NULL;
        stop_vm(ex, sb, AK__V1__SANDBOX_STATE__SANDBOX_STATE_STOPPED, later);
        int ar = 0;
        if (had_vm)
                ar = audit_emit_tenant(ex, call, sb->tenant, "sandbox_stopped", "stop",
                                       AK__V1__EVENT_OUTCOME__EVENT_OUTCOME_PERMIT, name, NULL);
        adopt_forget_stopped(ex, sb->name);
        int ar2 = audit_emit_tenant(ex, call, sb->tenant, "sandbox_removed", "remove",
                                    AK__V1__EVENT_OUTCOME__EVENT_OUTCOME_PERMIT, name, NULL);
        sandbox_put(ex, sb);
        return ar < 0 ? ar : ar2 < 0 ? ar2 : 0;
}

/* ---- RPC handlers of the lifecycle ---- */

static int reply_sandbox(struct executor *ex, struct rpc_call *call, struct sandbox *sb)
{
        pthread_mutex_lock(&ex->lock);
        Ak__V1__Sandbox *m = sandbox_to_proto(ex, sb);
        pthread_mutex_unlock(&ex->lock);
        if (!m)
                return rpc_call_fail(call, RPC_RESOURCE_EXHAUSTED, "out of memory");
        rpc_call_reply(call, &m->base);
        sandbox_proto_free(m);
        return RPC_OK;
}

int lifecycle_handle_create(struct rpc_call *call, const ProtobufCMessage *msg, void *ud)
{
        struct executor *ex = ud;
        const Ak__V1__CreateSandboxRequest *req = (const void *)msg;
        struct sandbox *sb = NULL;
        struct svc_phases ph;
        svc_phases_start(&ph, "create");
        int code = lifecycle_create(ex, req->spec, call, &ph, &sb);
        if (code == RPC_OK)
                code = reply_sandbox(ex, call, sb);
        sandbox_put(ex, sb);
        svc_phases_mark(&ph, "reply");
        exmetrics_phases(&ph);
        return code;
}

int lifecycle_handle_start(struct rpc_call *call, const ProtobufCMessage *msg, void *ud)
{
        struct executor *ex = ud;
        const Ak__V1__StartSandboxRequest *req = (const void *)msg;
        struct ak_error err = { 0 };
        struct sandbox *sb = sandbox_get(ex, req->name ? req->name : "");
        if (!sb)
                return rpc_call_fail(call, RPC_NOT_FOUND, "no sandbox named %s", req->name);
        pthread_mutex_lock(&ex->lock);
        bool need = !sb->box && sb->state != AK__V1__SANDBOX_STATE__SANDBOX_STATE_CREATING;
        if (need)
                sb->state = AK__V1__SANDBOX_STATE__SANDBOX_STATE_CREATING;
        pthread_mutex_unlock(&ex->lock);
        int code = RPC_OK;
        if (need) {
                if (boot_sandbox(ex, sb, false, NULL, &err) < 0) {
                        pthread_mutex_lock(&ex->lock);
                        sb->state = AK__V1__SANDBOX_STATE__SANDBOX_STATE_ERROR;
                        snprintf(sb->error, sizeof(sb->error), "%.500s", err.msg);
                        pthread_mutex_unlock(&ex->lock);
                        audit_emit(ex, call, "sandbox_error", "start", AK__V1__EVENT_OUTCOME__EVENT_OUTCOME_ERROR,
                                   sb->name, NULL);
                        code = rpc_call_fail(call, RPC_UNAVAILABLE, "sandbox %s: boot failed: %s", sb->name, err.msg);
                } else {
                        int ar = audit_emit(ex, call, "sandbox_started", "start",
                                            AK__V1__EVENT_OUTCOME__EVENT_OUTCOME_PERMIT, sb->name, NULL);
                        if (ar < 0)
                                code = audit_refuse(ex, call, ar);
                }
        }
        if (code == RPC_OK)
                code = reply_sandbox(ex, call, sb);
        sandbox_put(ex, sb);
        return code;
}

int lifecycle_handle_stop(struct rpc_call *call, const ProtobufCMessage *msg, void *ud)
{
        struct executor *ex = ud;
        const Ak__V1__StopSandboxRequest *req = (const void *)msg;
        struct sandbox *sb = sandbox_get(ex, req->name ? req->name : "");
        if (!sb)
                return rpc_call_fail(call, RPC_NOT_FOUND, "no sandbox named %s", req->name);
        bool had_vm = sb->box != NULL;
        stop_vm(ex, sb, AK__V1__SANDBOX_STATE__SANDBOX_STATE_STOPPED, false);
        /* Not kept across a restart without it, but it is stopped. */
        adopt_record_stopped(ex, sb, NULL);
        int ar = had_vm ? audit_emit(ex, call, "sandbox_stopped", "stop", AK__V1__EVENT_OUTCOME__EVENT_OUTCOME_PERMIT,
                                     sb->name, NULL)
                        : 0;
        int code = ar < 0 ? audit_refuse(ex, call, ar) : reply_sandbox(ex, call, sb);
        sandbox_put(ex, sb);
        return code;
}

#define EXTEND_MAX_S (30u * 86400)

int lifecycle_handle_extend(struct rpc_call *call, const ProtobufCMessage *msg, void *ud)
{
        struct executor *ex = ud;
        const Ak__V1__ExtendSandboxRequest *req = (const void *)msg;
        if (req->by_seconds == 0 || req->by_seconds > EXTEND_MAX_S)
                return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "by_seconds %u: want 1 to %u (30 days)",
                                     req->by_seconds, EXTEND_MAX_S);
        struct sandbox *sb = sandbox_get(ex, req->name ? req->name : "");
        if (!sb)
                return rpc_call_fail(call, RPC_NOT_FOUND, "no sandbox named %s", req->name);
        pthread_mutex_lock(&ex->lock);
        int64_t now = ak_real_ms();
        int64_t base = sb->expires_at_ms > now ? sb->expires_at_ms : now;
        int64_t next = base + (int64_t)req->by_seconds * 1000;
        bool too_far = next - now > (int64_t)EXTEND_MAX_S * 1000;
        if (!too_far)
                sb->expires_at_ms = next;
        pthread_mutex_unlock(&ex->lock);
        if (!too_far)
                adopt_record_sandbox(ex, sb, NULL);
        int code = too_far ? rpc_call_fail(call, RPC_INVALID_ARGUMENT,
                                           "sandbox %s: extending by %u s would expire it %lld s from now; "
                                           "at most 30 days",
                                           sb->name, req->by_seconds, (long long)((next - now) / 1000))
                           : reply_sandbox(ex, call, sb);
        sandbox_put(ex, sb);
        return code;
}

int lifecycle_handle_remove(struct rpc_call *call, const ProtobufCMessage *msg, void *ud)
{
        const Ak__V1__RemoveSandboxRequest *req = (const void *)msg;
        int r = lifecycle_remove(ud, req->name ? req->name : "", call, false);
        if (r == -ENOENT)
                return rpc_call_fail(call, RPC_NOT_FOUND, "no sandbox named %s", req->name);
        if (r < 0) /* removed, but its event was not stored: not acknowledged */
                return audit_refuse(ud, call, r);
        Ak__V1__RemoveSandboxResponse resp = AK__V1__REMOVE_SANDBOX_RESPONSE__INIT;
        rpc_call_reply(call, &resp.base);
        return RPC_OK;
}

/* A create that waits on a pull has no sandbox yet: it is CREATING, and
 * the reply says how far the pull is. RPC_NOT_FOUND when no create of
 * `name` waits. */
static int reply_waiting(struct executor *ex, struct rpc_call *call, const char *name)
{
        struct image_pull_status st;
        char tenant[64]; /* as struct sandbox's */
        if (pulls_waiting(ex, name, &st, tenant, sizeof(tenant)) < 0)
                return rpc_call_fail(call, RPC_NOT_FOUND, "no sandbox named %s", name);
        Ak__V1__ImagePull pull = AK__V1__IMAGE_PULL__INIT;
        Ak__V1__SandboxSpec spec = AK__V1__SANDBOX_SPEC__INIT;
        Ak__V1__Sandbox m = AK__V1__SANDBOX__INIT;
        pull.image = st.ref;
        pull.state = (char *)st.state;
        pull.bytes_done = st.bytes_done;
        pull.bytes_total = st.bytes_total;
        pull.error = st.error;
        spec.name = (char *)name;
        spec.image = st.ref;
        spec.tenant = *tenant ? tenant : "default";
        m.spec = &spec;
        m.state = AK__V1__SANDBOX_STATE__SANDBOX_STATE_CREATING;
        m.executor_id = ex->node.id;
        m.backend = ex->node.backend;
        m.image_pull = &pull;
        rpc_call_reply(call, &m.base);
        return RPC_OK;
}

int lifecycle_handle_get(struct rpc_call *call, const ProtobufCMessage *msg, void *ud)
{
        const Ak__V1__GetSandboxRequest *req = (const void *)msg;
        struct sandbox *sb = sandbox_get(ud, req->name ? req->name : "");
        if (!sb)
                return reply_waiting(ud, call, req->name ? req->name : "");
        int code = reply_sandbox(ud, call, sb);
        sandbox_put(ud, sb);
        return code;
}

static bool labels_match(const struct sandbox *sb, const Ak__V1__ListSandboxesRequest *req)
{
        for (size_t i = 0; i < req->n_label_selector; i++) {
                bool ok = false;
                for (size_t j = 0; j < sb->n_labels && !ok; j++)
                        ok = strcmp(sb->label_keys[j], req->label_selector[i]->key) == 0 &&
                             strcmp(sb->label_values[j], req->label_selector[i]->value) == 0;
                if (!ok)
                        return false;
        }
        return true;
}

int lifecycle_handle_list(struct rpc_call *call, const ProtobufCMessage *msg, void *ud)
{
        struct executor *ex = ud;
        const Ak__V1__ListSandboxesRequest *req = (const void *)msg;
        Ak__V1__ListSandboxesResponse resp = AK__V1__LIST_SANDBOXES_RESPONSE__INIT;
        pthread_mutex_lock(&ex->lock);
        resp.sandboxes = calloc(ex->n_sandboxes + 1, sizeof(*resp.sandboxes));
        for (size_t i = 0; resp.sandboxes && i < ex->n_sandboxes; i++)
                if (labels_match(ex->sandboxes[i], req)) {
                        Ak__V1__Sandbox *m = sandbox_to_proto(ex, ex->sandboxes[i]);
                        if (m)
                                resp.sandboxes[resp.n_sandboxes++] = m;
                }
        pthread_mutex_unlock(&ex->lock);
        rpc_call_reply(call, &resp.base);
        for (size_t i = 0; i < resp.n_sandboxes; i++)
                sandbox_proto_free(resp.sandboxes[i]);
        free(resp.sandboxes);
        return RPC_OK;
}

