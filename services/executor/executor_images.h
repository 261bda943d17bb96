/* What this node's image store holds (executor_images.c): the names that
 * GetStatus and the heartbeat report, kept current without a restart, and
 * the one place a sandbox's missing image would be fetched. Private to
 * services/executor.
 *
 * Locking: ex->catalog.lock guards ex->catalog (its own store handle, the
 * watch and the names). It is never held with ex->lock or ex->images.lock,
 * and never for longer than one stat, or one listing of the store's names
 * after a change: a heartbeat never waits for a build. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/base/error.h"

struct executor;

/* Opens the catalog's own handle on ex->images_dir (executor_new). */
int images_catalog_open(struct executor *ex, struct ak_error *err);
void images_catalog_close(struct executor *ex);

/* The image names to report, sorted, `base` always among them (built on
 * first use, so every executor can boot it): the store is looked at again
 * only when its names changed (image_watch_changed). *ret is a NULL-less
 * array of n strdup'ed names; the caller frees each and the array. When the
 * store cannot be read, the last good list (or just `base`). */
int images_report(struct executor *ex, char ***ret, size_t *ret_n);

/* Called before a sandbox of `image` (a local name, or a normalized OCI
 * reference) is created: 0 when this node can boot it now. A local name
 * that is missing is -ENOENT with what to do (build it on this node); a
 * reference that is missing is pulled (executor_pull.h: one pull per
 * reference however many creates wait) and the pull's -errno and the
 * registry's words returned when it fails. `sandbox` and `tenant` (NULL for
 * a pool) name the create that waits (pulls_ensure). */
int images_ensure(struct executor *ex, const char *image, const char *sandbox, const char *tenant,
                  struct ak_error *err);

/* Marks the image hash in use by the VM in dir (image.h's in-use marks, so
 * `ak image rm` in any process refuses it and collection skips it), then,
 * with --image-cache-max-gb, collects the least recently used images over
 * the limit. images_use_end(dir) ends the mark (evm_dispose); unknown dirs
 * are ignored. */
int images_use_begin(struct executor *ex, const char *hash, const char *dir, struct ak_error *err);
void images_use_end(struct executor *ex, const char *dir);

/* What an image's config asks of a command run in it (an imported OCI
 * image's Env, WorkingDir and User; empty for ak's own images). */
struct image_exec_config {
        char env[8192];                 /* "K=V" lines, each ended by '\n' */
        char working_dir[256];          /* "" when none */
        bool has_user;                  /* User named one: uid/gid */
        int64_t uid, gid;
        char command[4096];             /* Entrypoint + Cmd, NUL-terminated arguments */
        size_t command_len, n_command;
};

/* The config of image as the store records it. -EINVAL with err when its
 * User is not one this executor can run as: "UID", "UID:GID", "root" (a
 * name other than root is resolved when the image is imported, not here). */
int images_exec_config(struct executor *ex, const char *image, struct image_exec_config *ret,
                       struct ak_error *err);

/* The gRPC status for images_ensure's error r: a local name missing or a
 * registry's bad answer FAILED_PRECONDITION, a tag or repository the
 * registry does not have NOT_FOUND, the registry refusing our credentials
 * PERMISSION_DENIED (not UNAUTHENTICATED, which says the caller's own
 * credential is bad), a registry out of reach UNAVAILABLE, still pulling at
 * the deadline DEADLINE_EXCEEDED. */
int images_error_code(const char *image, int r);
