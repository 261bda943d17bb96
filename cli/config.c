/* agentkernel.toml into struct config (config.h), over cli/toml.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/config.h"
#include "cli/toml.h"
#include "lib/base/io.h"
#include "lib/base/parse.h"

struct ctx {
        const char *path;
        const char *section;   /* "sandbox", "security.domains", "files" */
        struct config *cfg;
        struct ak_error *err;
};

static int bad(const struct ctx *c, const struct toml_value *v, const char *want)
{
        char where[32] = "";
        if (v->line)
                snprintf(where, sizeof(where), ":%u", v->line);
        return ak_error_set(c->err, -EINVAL, "%s%s: [%s] %s: want %s, got %s", c->path, where, c->section,
                            v->key ? v->key : "(element)", want, toml_type_name(v->type));
}

static void warn(const struct ctx *c, const struct toml_value *v, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void warn(const struct ctx *c, const struct toml_value *v, const char *fmt, ...)
{
        struct config *cfg = c->cfg;
        if (cfg->n_warnings == CONFIG_MAX_WARNINGS)
                return;
        char msg[256], *out = NULL;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        if (asprintf(&out, "%s:%u: %s", c->path, v->line, msg) >= 0)
                cfg->warnings[cfg->n_warnings++] = out;
}

static void unknown(const struct ctx *c, const struct toml_value *v)
{
        warn(c, v, "[%s] %s: unknown key, ignored", c->section, v->key);
}

static int get_string(const struct ctx *c, const struct toml_value *v, char **out)
{
        if (v->type != TOML_STRING)
                return bad(c, v, "a string");
        char *s = strdup(v->s);
        if (!s)
                return ak_error_set(c->err, -ENOMEM, "out of memory");
        free(*out);
        *out = s;
        return 0;
}

static int get_uint(const struct ctx *c, const struct toml_value *v, unsigned min, unsigned max, unsigned *out)
{
        char want[64];
        snprintf(want, sizeof(want), "an integer from %u to %u", min, max);
        if (v->type != TOML_INT)
                return bad(c, v, want);
        if (v->i < (int64_t)min || v->i > (int64_t)max) {
                char where[32] = "";
                if (v->line)
                        snprintf(where, sizeof(where), ":%u", v->line);
                return ak_error_set(c->err, -EINVAL, "%s%s: [%s] %s: want %s, got %lld", c->path, where,
                                    c->section, v->key, want, (long long)v->i);
        }
        *out = (unsigned)v->i;
        return 0;
}

static int get_bool(const struct ctx *c, const struct toml_value *v, bool *out)
{
        if (v->type != TOML_BOOL)
                return bad(c, v, "true or false");
        *out = v->b;
        return 0;
}

static int get_strings(const struct ctx *c, const struct toml_value *v, char **list, size_t *n)
{
        if (v->type != TOML_ARRAY)
                return bad(c, v, "an array of strings");
        for (size_t i = 0; i < v->n_items; i++) {
                const struct toml_value *e = &v->items[i];
                if (e->type != TOML_STRING || !*e->s)
                        return bad(c, v, "an array of non-empty strings");
                if (*n == CONFIG_MAX_LIST)
                        return ak_error_set(c->err, -E2BIG, "%s:%u: [%s] %s: at most %d entries", c->path,
                                            v->line, c->section, v->key, CONFIG_MAX_LIST);
                if (!(list[*n] = strdup(e->s)))
                        return ak_error_set(c->err, -ENOMEM, "out of memory");
                (*n)++;
        }
        return 0;
}

static int want_table(const struct ctx *c, const struct toml_value *v)
{
        return v->type == TOML_TABLE ? 0 : bad(c, v, "a table");
}

static int sec_sandbox(struct ctx *c, const struct toml_value *t)
{
        struct config *cfg = c->cfg;
        char *runtime = NULL, *base_image = NULL;
        int r = 0;
        for (size_t i = 0; i < t->n_items && r == 0; i++) {
                const struct toml_value *v = &t->items[i];
                if (strcmp(v->key, "name") == 0)
                        r = get_string(c, v, &cfg->name);
                else if (strcmp(v->key, "runtime") == 0)
                        r = get_string(c, v, &runtime);
                else if (strcmp(v->key, "base_image") == 0)
                        r = get_string(c, v, &base_image);
                else
                        unknown(c, v);
        }
        /* base_image overrides runtime (agentkernel); runtime names a local image. */
        if (r == 0 && (base_image || runtime)) {
                free(cfg->image);
                cfg->image = base_image ? base_image : runtime;
                if (base_image)
                        free(runtime);
                return 0;
        }
        free(runtime);
        free(base_image);
        return r;
}

static int sec_resources(struct ctx *c, const struct toml_value *t)
{
        int r = 0;
        for (size_t i = 0; i < t->n_items && r == 0; i++) {
                const struct toml_value *v = &t->items[i];
                if (strcmp(v->key, "vcpus") == 0)
                        r = get_uint(c, v, 1, 64, &c->cfg->vcpus);
                else if (strcmp(v->key, "memory_mb") == 0)
                        r = get_uint(c, v, 64, 262144, &c->cfg->memory_mb);
                else
                        unknown(c, v);
        }
        return r;
}

static int sec_domains(struct ctx *c, const struct toml_value *t)
{
        struct config *cfg = c->cfg;
        int r = want_table(c, t);
        for (size_t i = 0; i < t->n_items && r == 0; i++) {
                const struct toml_value *v = &t->items[i];
                if (strcmp(v->key, "allow") == 0)
                        r = get_strings(c, v, cfg->allow, &cfg->n_allow);
                else if (strcmp(v->key, "block") == 0 || strcmp(v->key, "deny") == 0)
                        r = get_strings(c, v, cfg->deny, &cfg->n_deny);
                else if (strcmp(v->key, "allowlist_only") == 0)
                        r = get_bool(c, v, &cfg->allowlist_only);
                else
                        unknown(c, v);
        }
        return r;
}

static int sec_security(struct ctx *c, const struct toml_value *t)
{
        struct config *cfg = c->cfg;
        int r = 0;
        for (size_t i = 0; i < t->n_items && r == 0; i++) {
                const struct toml_value *v = &t->items[i];
                bool b = false;
                char *unused = NULL;
                if (strcmp(v->key, "profile") == 0) {
                        if ((r = get_string(c, v, &cfg->profile)) == 0 && strcmp(cfg->profile, "permissive") != 0 &&
                            strcmp(cfg->profile, "moderate") != 0 && strcmp(cfg->profile, "restrictive") != 0)
                                r = ak_error_set(c->err, -EINVAL, "%s:%u: [security] profile: want permissive, "
                                                 "moderate or restrictive, got \"%s\"", c->path, v->line,
                                                 cfg->profile);
                } else if (strcmp(v->key, "network") == 0) {
                        if ((r = get_bool(c, v, &b)) == 0)
                                cfg->network = b;
                } else if (strcmp(v->key, "mount_cwd") == 0 || strcmp(v->key, "mount_home") == 0 ||
                           strcmp(v->key, "pass_env") == 0 || strcmp(v->key, "read_only") == 0) {
                        if ((r = get_bool(c, v, &b)) == 0)
                                warn(c, v, "[security] %s: not honoured: ak mounts nothing from the host; "
                                     "profile = \"permissive\" copies the working directory in and passes "
                                     "the environment", v->key);
                } else if (strcmp(v->key, "seccomp") == 0) {
                        r = get_string(c, v, &unused);
                        free(unused);
                        if (r == 0)
                                warn(c, v, "[security] seccomp: not honoured: the microVM is the boundary "
                                     "(ak's VMM runs under its own seccomp filter)");
                } else if (strcmp(v->key, "domains") == 0) {
                        c->section = "security.domains";
                        r = sec_domains(c, v);
                        c->section = "security";
                } else if (strcmp(v->key, "commands") == 0) {
                        warn(c, v, "[security.commands] is not enforced by ak, ignored");
                } else {
                        unknown(c, v);
                }
        }
        return r;
}

/* One of agentkernel's port mappings: "PORT", "HOST:PORT", either with
 * "/tcp" or "/udp"; ports 1..65535. */
static bool port_mapping_ok(const char *s)
{
        char buf[32], *colon, *slash;
        unsigned p;
        if (strlen(s) >= sizeof(buf))
                return false;
        snprintf(buf, sizeof(buf), "%s", s);
        if ((slash = strchr(buf, '/'))) {
                if (strcmp(slash, "/tcp") != 0 && strcmp(slash, "/udp") != 0)
                        return false;
                *slash = 0;
        }
        if ((colon = strchr(buf, ':'))) {
                *colon = 0;
                if (ak_parse_uint(buf, 1, 65535, &p) < 0)
                        return false;
        }
        return ak_parse_uint(colon ? colon + 1 : buf, 1, 65535, &p) == 0;
}

/* agentkernel's [network]: vsock_cid and ports. ak honours neither (it
 * assigns CIDs and publishes no sandbox ports), so each is checked, then
 * named in a warning rather than dropped in silence. */
static int sec_network(struct ctx *c, const struct toml_value *t)
{
        int r = 0;
        unsigned cid;
        for (size_t i = 0; i < t->n_items && r == 0; i++) {
                const struct toml_value *v = &t->items[i];
                if (strcmp(v->key, "vsock_cid") == 0) {
                        if ((r = get_uint(c, v, 3, UINT32_MAX - 1, &cid)) == 0)
                                warn(c, v, "[network] vsock_cid: not honoured: ak gives every VM a vsock CID "
                                     "of its own");
                } else if (strcmp(v->key, "ports") == 0) {
                        if (v->type != TOML_ARRAY)
                                return bad(c, v, "an array of port mappings (\"8080:80\", \"3000\")");
                        for (size_t k = 0; k < v->n_items; k++)
                                if (v->items[k].type != TOML_STRING || !port_mapping_ok(v->items[k].s))
                                        return ak_error_set(c->err, -EINVAL, "%s:%u: [network] ports[%zu]: want "
                                                            "\"PORT\" or \"HOST:PORT\" (1..65535, optional "
                                                            "/tcp or /udp), got %s%s%s", c->path, v->line, k,
                                                            v->items[k].type == TOML_STRING ? "\"" : "",
                                                            v->items[k].type == TOML_STRING
                                                                    ? v->items[k].s
                                                                    : toml_type_name(v->items[k].type),
                                                            v->items[k].type == TOML_STRING ? "\"" : "");
                        if (v->n_items)
                                warn(c, v, "[network] ports: not honoured: ak publishes no sandbox ports (reach "
                                     "a service with `ak exec`; [security.domains] governs outbound traffic)");
                } else {
                        unknown(c, v);
                }
        }
        return r;
}

static int sec_env(struct ctx *c, const struct toml_value *t)
{
        struct config *cfg = c->cfg;
        for (size_t i = 0; i < t->n_items; i++) {
                const struct toml_value *v = &t->items[i];
                if (v->type != TOML_STRING)
                        return bad(c, v, "a string");
                if (!*v->key || strchr(v->key, '='))
                        return ak_error_set(c->err, -EINVAL, "%s:%u: [env] \"%s\": not a variable name", c->path,
                                            v->line, v->key);
                if (cfg->n_env == CONFIG_MAX_LIST)
                        return ak_error_set(c->err, -E2BIG, "%s: [env]: at most %d variables", c->path,
                                            CONFIG_MAX_LIST);
                if (asprintf(&cfg->env[cfg->n_env], "%s=%s", v->key, v->s) < 0)
                        return ak_error_set(c->err, -ENOMEM, "out of memory");
                cfg->n_env++;
        }
        return 0;
}

static int one_file(struct ctx *c, const struct toml_value *t, struct config_file_entry *f)
{
        int r = want_table(c, t);
        char *mode = NULL;
        for (size_t i = 0; i < t->n_items && r == 0; i++) {
                const struct toml_value *v = &t->items[i];
                if (strcmp(v->key, "source") == 0)
                        r = get_string(c, v, &f->source);
                else if (strcmp(v->key, "dest") == 0)
                        r = get_string(c, v, &f->dest);
                else if (strcmp(v->key, "mode") == 0)
                        r = get_string(c, v, &mode);
                else
                        unknown(c, v);
        }
        f->mode = 0644;
        if (r == 0 && mode) {
                char *end;
                unsigned long m = strtoul(mode, &end, 8);
                if (!*mode || *end || m > 07777)
                        r = ak_error_set(c->err, -EINVAL, "%s:%u: [[files]] mode: want octal such as \"0644\", "
                                         "got \"%s\"", c->path, t->line, mode);
                f->mode = (unsigned)m;
        }
        free(mode);
        if (r == 0 && (!f->source || !*f->source || !f->dest || f->dest[0] != '/'))
                r = ak_error_set(c->err, -EINVAL, "%s:%u: [[files]]: want source (a host path) and dest (an "
                                 "absolute guest path)", c->path, t->line);
        return r;
}

static int sec_files(struct ctx *c, const struct toml_value *v)
{
        if (v->type != TOML_ARRAY)
                return bad(c, v, "an array of tables ([[files]])");
        for (size_t i = 0; i < v->n_items; i++) {
                if (c->cfg->n_files == CONFIG_MAX_LIST)
                        return ak_error_set(c->err, -E2BIG, "%s: at most %d [[files]]", c->path, CONFIG_MAX_LIST);
                int r = one_file(c, &v->items[i], &c->cfg->files[c->cfg->n_files++]);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* [secrets] NAME = "host[:Header]": checked fully (secret_binding_parse)
 * where it becomes a spec, which knows the line from here. */
static int sec_secrets(struct ctx *c, const struct toml_value *t)
{
        struct config *cfg = c->cfg;
        for (size_t i = 0; i < t->n_items; i++) {
                const struct toml_value *v = &t->items[i];
                if (v->type != TOML_STRING || !*v->s)
                        return bad(c, v, "a host name as a non-empty string (NAME = \"api.example.com\")");
                if (!*v->key)
                        return ak_error_set(c->err, -EINVAL, "%s:%u: [secrets]: an empty secret name", c->path,
                                            v->line);
                if (cfg->n_secrets == CONFIG_MAX_SECRETS)
                        return ak_error_set(c->err, -E2BIG, "%s:%u: [secrets]: at most %d secrets", c->path,
                                            v->line, CONFIG_MAX_SECRETS);
                struct config_secret *s = &cfg->secrets[cfg->n_secrets];
                if (!(s->name = strdup(v->key)) || !(s->host = strdup(v->s))) {
                        free(s->name);
                        s->name = NULL;
                        return ak_error_set(c->err, -ENOMEM, "out of memory");
                }
                s->line = v->line;
                cfg->n_secrets++;
        }
        return 0;
}

static int hook_target(struct ctx *c, const struct toml_value *t, struct config_hook *h)
{
        char *url = NULL;
        unsigned line = t->line; /* the type's, where there is one */
        int r = want_table(c, t);
        for (size_t i = 0; i < t->n_items && r == 0; i++) {
                const struct toml_value *v = &t->items[i];
                if (strcmp(v->key, "type") == 0) {
                        r = get_string(c, v, &h->type);
                        line = v->line ? v->line : line;
                } else if (strcmp(v->key, "path") == 0) {
                        r = get_string(c, v, &h->path);
                } else if (strcmp(v->key, "url") == 0) {
                        r = get_string(c, v, &url);
                } else {
                        unknown(c, v);
                }
        }
        free(url);
        if (r < 0)
                return r;
        if (!h->type)
                return ak_error_set(c->err, -EINVAL, "%s:%u: [proxy.hooks.target] type: missing; want \"file\" "
                                    "or \"audit\"", c->path, line);
        if (strcmp(h->type, "webhook") == 0)
                return ak_error_set(c->err, -EINVAL, "%s:%u: [proxy.hooks.target] type: \"webhook\" is not "
                                    "offered by ak (the executor posts to no URL a client names); use \"file\" "
                                    "or \"audit\"", c->path, line);
        if (strcmp(h->type, "file") != 0 && strcmp(h->type, "audit") != 0)
                return ak_error_set(c->err, -EINVAL, "%s:%u: [proxy.hooks.target] type: want \"file\" or "
                                    "\"audit\", got \"%.40s\"", c->path, line, h->type);
        if (strcmp(h->type, "file") == 0 && (!h->path || !*h->path))
                return ak_error_set(c->err, -EINVAL, "%s:%u: [proxy.hooks.target] path: a file hook wants a "
                                    "file name", c->path, line);
        return 0;
}

static int one_hook(struct ctx *c, const struct toml_value *t, struct config_hook *h)
{
        int r = want_table(c, t);
        h->line = t->line;
        for (size_t i = 0; i < t->n_items && r == 0; i++) {
                const struct toml_value *v = &t->items[i];
                if (strcmp(v->key, "name") == 0) {
                        r = get_string(c, v, &h->name);
                } else if (strcmp(v->key, "event") == 0) {
                        if ((r = get_string(c, v, &h->event)) == 0 && strcmp(h->event, "on_request") != 0 &&
                            strcmp(h->event, "on_response") != 0)
                                r = ak_error_set(c->err, -EINVAL, "%s:%u: [[proxy.hooks]] event: want "
                                                 "\"on_request\" or \"on_response\", got \"%.40s\"", c->path,
                                                 v->line, h->event);
                } else if (strcmp(v->key, "target") == 0) {
                        c->section = "proxy.hooks.target";
                        r = hook_target(c, v, h);
                        c->section = "[proxy.hooks]";
                } else {
                        unknown(c, v);
                }
        }
        if (r == 0 && (!h->name || !*h->name || !h->event || !h->type))
                r = ak_error_set(c->err, -EINVAL, "%s:%u: [[proxy.hooks]]: want name, event and a target table",
                                 c->path, t->line);
        return r;
}

/* [[proxy.hooks]] (agentkernel's ProxyHooksConfig). */
static int sec_proxy(struct ctx *c, const struct toml_value *t)
{
        struct config *cfg = c->cfg;
        int r = 0;
        for (size_t i = 0; i < t->n_items && r == 0; i++) {
                const struct toml_value *v = &t->items[i];
                if (strcmp(v->key, "hooks") != 0) {
                        unknown(c, v);
                        continue;
                }
                if (v->type != TOML_ARRAY)
                        return bad(c, v, "an array of tables ([[proxy.hooks]])");
                c->section = "[proxy.hooks]";
                for (size_t k = 0; k < v->n_items && r == 0; k++) {
                        if (cfg->n_hooks == CONFIG_MAX_HOOKS)
                                return ak_error_set(c->err, -E2BIG, "%s:%u: at most %d [[proxy.hooks]]", c->path,
                                                    v->items[k].line, CONFIG_MAX_HOOKS);
                        r = one_hook(c, &v->items[k], &cfg->hooks[cfg->n_hooks++]);
                }
                c->section = "proxy";
        }
        return r;
}

static int walk(struct ctx *c, const struct toml_value *root)
{
        static const struct {
                const char *name;
                int (*fn)(struct ctx *, const struct toml_value *);
        } sections[] = {
                { "sandbox", sec_sandbox }, { "resources", sec_resources }, { "security", sec_security },
                { "network", sec_network }, { "env", sec_env }, { "secrets", sec_secrets },
                { "proxy", sec_proxy },
        };
        for (size_t i = 0; i < root->n_items; i++) {
                const struct toml_value *v = &root->items[i];
                int r = 0;
                bool known = false;
                c->section = v->key;
                for (size_t k = 0; k < sizeof(sections) / sizeof(sections[0]); k++) {
                        if (strcmp(v->key, sections[k].name) == 0) {
                                known = true;
                                c->section = sections[k].name;
                                r = want_table(c, v);
                                if (r == 0)
                                        r = sections[k].fn(c, v);
                        }
                }
                if (known) {
                } else if (strcmp(v->key, "files") == 0) {
                        r = sec_files(c, v);
                } else if (strcmp(v->key, "agent") == 0 || strcmp(v->key, "template") == 0) {
                        /* agentkernel's agent choice and template help: nothing for ak to do */
                } else if (strcmp(v->key, "build") == 0 || strcmp(v->key, "orchestrator") == 0 ||
                           strcmp(v->key, "enterprise") == 0) {
                        warn(c, v, "[%s] is agentkernel's and not used by ak, ignored", v->key);
                } else {
                        warn(c, v, "%s: unknown key, ignored", v->key);
                }
                if (r < 0)
                        return r;
        }
        return 0;
}

int config_parse(const char *path, const char *text, size_t len, struct config **ret, struct ak_error *err)
{
        struct toml_value *root = NULL;
        int r = toml_parse(text, len, &root, err);
        if (r < 0)
                return ak_error_wrap(err, "%s", path);
        struct config *cfg = calloc(1, sizeof(*cfg));
        if (!cfg) {
                toml_free(root);
                return ak_error_set(err, -ENOMEM, "out of memory");
        }
        cfg->network = -1;
        struct ctx c = { .path = path, .cfg = cfg, .err = err };
        r = walk(&c, root);
        toml_free(root);
        if (r < 0) {
                config_free(cfg);
                return r;
        }
        *ret = cfg;
        return 0;
}

int config_load(const char *path, struct config **ret, struct ak_error *err)
{
        char *text = NULL;
        size_t len = 0;
        int r = ak_read_file(path, TOML_MAX_BYTES, &text, &len);
        if (r < 0)
                return ak_error_errno(err, r, "read %s", path);
        r = config_parse(path, text, len, ret, err);
        free(text);
        return r;
}

void config_free(struct config *c)
{
        if (!c)
                return;
        free(c->name);
        free(c->image);
        free(c->profile);
        for (size_t i = 0; i < c->n_allow; i++)
                free(c->allow[i]);
        for (size_t i = 0; i < c->n_deny; i++)
                free(c->deny[i]);
        for (size_t i = 0; i < c->n_env; i++)
                free(c->env[i]);
        for (size_t i = 0; i < c->n_files; i++) {
                free(c->files[i].source);
                free(c->files[i].dest);
        }
        for (size_t i = 0; i < c->n_secrets; i++) {
                free(c->secrets[i].name);
                free(c->secrets[i].host);
        }
        for (size_t i = 0; i < c->n_hooks; i++) {
                free(c->hooks[i].name);
                free(c->hooks[i].event);
                free(c->hooks[i].type);
                free(c->hooks[i].path);
        }
        for (size_t i = 0; i < c->n_warnings; i++)
                free(c->warnings[i]);
        free(c);
}
