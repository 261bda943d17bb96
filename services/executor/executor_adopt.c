/* Records of sandboxes and pool VMs, and taking them back on start. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/base/cleanup.h"
#include "lib/base/fs.h"
#include "lib/base/io.h"
#include "lib/base/pathfmt.h"
#include "lib/receipt/receipt.h"
#include "lib/svc/log.h"
#include "services/executor/cgroup.h"
#include "services/executor/executor_adopt.h"
#include "services/executor/executor_hooks.h"
#include "services/executor/executor_images.h"
#include "services/executor/executor_netaudit.h"
#include "services/executor/executor_pool.h"
#include "services/executor/executor_sandbox.h"
#include "services/executor/executor_secrets.h"
#include "services/executor/executor_state.h"
#include "services/executor/executor_vm.h"
#include "services/executor/sandbox_record.h"
#include "vmm/net/domain.h"
#include "vmm/vmbox.h"

_Static_assert(sizeof(((struct sb_record *)0)->image) >= IMAGE_REF_MAX, "record image size");
_Static_assert(sizeof(((struct sb_record *)0)->name) > SANDBOX_NAME_MAX, "record name size");
_Static_assert(SB_RECORD_MAX_SECRETS >= INJECT_SECRETS_MAX && SB_RECORD_BINDING_MAX >= SECRETS_BINDING_MAX &&
               SB_RECORD_PLACEHOLDER_MAX >= INJECT_PLACEHOLDER_LEN, "record secrets size");
_Static_assert(SB_RECORD_MAX_HOOKS >= HOOKS_MAX, "record hooks size");

/* A sandbox's CA (certificate and private key, 0600) in its VM directory,
 * beside its record: the guest trusts that CA alone, so the next executor
 * must serve its secrets' hosts with it (secret_set_restore). The VM
 * directory is not in QEMU's jail, and goes with the sandbox. */
#define SECRETS_CA_FILE "secrets-ca.pem"

/* How long a recorded guest gets to answer its first ping. */
#define ADOPT_PING_MS 2000

/* The records of stopped sandboxes: state_dir/stopped/<name>.json. */
#define STOPPED_DIR "stopped"

/* Written to a temporary file and renamed over the old one: a reader
 * (the next executor) sees the old record or the new one, never a part.
 * `durable` adds an fsync before the rename, for records that must outlive
 * the host: a stopped sandbox's (it has no VM and comes back after a
 * reboot). A record in a VM's directory describes a running QEMU, which a
 * host crash or reboot takes with it, and the next executor adopts only
 * VMs whose processes still run: rename alone makes it visible to every
 * later process, so it is not synced (that fsync was ~7 ms of every `ak
 * run`'s critical path on ext4 here). */
static int write_record_as(const char *dir, const char *file, const struct sb_record *r, bool durable,
                           struct ak_error *err)
{
        char path[PATH_MAX], tmp[PATH_MAX], *text = NULL;
        size_t len;
        int rc = sb_record_format(r, &text, &len);
        if (rc < 0)
                return ak_error_errno(err, rc, "sandbox record of %s", dir);
        if (pathfmt(path, sizeof(path), "%s/%s", dir, file) < 0 ||
            pathfmt(tmp, sizeof(tmp), "%s/.%s.tmp", dir, file) < 0) {
                free(text);
                return ak_error_set(err, -ENAMETOOLONG, "path too long: %s", dir);
        }
        _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0) {
                rc = ak_error_errno(err, -errno, "create %s", tmp);
                free(text);
                return rc;
        }
        rc = ak_write_full(fd, text, len);
        free(text);
        if (rc < 0 || (durable && fsync(fd) < 0) || rename(tmp, path) < 0) {
                rc = rc < 0 ? rc : -errno;
                unlink(tmp);
                return ak_error_errno(err, rc, "write %s", path);
        }
        return 0;
}

static int write_record(const char *dir, const struct sb_record *r, struct ak_error *err)
{
        return write_record_as(dir, SB_RECORD_FILE, r, false, err);
}

