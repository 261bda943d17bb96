/* The names in this node's image store as the scheduler is told them, and
 * the hook where a missing image would be fetched. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/guest/protocol.h"
#include "lib/rpc/rpc.h"
#include "services/executor/executor_images.h"
#include "services/executor/executor_pull.h"
#include "services/executor/executor_state.h"
#include "vmm/image/image.h"
#include "vmm/image/oci_user.h"

static void names_free(char **v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

static int cmp_name(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* `base` (always: built on first use) and every named image, sorted. */
static int names_from_store(struct image_store *s, char ***ret, size_t *ret_n)
{
        struct image_info *v = NULL;
        size_t n = 0;
        int r = image_list(s, &v, &n, NULL);
        if (r < 0)
                return r;
        char **names = calloc(n + 1, sizeof(*names));
        size_t k = 0;
        bool have_base = false;
        if (!names)
                goto oom;
        for (size_t i = 0; i < n; i++) {
                have_base |= strcmp(v[i].name, IMAGE_BASE) == 0;
                if (!(names[k] = strdup(v[i].name)))
                        goto oom;
                k++;
        }
        if (!have_base) {
                if (!(names[k] = strdup(IMAGE_BASE)))
                        goto oom;
                k++;
                qsort(names, k, sizeof(*names), cmp_name);
        }
        free(v);
        *ret = names;
        *ret_n = k;
        return 0;
oom:
        free(v);
        names_free(names, k);
        return -ENOMEM;
}

int images_catalog_open(struct executor *ex, struct ak_error *err)
{
        return image_store_open(ex->images_dir, &ex->catalog.store, err);
}

struct images_use {
        struct images_use *next;
        char dir[PATH_MAX];
        struct image_use *mark;
};

void images_catalog_close(struct executor *ex)
{
        for (struct images_use *u = ex->catalog.uses, *next; u; u = next) {
                next = u->next;
                image_use_end(u->mark);
                free(u);
        }
        ex->catalog.uses = NULL;
        names_free(ex->catalog.names, ex->catalog.n_names);
        ex->catalog.names = NULL;
        ex->catalog.n_names = 0;
        image_store_free(ex->catalog.store);
        ex->catalog.store = NULL;
}

/* Looks at the store again when its names changed. REQUIRES catalog.lock. */
static void refresh_locked(struct executor *ex)
{
        char **names;
        size_t n;

        if (!ex->catalog.store || image_watch_changed(ex->catalog.store, &ex->catalog.watch) <= 0)
                return;
        if (names_from_store(ex->catalog.store, &names, &n) < 0) {
                /* Keep the last good list; look again next time. */
                ex->catalog.watch.valid = false;
                return;
        }
        names_free(ex->catalog.names, ex->catalog.n_names);
        ex->catalog.names = names;
        ex->catalog.n_names = n;
}

int images_report(struct executor *ex, char ***ret, size_t *ret_n)
{
        pthread_mutex_lock(&ex->catalog.lock);
        refresh_locked(ex);
        size_t n = ex->catalog.n_names;
        char **v = calloc(n + 2, sizeof(*v));
        size_t k = 0;
        if (!v)
                goto oom;
        if (n == 0 && !(v[k++] = strdup(IMAGE_BASE)))
                goto oom;
        for (size_t i = 0; i < n; i++)
                if (!(v[k++] = strdup(ex->catalog.names[i])))
                        goto oom;
        pthread_mutex_unlock(&ex->catalog.lock);
        *ret = v;
        *ret_n = k;
        return 0;
oom:
        pthread_mutex_unlock(&ex->catalog.lock);
        names_free(v, k);
        return -ENOMEM;
}

int images_ensure(struct executor *ex, const char *image, const char *sandbox, const char *tenant,
                  struct ak_error *err)
{
        struct image_info info;

        if (strcmp(image, IMAGE_BASE) == 0)
                return 0; /* built on first use */
        pthread_mutex_lock(&ex->catalog.lock);
        int r = image_lookup(ex->catalog.store, image, &info, NULL);
        pthread_mutex_unlock(&ex->catalog.lock);
        if (r == 0)
                return 0;
        /* A reference this node lacks is pulled; a local name is made only
         * by whoever builds it on this node. */
        if (r == -ENOENT && image_key_is_ref(image))
                return pulls_ensure(ex, image, sandbox, tenant, err);
        if (r == -ENOENT)
                return ak_error_set(err, -ENOENT,
                                    "image \"%s\" is not on executor %s: build it on that node with `ak image build "
                                    "%s` (`ak image list` shows the images there)",
                                    image, ex->node.id, image);
        return ak_error_errno(err, r, "image \"%s\" on executor %s", image, ex->node.id);
}

