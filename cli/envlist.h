/* The environment a user gives a command: `-e K=V`, `-e NAME` (the value
 * from ak's own environment), `--env-file FILE` (docker's format) and
 * agentkernel.toml's [env]. A later setting of a name replaces an earlier
 * one, so callers add in precedence order (file, then flags). */
#pragma once

#include <stddef.h>

#include "lib/base/error.h"

#define ENVLIST_MAX 256
#define ENVLIST_FILE_MAX (1u << 20)

struct envlist {
        char *kv[ENVLIST_MAX];   /* "KEY=VALUE", owned */
        size_t n;
};

/* Adds "KEY=VALUE" (copied). -EINVAL for an empty key; -E2BIG past ENVLIST_MAX. */
int envlist_set(struct envlist *e, const char *kv, struct ak_error *err);

/* `-e` ARG: KEY=VALUE as is; NAME alone takes NAME's value from the
 * environment (-ENOENT, naming it, when it is unset). */
int envlist_arg(struct envlist *e, const char *arg, struct ak_error *err);

/* Lines of `path`: KEY=VALUE; blank lines and lines starting with # are
 * skipped; a NAME alone takes its value from the environment and is skipped
 * when unset (as docker). Errors name the file and line. */
int envlist_file(struct envlist *e, const char *path, struct ak_error *err);

void envlist_free(struct envlist *e);