/* sb's record (borrowing its maps and lists: no sb_record_clear). */
static void record_of(struct sandbox *sb, struct sb_record *ret)
{
        struct sb_record *r = ret;
        memset(r, 0, sizeof(*r));
        snprintf(r->name, sizeof(r->name), "%s", sb->name);
        snprintf(r->uuid, sizeof(r->uuid), "%s", sb->uuid);
        snprintf(r->image, sizeof(r->image), "%s", sb->image);
        snprintf(r->tenant, sizeof(r->tenant), "%s", sb->tenant);
        snprintf(r->profile, sizeof(r->profile), "%s", sb->profile->name);
        r->vcpus = sb->vcpus;
        r->memory_mb = sb->memory_mb;
        r->network = sb->network;
        r->network_req = sb->network_req;
        r->persistent = sb->persistent;
        r->from_pool = sb->from_pool;
        r->ttl_seconds = sb->ttl_seconds;
        r->created_at_ms = sb->created_at_ms;
        r->env_keys = sb->env_keys;
        r->env_values = sb->env_values;
        r->n_env = sb->n_env;
        r->label_keys = sb->label_keys;
        r->label_values = sb->label_values;
        r->n_labels = sb->n_labels;
        /* The record only borrows them (sb_record_clear is not called). */
        r->egress[SB_EGRESS_ALLOW] = (char **)sb->egress_allow_p;
        r->n_egress[SB_EGRESS_ALLOW] = sb->egress.n_allow;
        r->egress[SB_EGRESS_DENY] = (char **)sb->egress_deny_p;
        r->n_egress[SB_EGRESS_DENY] = sb->egress.n_deny;
        r->egress[SB_EGRESS_ALLOW_NAMES] = (char **)sb->egress_allow_names_p;
        r->n_egress[SB_EGRESS_ALLOW_NAMES] = sb->egress.n_allow_names;
        r->egress[SB_EGRESS_DENY_NAMES] = (char **)sb->egress_deny_names_p;
        r->n_egress[SB_EGRESS_DENY_NAMES] = sb->egress.n_deny_names;
        memcpy(r->egress_ports, sb->egress_ports, sb->egress.n_ports * sizeof(r->egress_ports[0]));
        r->n_egress_ports = sb->egress.n_ports;
        r->secrets = sb->n_secrets > 0;
        /* Names, hosts and placeholders; the values stay in the vault. */
        for (size_t i = 0; sb->secrets && i < sb->n_secrets; i++) {
                snprintf(r->secret[i].binding, sizeof(r->secret[i].binding), "%s", sb->secret_specs[i]);
                snprintf(r->secret[i].placeholder, sizeof(r->secret[i].placeholder), "%s",
                         secret_set_placeholder(sb->secrets, i));
                r->n_secrets = i + 1;
        }
        r->n_hooks = hooks_record(sb->hooks, r->hooks, SB_RECORD_MAX_HOOKS);
}

/* sb's CA into dir (once: it never changes while the sandbox lives). */
static int save_ca(struct sandbox *sb, const char *dir, struct ak_error *err)
{
        char path[PATH_MAX];
        if (!sb->secrets)
                return 0;
        if (pathfmt(path, sizeof(path), "%s/" SECRETS_CA_FILE, dir) < 0)
                return ak_error_set(err, -ENAMETOOLONG, "path too long: %s", dir);
        if (access(path, F_OK) == 0)
                return 0;
        return secret_set_save_ca(sb->secrets, path, err);
}

int adopt_record_sandbox(struct executor *ex, struct sandbox *sb, struct ak_error *err)
{
        struct sb_record r;
        char dir[PATH_MAX];
        int rc;
        record_of(sb, &r);
        pthread_mutex_lock(&ex->lock);
        snprintf(dir, sizeof(dir), "%s", sb->vmdir);
        r.expires_at_ms = sb->expires_at_ms;
        bool has_vm = sb->box != NULL && !sb->removed;
        if (sb->box)
                snprintf(r.net_ifname, sizeof(r.net_ifname), "%s", vmbox_net_ifname(sb->box));
        pthread_mutex_unlock(&ex->lock);
        if (!has_vm || !dir[0])
                return 0;
        /* The CA before the record: a record with secrets has its CA. */
        if ((rc = save_ca(sb, dir, err)) < 0)
                return rc;
        return write_record(dir, &r, err);
}