int images_use_begin(struct executor *ex, const char *hash, const char *dir, struct ak_error *err)
{
        struct images_use *u = calloc(1, sizeof(*u));
        char label[IMAGE_USE_LABEL_MAX + 1];
        const char *base = strrchr(dir, '/');
        int r;

        if (!u)
                return ak_error_set(err, -ENOMEM, "out of memory");
        snprintf(u->dir, sizeof(u->dir), "%s", dir);
        snprintf(label, sizeof(label), "ak-executor:vm-%s", base ? base + 1 : dir);
        pthread_mutex_lock(&ex->catalog.lock);
        r = image_use_begin(ex->catalog.store, hash, label, &u->mark, err);
        if (r == 0) {
                u->next = ex->catalog.uses;
                ex->catalog.uses = u;
                if (ex->cfg.image_cache_max_bytes)
                        image_collect(ex->catalog.store, ex->cfg.image_cache_max_bytes, NULL, NULL);
        }
        pthread_mutex_unlock(&ex->catalog.lock);
        if (r < 0)
                free(u);
        return r;
}

void images_use_end(struct executor *ex, const char *dir)
{
        struct images_use *found = NULL;
        pthread_mutex_lock(&ex->catalog.lock);
        for (struct images_use **p = &ex->catalog.uses; *p; p = &(*p)->next)
                if (strcmp((*p)->dir, dir) == 0) {
                        found = *p;
                        *p = found->next;
                        break;
                }
        if (found)
                image_use_end(found->mark);
        pthread_mutex_unlock(&ex->catalog.lock);
        free(found);
}

int images_error_code(const char *image, int r)
{
        if (!image_key_is_ref(image))
                return r == -ENOENT ? RPC_FAILED_PRECONDITION : RPC_UNAVAILABLE;
        switch (r) {
        case -ENOENT:
                return RPC_NOT_FOUND;
        case -EACCES:
        case -EPERM:
                return RPC_PERMISSION_DENIED;
        case -ETIMEDOUT:
                return RPC_DEADLINE_EXCEEDED;
        case -EIO:
        case -ECONNREFUSED:
        case -EHOSTUNREACH:
        case -ENETUNREACH:
        case -EAGAIN:
        case -EBUSY:
        case -ENOMEM:
                return RPC_UNAVAILABLE;
        case -ENOSPC:
                return RPC_RESOURCE_EXHAUSTED;
        default:
                return RPC_FAILED_PRECONDITION;
        }
}

_Static_assert(OCI_ID_MAX == PROTO_MAX_ID, "an image's ids are the guest protocol's");

int images_exec_config(struct executor *ex, const char *image, struct image_exec_config *ret,
                       struct ak_error *err)
{
        struct image_info *info = calloc(1, sizeof(*info)); /* base: no config, every field empty */
        struct image_exec_config c = { 0 };
        if (!info)
                return ak_error_set(err, -ENOMEM, "out of memory");
        int r = 0;
        if (strcmp(image, IMAGE_BASE) != 0) {
                pthread_mutex_lock(&ex->catalog.lock);
                r = image_lookup(ex->catalog.store, image, info, err);
                pthread_mutex_unlock(&ex->catalog.lock);
        }
        if (r < 0) {
                free(info);
                return r;
        }
        snprintf(c.env, sizeof(c.env), "%s", info->env);
        snprintf(c.working_dir, sizeof(c.working_dir), "%s", info->working_dir);
        _Static_assert(sizeof(c.command) == sizeof(info->command), "the image's command fits");
        memcpy(c.command, info->command, info->command_len);
        c.command_len = info->command_len;
        c.n_command = info->n_command;
        /* Resolved at import (image_info.user_ids); images imported before
         * that: a numeric User or root. */
        const char *u = info->user_ids[0] ? info->user_ids : info->user, *colon = strchr(u, ':');
        size_t un = colon ? (size_t)(colon - u) : strlen(u);
        if (u[0]) {
                c.has_user = true;
                if (un == 4 && strncmp(u, "root", 4) == 0)
                        c.uid = 0;
                else if (oci_parse_id(u, un, &c.uid) < 0)
                        r = -EINVAL;
                c.gid = c.uid;
                if (colon && strcmp(colon + 1, "root") == 0)
                        c.gid = 0;
                else if (colon && oci_parse_id(colon + 1, strlen(colon + 1), &c.gid) < 0)
                        r = -EINVAL;
        }
        if (r < 0) {
                r = ak_error_set(err, -EINVAL, "image %s: its User \"%.100s\" is not in its /etc/passwd (or "
                                 "/etc/group): run with --sudo", image, info->user);
                free(info);
                return r;
        }
        free(info);
        *ret = c;
        return 0;
}