int adopt_record_stopped(struct executor *ex, struct sandbox *sb, struct ak_error *err)
{
        struct sb_record r;
        char dir[PATH_MAX], file[SANDBOX_NAME_MAX + 8];
        record_of(sb, &r);
        pthread_mutex_lock(&ex->lock);
        r.expires_at_ms = sb->expires_at_ms;
        bool stopped = !sb->box && !sb->removed && sb->state == AK__V1__SANDBOX_STATE__SANDBOX_STATE_STOPPED;
        pthread_mutex_unlock(&ex->lock);
        if (!stopped || !sb->persistent)
                return 0;
        if (pathfmt(dir, sizeof(dir), "%s/" STOPPED_DIR, ex->state_dir) < 0)
                return ak_error_set(err, -ENAMETOOLONG, "path too long: %s", ex->state_dir);
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                return ak_error_errno(err, -errno, "mkdir %s", dir);
        snprintf(file, sizeof(file), "%s.json", sb->name);
        return write_record_as(dir, file, &r, true, err);
}

void adopt_forget_stopped(struct executor *ex, const char *name)
{
        char path[PATH_MAX];
        if (pathfmt(path, sizeof(path), "%s/" STOPPED_DIR "/%s.json", ex->state_dir, name) == 0)
                unlink(path);
}

int adopt_record_pool(const char *dir, const char *image, const char *profile, const char *net_ifname,
                      struct ak_error *err)
{
        struct sb_record r = { .pool = true };
        snprintf(r.image, sizeof(r.image), "%s", image);
        snprintf(r.profile, sizeof(r.profile), "%s", profile);
        snprintf(r.net_ifname, sizeof(r.net_ifname), "%s", net_ifname ? net_ifname : "");
        return write_record(dir, &r, err);
}

static int read_record_at(const char *path, struct sb_record *ret, struct ak_error *err)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return ak_error_errno(err, -errno, "open %s", path);
        struct stat st;
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > SB_RECORD_MAX_BYTES)
                return ak_error_set(err, -EINVAL, "%s: not a regular file of at most %zu bytes", path,
                                    SB_RECORD_MAX_BYTES);
        _cleanup_free_ char *text = malloc((size_t)st.st_size + 1);
        if (!text)
                return ak_error_set(err, -ENOMEM, "out of memory");
        ssize_t n = ak_read_full(fd, text, (size_t)st.st_size);
        if (n < 0)
                return ak_error_errno(err, (int)n, "read %s", path);
        int r = sb_record_parse(text, (size_t)n, ret, err);
        return r < 0 ? ak_error_wrap(err, "%s", path) : 0;
}

static int read_record(const char *dir, struct sb_record *ret, struct ak_error *err)
{
        char path[PATH_MAX];
        if (pathfmt(path, sizeof(path), "%s/" SB_RECORD_FILE, dir) < 0)
                return ak_error_set(err, -ENAMETOOLONG, "path too long: %s", dir);
        return read_record_at(path, ret, err);
}

/* The VM of dir into the executor's books: in-use mark, its cgroup under
 * --vm-cgroup (a VM booted before that was set moves there now: both its
 * processes), cpu quota. */
static void book_vm(struct executor *ex, struct vmbox *box, const char *dir, const struct profile *p, unsigned vcpus)
{
        images_use_begin(ex, vmbox_image_hash(box), dir, NULL);
        const char *base = strrchr(dir, '/');
        char name[32];
        if (!ex->cgroup || !base)
                return;
        snprintf(name, sizeof(name), "vm%s", base + 1);
        if (cgroup_is_home(ex->cgroup)) {
                cgroup_enter(ex->cgroup, name, vmbox_supervisor_pid(box), NULL);
                cgroup_enter(ex->cgroup, name, vmbox_pid(box), NULL);
        }
        if (cgroup_has_cpu(ex->cgroup) && p->cpu_percent)
                cgroup_limit(ex->cgroup, name, vmbox_pid(box), p->cpu_percent * (vcpus ? vcpus : 1), NULL);
}

static int copy_strv(char **src, size_t n, char ***ret)
{
        char **v = calloc(n + 1, sizeof(char *));
        if (!v)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                if (!(v[i] = strdup(src[i]))) {
                        receipt_strv_free(v, n);
                        return -ENOMEM;
                }
        *ret = v;
        return 0;
}

/* The record's egress policy into sb (as take_egress left it at create),
 * each entry checked again: 0, or -EINVAL with err naming it. */
static int egress_from_record(struct sandbox *sb, const struct sb_record *r, struct ak_error *err)
{
        struct vmm_net_egress *g = &sb->egress;
        *g = (struct vmm_net_egress){ sb->egress_allow_p, 0, sb->egress_deny_p, 0, sb->egress_ports, 0,
                                      sb->egress_allow_names_p, 0, sb->egress_deny_names_p, 0 };
        for (int l = 0; l < SB_EGRESS_LISTS; l++)
                if (r->n_egress[l] > VMM_NET_MAX_EGRESS)
                        return ak_error_set(err, -EINVAL, "egress: more than %d entries", VMM_NET_MAX_EGRESS);
        for (size_t i = 0; i < r->n_egress[SB_EGRESS_ALLOW]; i++) {
                if (vmm_net_cidr_parse(r->egress[SB_EGRESS_ALLOW][i], sb->egress_allow[i], 64, err) < 0)
                        return ak_error_wrap(err, "egress.allow");
                sb->egress_allow_p[g->n_allow++] = sb->egress_allow[i];
        }
        for (size_t i = 0; i < r->n_egress[SB_EGRESS_DENY]; i++) {
                if (vmm_net_cidr_parse(r->egress[SB_EGRESS_DENY][i], sb->egress_deny[i], 64, err) < 0)
                        return ak_error_wrap(err, "egress.deny");
                sb->egress_deny_p[g->n_deny++] = sb->egress_deny[i];
        }
        for (size_t i = 0; i < r->n_egress[SB_EGRESS_ALLOW_NAMES]; i++) {
                if (domain_rule_parse(r->egress[SB_EGRESS_ALLOW_NAMES][i], sb->egress_allow_names[i],
                                      sizeof(sb->egress_allow_names[i]), err) < 0)
                        return ak_error_wrap(err, "egress.allow");
                sb->egress_allow_names_p[g->n_allow_names++] = sb->egress_allow_names[i];
        }
        for (size_t i = 0; i < r->n_egress[SB_EGRESS_DENY_NAMES]; i++) {
                if (domain_rule_parse(r->egress[SB_EGRESS_DENY_NAMES][i], sb->egress_deny_names[i],
                                      sizeof(sb->egress_deny_names[i]), err) < 0)
                        return ak_error_wrap(err, "egress.deny");
                sb->egress_deny_names_p[g->n_deny_names++] = sb->egress_deny_names[i];
        }
        memcpy(sb->egress_ports, r->egress_ports, r->n_egress_ports * sizeof(sb->egress_ports[0]));
        g->n_ports = r->n_egress_ports;
        return 0;
}

static bool has_egress(const struct vmm_net_egress *g)
{
        return g->n_allow || g->n_deny || g->n_ports || g->n_allow_names || g->n_deny_names;
}

/* Takes over the supervised VM in dir, with its network (net_ifname: its
 * host end, egress: its policy, secrets: its secrets' relay, NULL: none)
 * when it has one: the reporter of its denials is filed under the box. */
static int adopt_box(struct executor *ex, const char *dir, bool network, const char *net_ifname,
                     const struct vmm_net_egress *egress, const struct vmm_net_secrets *secrets, struct vmbox **ret,
                     struct ak_error *err)
{
        struct vm_config vc = { 0 };
        struct net_audit *na = network ? net_audit_new(ex) : NULL;
        evm_net_settings(ex, egress, net_audit_reporter(na), &vc);
        vc.net_secrets = secrets;
        int r = vmbox_adopt(dir, ADOPT_PING_MS, &vc, net_ifname, ret, err);
        if (r < 0) {
                net_audit_release(ex, na, NULL);
                return r;
        }
        net_audit_attach(ex, na, *ret);
        return 0;
}

static struct sandbox *sandbox_from_record(const struct sb_record *r, const struct profile *p)
{
        struct sandbox *sb = calloc(1, sizeof(*sb));
        if (!sb)
                return NULL;
        snprintf(sb->name, sizeof(sb->name), "%s", r->name);
        snprintf(sb->uuid, sizeof(sb->uuid), "%s", r->uuid);
        snprintf(sb->image, sizeof(sb->image), "%s", r->image);
        snprintf(sb->tenant, sizeof(sb->tenant), "%s", r->tenant);
        sb->profile = p ? p : profile_find("");
        sb->vcpus = r->vcpus;
        sb->memory_mb = r->memory_mb;
        sb->network = r->network;
        sb->network_req = r->network_req;
        sb->persistent = r->persistent;
        sb->from_pool = r->from_pool;
        sb->ttl_seconds = r->ttl_seconds;
        sb->created_at_ms = r->created_at_ms;
        sb->expires_at_ms = r->expires_at_ms;
        sb->refs = 1; /* the table's */
        if (copy_strv(r->env_keys, r->n_env, &sb->env_keys) < 0 ||
            copy_strv(r->env_values, r->n_env, &sb->env_values) < 0 ||
            copy_strv(r->label_keys, r->n_labels, &sb->label_keys) < 0 ||
            copy_strv(r->label_values, r->n_labels, &sb->label_values) < 0) {
                sandbox_free(sb);
                return NULL;
        }
        sb->n_env = r->n_env;
        sb->n_labels = r->n_labels;
        return sb;
}

/* The record's secrets and proxy hooks into sb: the placeholders the
 * guest holds, the CA it trusts (dir's SECRETS_CA_FILE; dir NULL: a fresh
 * one, for a stopped sandbox's next boot), values from the vault. 0 or
 * -errno with err saying what could not be restored. */
static int restore_secrets(struct executor *ex, struct sandbox *sb, const struct sb_record *r, const char *dir,
                           struct ak_error *err)
{
        char ca[PATH_MAX];
        int rc;
        if (r->secrets && r->n_secrets == 0)
                return ak_error_set(err, -EOPNOTSUPP, "its secrets (SandboxSpec.secrets) were recorded by an older "
                                    "executor without their placeholders: remove it and create it again");
        if (dir && pathfmt(ca, sizeof(ca), "%s/" SECRETS_CA_FILE, dir) < 0)
                return ak_error_set(err, -ENAMETOOLONG, "path too long: %s", dir);
        if (r->secrets && (rc = secrets_restore(ex, sb, r, dir ? ca : NULL, err)) < 0)
                return ak_error_wrap(err, "its secrets could not be restored"), rc;
        if ((rc = hooks_restore(ex, sb, r->hooks, r->n_hooks, err)) < 0)
                return ak_error_wrap(err, "its proxy hooks could not be restored"), rc;
        sb->net_secrets = (struct vmm_net_secrets){ .set = sb->secrets,
                                                    .upstream_roots = ex->cfg.secrets_upstream_ca,
                                                    .on_request = sb->hooks ? hooks_on_request : NULL,
                                                    .ctx = sb->hooks };
        return 0;
}

/* sb into the table unless its name is there already or the table is
 * full (adoption runs on several threads): whether it went in. */
static bool table_add(struct executor *ex, struct sandbox *sb)
{
        bool ok = true;
        pthread_mutex_lock(&ex->lock);
        for (size_t i = 0; ok && i < ex->n_sandboxes; i++)
                ok = strcmp(ex->sandboxes[i]->name, sb->name) != 0;
        ok = ok && ex->n_sandboxes < EXECUTOR_MAX_SANDBOXES;
        if (ok)
                ex->sandboxes[ex->n_sandboxes++] = sb;
        pthread_mutex_unlock(&ex->lock);
        return ok;
}

/* A sandbox's record: back into the table, RUNNING or ERROR. Called on
 * several threads at once (adopt_all). */
static void adopt_sandbox(struct executor *ex, const char *dir, const struct sb_record *r)
{
        struct ak_error err = { 0 };
        const struct profile *p = profile_find(r->profile);
        struct sandbox *other = sandbox_get(ex, r->name);
        bool dup = other != NULL;
        sandbox_put(ex, other);
        pthread_mutex_lock(&ex->lock);
        bool full = ex->n_sandboxes >= EXECUTOR_MAX_SANDBOXES;
        pthread_mutex_unlock(&ex->lock);
        if (dup || full || sandbox_name_check(r->name) < 0) {
                struct vmbox *box = NULL;
                if (vmbox_adopt(dir, ADOPT_PING_MS, NULL, NULL, &box, NULL) == 0)
                        vmbox_free(box, 2000);
                ak_rm_rf(dir);
                return;
        }
        struct sandbox *sb = sandbox_from_record(r, p);
        if (!sb)
                return;
        struct vmbox *box = NULL;
        int rc = !p ? ak_error_set(&err, -EINVAL, "unknown profile %s", r->profile) : 0;
        if (rc == 0 && (rc = egress_from_record(sb, r, &err)) < 0)
                ak_error_wrap(&err, "its record");
        if (rc == 0)
                rc = restore_secrets(ex, sb, r, dir, &err);
        if (rc == 0)
                rc = adopt_box(ex, dir, r->network, r->net_ifname, has_egress(&sb->egress) ? &sb->egress : NULL,
                               sb->secrets || sb->hooks ? &sb->net_secrets : NULL, &box, &err);
        else if (vmbox_adopt(dir, ADOPT_PING_MS, NULL, NULL, &box, NULL) == 0)
                vmbox_free(box, 2000); /* a VM we cannot serve as it was: stopped */
        snprintf(sb->vmdir, sizeof(sb->vmdir), "%s", dir);
        if (rc == 0) {
                net_audit_assign(ex, box, sb->name, sb->tenant);
                book_vm(ex, box, dir, sb->profile, sb->vcpus);
                sb->box = box;
                snprintf(sb->uds, sizeof(sb->uds), "%s", vmbox_uds(box));
                sb->state = AK__V1__SANDBOX_STATE__SANDBOX_STATE_RUNNING;
        } else {
                sb->orphan_dir = true;
                sb->state = AK__V1__SANDBOX_STATE__SANDBOX_STATE_ERROR;
                snprintf(sb->error, sizeof(sb->error), "lost in an executor restart: %.440s",
                         rc == -ENOENT ? "its VM ran inside the previous executor process (an executor without "
                                         "--vm-supervisors, or a backend other than QEMU) and stopped with it"
                                       : err.msg);
        }
        SVC_LOG(rc == 0 ? SVC_LOG_INFO : SVC_LOG_ERROR, "sandbox adopted", SVC_LOG_S("sandbox", sb->name),
                SVC_LOG_S("tenant", sb->tenant), SVC_LOG_S("state", rc == 0 ? "running" : "error"),
                SVC_LOG_S("error", sb->error));
        if (!table_add(ex, sb)) {
                /* Another worker took the name (or the last place) meanwhile. */
                SVC_LOG(SVC_LOG_WARN, "adopted sandbox dropped: its name or the last place was taken meanwhile",
                        SVC_LOG_S("sandbox", sb->name));
                if (sb->box)
                        evm_dispose(ex, sb->box, dir);
                else
                        ak_rm_rf(dir);
                sb->box = NULL;
                sandbox_free(sb);
        }
}

/* A pool VM's record: back into its pool if it is still configured and
 * has room, else stopped. Called on several threads at once. */
static void adopt_pool_vm(struct executor *ex, const char *dir, const struct sb_record *r)
{
        struct vmbox *box = NULL;
        struct pool *pool = NULL;
        if (adopt_box(ex, dir, r->net_ifname[0] != 0, r->net_ifname, NULL, NULL, &box, NULL) < 0) {
                ak_rm_rf(dir);
                return;
        }
        pthread_mutex_lock(&ex->lock);
        for (size_t i = 0; i < ex->n_pools && !pool; i++)
                if (strcmp(ex->pools[i].image, r->image) == 0 && strcmp(ex->pools[i].profile->name, r->profile) == 0 &&
                    ex->pools[i].n_ready < ex->cfg.pool_max_warm)
                        pool = &ex->pools[i];
        if (pool) {
                struct pool_vm *pv = &pool->ready[pool->n_ready++];
                pv->box = box;
                snprintf(pv->dir, sizeof(pv->dir), "%s", dir);
        }
        pthread_mutex_unlock(&ex->lock);
        if (!pool) {
                vmbox_free(box, 2000);
                net_audit_release(ex, NULL, box);
                ak_rm_rf(dir);
                return;
        }
        book_vm(ex, box, dir, pool->profile, 1);
        SVC_LOG(SVC_LOG_INFO, "pool vm adopted", SVC_LOG_S("image", r->image), SVC_LOG_S("profile", r->profile));
}

static void adopt_dir(struct executor *ex, const char *dir)
{
        struct sb_record r;
        struct vmbox *box = NULL;
        if (read_record(dir, &r, NULL) < 0) {
                /* A VM without a record (killed while it booted): stopped. */
                if (vmbox_adopt(dir, ADOPT_PING_MS, NULL, NULL, &box, NULL) == 0)
                        vmbox_free(box, 2000);
                ak_rm_rf(dir);
                return;
        }
        if (r.pool)
                adopt_pool_vm(ex, dir, &r);
        else
                adopt_sandbox(ex, dir, &r);
        sb_record_clear(&r);
}

/* A stopped sandbox's record (path): back into the table, STOPPED, to be
 * started or removed; a damaged one, a duplicate name or no room: dropped. */
static void adopt_stopped(struct executor *ex, const char *path)
{
        struct sb_record r;
        struct ak_error err = { 0 };
        if (read_record_at(path, &r, NULL) < 0) {
                unlink(path);
                return;
        }
        const struct profile *p = profile_find(r.profile);
        struct sandbox *other = sandbox_get(ex, r.name);
        bool dup = other != NULL;
        sandbox_put(ex, other);
        struct sandbox *sb = NULL;
        if (r.pool || !p || dup || ex->n_sandboxes >= EXECUTOR_MAX_SANDBOXES || sandbox_name_check(r.name) < 0 ||
            !(sb = sandbox_from_record(&r, p)) || egress_from_record(sb, &r, &err) < 0) {
                if (sb)
                        sandbox_free(sb);
                unlink(path);
                sb_record_clear(&r);
                return;
        }
        sb->state = AK__V1__SANDBOX_STATE__SANDBOX_STATE_STOPPED;
        /* Its next boot installs the (fresh) CA; the placeholders stay. */
        if (restore_secrets(ex, sb, &r, NULL, &err) < 0) {
                sb->state = AK__V1__SANDBOX_STATE__SANDBOX_STATE_ERROR;
                snprintf(sb->error, sizeof(sb->error), "lost in an executor restart: %.440s", err.msg);
        }
        sb_record_clear(&r);
        SVC_LOG(sb->error[0] ? SVC_LOG_ERROR : SVC_LOG_INFO, "sandbox adopted", SVC_LOG_S("sandbox", sb->name),
                SVC_LOG_S("tenant", sb->tenant), SVC_LOG_S("state", sb->error[0] ? "error" : "stopped"),
                SVC_LOG_S("error", sb->error));
        pthread_mutex_lock(&ex->lock);
        ex->sandboxes[ex->n_sandboxes++] = sb;
        pthread_mutex_unlock(&ex->lock);
}

static void adopt_all_stopped(struct executor *ex)
{
        char dir[PATH_MAX], path[PATH_MAX];
        if (pathfmt(dir, sizeof(dir), "%s/" STOPPED_DIR, ex->state_dir) < 0)
                return;
        DIR *d = opendir(dir);
        if (!d)
                return;
        struct dirent *e;
        while ((e = readdir(d))) {
                size_t n = strlen(e->d_name);
                if (e->d_name[0] == '.' || n < 6 || strcmp(e->d_name + n - 5, ".json") != 0 ||
                    pathfmt(path, sizeof(path), "%s/%s", dir, e->d_name) < 0)
                        continue;
                adopt_stopped(ex, path);
        }
        closedir(d);
}

/* The VM directories adopt_all takes back, shared by its workers. */
struct adopt_queue {
        struct executor *ex;
        char (*dirs)[PATH_MAX];
        size_t n;
        atomic_size_t next;
};

static void *adopt_worker(void *arg)
{
        struct adopt_queue *q = arg;
        for (size_t i; (i = atomic_fetch_add(&q->next, 1)) < q->n;)
                adopt_dir(q->ex, q->dirs[i]);
        return NULL;
}

/* Each directory on up to cfg.adopt_workers threads (this one among
 * them): a VM's adoption is mostly waiting for its guest's answer, so with
 * many VMs the waits overlap instead of adding up. */
static void adopt_dirs(struct executor *ex, char (*dirs)[PATH_MAX], size_t n)
{
        struct adopt_queue q = { .ex = ex, .dirs = dirs, .n = n };
        pthread_t t[EXECUTOR_ADOPT_WORKERS_MAX - 1];
        size_t started = 0, workers = ex->cfg.adopt_workers ? ex->cfg.adopt_workers : EXECUTOR_ADOPT_WORKERS;
        if (workers > EXECUTOR_ADOPT_WORKERS_MAX)
                workers = EXECUTOR_ADOPT_WORKERS_MAX;
        atomic_init(&q.next, 0);
        while (started + 1 < workers && started + 1 < n &&
               pthread_create(&t[started], NULL, adopt_worker, &q) == 0)
                started++;
        adopt_worker(&q);
        for (size_t i = 0; i < started; i++)
                pthread_join(t[i], NULL);
}

int adopt_all(struct executor *ex, struct ak_error *err)
{
        char v[PATH_MAX], dir[PATH_MAX];
        char (*dirs)[PATH_MAX] = NULL;
        size_t n_dirs = 0, cap = 0;
        uint64_t next = 0;
        pathfmt(v, sizeof(v), "%s/v", ex->state_dir);
        if (mkdir(v, 0700) < 0 && errno != EEXIST)
                return ak_error_errno(err, -errno, "mkdir %s", v);
        DIR *d = opendir(v);
        if (!d)
                return ak_error_errno(err, -errno, "open %s", v);
        struct dirent *e;
        while ((e = readdir(d))) {
                char *end;
                if (e->d_name[0] == '.')
                        continue;
                errno = 0;
                unsigned long long n = strtoull(e->d_name, &end, 10);
                if (pathfmt(dir, sizeof(dir), "%s/%s", v, e->d_name) < 0)
                        continue;
                if (errno || *end || e->d_name[0] < '0' || e->d_name[0] > '9') {
                        ak_rm_rf(dir);
                        continue;
                }
                if (n + 1 > next)
                        next = n + 1;
                if (n_dirs == cap) {
                        size_t ncap = cap ? cap * 2 : 64;
                        void *nd = realloc(dirs, ncap * sizeof(*dirs));
                        if (!nd) {
                                closedir(d);
                                free(dirs);
                                return ak_error_set(err, -ENOMEM, "out of memory listing %s", v);
                        }
                        dirs = nd;
                        cap = ncap;
                }
                memcpy(dirs[n_dirs++], dir, sizeof(dir));
        }
        closedir(d);
        adopt_dirs(ex, dirs, n_dirs);
        free(dirs);
        ex->next_vm = next;
        /* After the VMs: a name with both (a start the last executor did
         * not finish recording) is the running one. */
        adopt_all_stopped(ex);
        return 0;
}

void adopt_release_all(struct executor *ex)
{
        for (;;) {
                pthread_mutex_lock(&ex->lock);
                if (!ex->n_sandboxes) {
                        pthread_mutex_unlock(&ex->lock);
                        return;
                }
                struct sandbox *sb = ex->sandboxes[--ex->n_sandboxes];
                sb->removed = true;
                struct vmbox *box = sb->box;
                sb->box = NULL;
                char dir[PATH_MAX];
                snprintf(dir, sizeof(dir), "%s", sb->vmdir);
                pthread_mutex_unlock(&ex->lock);
                if (box)
                        evm_release(ex, box, dir);
                sandbox_put(ex, sb);
        }
}
