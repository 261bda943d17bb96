/* Bindings to placeholders, values, a CA and a relay; see secret_set.h. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "vmm/net/secret_set.h"
#include "vmm/net/tls_ca.h"

struct secret_set {
        size_t n;
        struct inject_secret secrets[INJECT_SECRETS_MAX];
        char names[INJECT_SECRETS_MAX][VAULT_NAME_MAX + 1];
        uint8_t *values[INJECT_SECRETS_MAX];
        size_t value_lens[INJECT_SECRETS_MAX];
        struct tls_ca *ca;
        char *ca_pem;
        struct tls_relay_config cfg;
        struct tls_relay *relay;
        pthread_rwlock_t lock;       /* values[] and secrets[].value: read by serves, swapped by refresh */
        pthread_mutex_t refresh_lock; /* one refresh at a time (the vault is not thread-safe) */
        struct vault *vault;         /* secret_set_keep_vault's; NULL: no refresh */
};

int secret_binding_parse(const char *s, struct secret_binding *ret, struct ak_error *err)
{
        struct secret_binding b = { .header = INJECT_HEADER_DEFAULT };
        const char *c1 = strchr(s, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        size_t name_len = c1 ? (size_t)(c1 - s) : 0;
        size_t host_len = c1 ? (c2 ? (size_t)(c2 - c1 - 1) : strlen(c1 + 1)) : 0;

        if (!c1 || name_len == 0 || host_len == 0)
                return ak_error_set(err, -EINVAL, "secret binding '%.300s': want NAME:HOST[:HEADER], e.g. "
                                    "OPENAI_API_KEY:api.openai.com", s);
        if (name_len > VAULT_NAME_MAX)
                return ak_error_set(err, -EINVAL, "secret binding '%.300s': the name is longer than %d", s,
                                    VAULT_NAME_MAX);
        memcpy(b.name, s, name_len);
        if (vault_name_check(b.name, err) < 0)
                return ak_error_wrap(err, "secret binding '%.300s'", s);
        if (sniff_host_name(c1 + 1, host_len, b.host) < 0 || b.host[0] == '[' ||
            memchr(c1 + 1, '*', host_len))
                return ak_error_set(err, -EINVAL, "secret binding '%.300s': '%.*s' is not a host name (no "
                                    "port, IP literal or wildcard)", s, (int)(host_len > 256 ? 256 : host_len),
                                    c1 + 1);
        if (c2) {
                if (c2[1] && strspn(c2 + 1, "0123456789") == strlen(c2 + 1))
                        return ak_error_set(err, -EINVAL, "secret binding '%.300s': '%.80s' is not a header but "
                                            "looks like a port; a binding has none (HTTPS on 443)", s, c2 + 1);
                if (strlen(c2 + 1) > INJECT_HEADER_NAME_MAX || inject_header_check(c2 + 1) < 0)
                        return ak_error_set(err, -EINVAL, "secret binding '%.300s': '%.80s' is not a header "
                                            "to put a secret in (a token; not Host, Content-Length or "
                                            "Transfer-Encoding)", s, c2 + 1);
                strcpy(b.header, c2 + 1);
        }
        *ret = b;
        return 0;
}

static bool guest_path_ok(const char *p)
{
        size_t len = strlen(p);
        if (len < 2 || len > SECRET_FILE_PATH_MAX || p[0] != '/' || p[len - 1] == '/' ||
            strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-") != len ||
            strstr(p, "//"))
                return false;
        for (const char *c = p; c; c = strchr(c + 1, '/')) {
                const char *end = strchr(c + 1, '/');
                size_t n = end ? (size_t)(end - c - 1) : strlen(c + 1);
                if ((n == 1 && c[1] == '.') || (n == 2 && c[1] == '.' && c[2] == '.'))
                        return false;
        }
        return true;
}

int secret_file_parse(const char *s, struct secret_file *ret, struct ak_error *err)
{
        struct secret_file f = { { 0 } };
        const char *colon = strchr(s, ':');
        size_t name_len = colon ? (size_t)(colon - s) : strlen(s);

        if (name_len == 0 || name_len > VAULT_NAME_MAX)
                return ak_error_set(err, -EINVAL, "secret file '%.300s': want NAME[:PATH] with a name of 1 to %d "
                                    "characters, e.g. GITHUB_TOKEN or GITHUB_TOKEN:/home/sandbox/.token", s,
                                    VAULT_NAME_MAX);
        memcpy(f.name, s, name_len);
        if (vault_name_check(f.name, err) < 0)
                return ak_error_wrap(err, "secret file '%.300s'", s);
        if (!colon) {
                snprintf(f.path, sizeof(f.path), "%s/%s", SECRET_FILE_DIR, f.name);
        } else if (!guest_path_ok(colon + 1)) {
                return ak_error_set(err, -EINVAL, "secret file '%.300s': '%.300s' is not a guest path to write it "
                                    "to (absolute; letters, digits, '/', '.', '_', '-'; no '.' or '..' parts; at "
                                    "most %d bytes)", s, colon + 1, SECRET_FILE_PATH_MAX);
        } else {
                strcpy(f.path, colon + 1);
        }
        *ret = f;
        return 0;
}

void secret_set_free(struct secret_set *set)
{
        if (!set)
                return;
        tls_relay_free(set->relay);
        tls_ca_free(set->ca);
        vault_free(set->vault);
        pthread_rwlock_destroy(&set->lock);
        pthread_mutex_destroy(&set->refresh_lock);
        free(set->ca_pem);
        for (size_t i = 0; i < set->n; i++)
                vault_value_free(set->values[i], set->value_lens[i]);
        OPENSSL_cleanse(set, sizeof(*set));
        free(set);
}

/* Secret set->n from b: its value from v, placeholder ph (NULL: a fresh one). */
static int resolve(struct secret_set *set, struct vault *v, const struct secret_binding *b, const char *ph,
                   struct ak_error *err)
{
        struct inject_secret *s = &set->secrets[set->n];
        uint8_t *value = NULL;
        size_t len = 0;
        int r;

        for (size_t j = 0; j < set->n; j++)
                if (strcmp(set->names[j], b->name) == 0)
                        return ak_error_set(err, -EINVAL, "secret %s is bound twice: bind each secret to one host",
                                            b->name);
        r = vault_get(v, b->name, &value, &len, err);
        if (r < 0)
                return r;
        if (inject_value_check(value, len) < 0) {
                vault_value_free(value, len);
                return ak_error_set(err, -EINVAL, "secret %s cannot go in an HTTP header: its value has a control "
                                    "character, leading or trailing blanks, or more than %d bytes", b->name,
                                    INJECT_VALUE_MAX);
        }
        if (ph)
                memcpy(s->placeholder, ph, INJECT_PLACEHOLDER_LEN + 1);
        else
                r = inject_placeholder_new(s->placeholder);
        if (r < 0) {
                vault_value_free(value, len);
                return ak_error_errno(err, r, "secret %s: placeholder", b->name);
        }
        strcpy(set->names[set->n], b->name);
        strcpy(s->host, b->host);
        strcpy(s->header, b->header);
        s->value = value;
        s->value_len = len;
        set->values[set->n] = value;
        set->value_lens[set->n] = len;
        set->n++;
        return 0;
}

/* The set's CA: made fresh, or loaded from ca_path (secret_set_restore). */
static int ca_make(struct secret_set *set, const char *ca_path, struct ak_error *err)
{
        const char *hosts[INJECT_SECRETS_MAX];
        size_t n_hosts = 0, len = 0;
        int r;

        for (size_t i = 0; i < set->n; i++) {
                bool have = false;
                for (size_t j = 0; j < n_hosts; j++)
                        have = have || strcmp(hosts[j], set->secrets[i].host) == 0;
                if (!have)
                        hosts[n_hosts++] = set->secrets[i].host;
        }
        r = ca_path ? tls_ca_load(ca_path, hosts, n_hosts, &set->ca, err) : tls_ca_new(hosts, n_hosts, &set->ca, err);
        if (r < 0)
                return r;
        r = tls_ca_cert_pem(set->ca, &set->ca_pem, &len);
        if (r < 0)
                return ak_error_errno(err, r, "sandbox CA: certificate as PEM");
        return 0;
}

static bool placeholder_ok(const char *ph)
{
        size_t pre = sizeof(INJECT_PLACEHOLDER_PREFIX) - 1;
        return ph && strlen(ph) == INJECT_PLACEHOLDER_LEN && strncmp(ph, INJECT_PLACEHOLDER_PREFIX, pre) == 0 &&
               strspn(ph + pre, "0123456789abcdef") == INJECT_PLACEHOLDER_LEN - pre;
}

static int set_make(struct vault *v, const struct secret_binding *b, const char *const *placeholders, size_t n,
                    const char *ca_path, struct secret_set **ret, struct ak_error *err)
{
        struct secret_set *set;
        int r = 0;

        if (n == 0 || n > INJECT_SECRETS_MAX)
                return ak_error_set(err, -EINVAL, "%zu secrets for one sandbox: give 1 to %d", n,
                                    INJECT_SECRETS_MAX);
        set = calloc(1, sizeof(*set));
        if (!set)
                return ak_error_set(err, -ENOMEM, "secrets: out of memory");
        pthread_rwlock_init(&set->lock, NULL);
        pthread_mutex_init(&set->refresh_lock, NULL);
        for (size_t i = 0; i < n && r == 0; i++)
                r = resolve(set, v, &b[i], placeholders ? placeholders[i] : NULL, err);
        if (r == 0)
                r = ca_make(set, ca_path, err);
        if (r < 0) {
                secret_set_free(set);
                return r;
        }
        *ret = set;
        return 0;
}

int secret_set_new(struct vault *v, const struct secret_binding *b, size_t n, struct secret_set **ret,
                   struct ak_error *err)
{
        return set_make(v, b, NULL, n, NULL, ret, err);
}

int secret_set_restore(struct vault *v, const struct secret_binding *b, const char *const *placeholders, size_t n,
                       const char *ca_path, struct secret_set **ret, struct ak_error *err)
{
        for (size_t i = 0; n <= INJECT_SECRETS_MAX && i < n; i++) {
                if (!placeholder_ok(placeholders[i]))
                        return ak_error_set(err, -EINVAL, "secret %s: its recorded placeholder is not %s and 32 "
                                            "lowercase hex digits", b[i].name, INJECT_PLACEHOLDER_PREFIX);
                for (size_t j = 0; j < i; j++)
                        if (strcmp(placeholders[i], placeholders[j]) == 0)
                                return ak_error_set(err, -EINVAL, "secrets %s and %s: the same recorded placeholder",
                                                    b[j].name, b[i].name);
        }
        return set_make(v, b, placeholders, n, ca_path, ret, err);
}

int secret_set_save_ca(const struct secret_set *set, const char *path, struct ak_error *err)
{
        return tls_ca_save(set->ca, path, err);
}

size_t secret_set_count(const struct secret_set *set)
{
        return set->n;
}

const char *secret_set_name(const struct secret_set *set, size_t i)
{
        return i < set->n ? set->names[i] : NULL;
}

const char *secret_set_placeholder(const struct secret_set *set, size_t i)
{
        return i < set->n ? set->secrets[i].placeholder : NULL;
}

const char *secret_set_ca_pem(const struct secret_set *set)
{
        return set->ca_pem;
}

int secret_set_relay(struct secret_set *set, const char *roots_file, int timeout_ms, struct tls_relay **ret,
                     struct ak_error *err)
{
        int r;

        if (!set->relay) {
                set->cfg = (struct tls_relay_config){ set->ca, set->secrets, set->n, roots_file, timeout_ms,
                                                      &set->lock };
                r = tls_relay_new(&set->cfg, &set->relay, err);
                if (r < 0)
                        return r;
        }
        *ret = set->relay;
        return 0;
}

void secret_set_keep_vault(struct secret_set *set, struct vault *v)
{
        pthread_mutex_lock(&set->refresh_lock);
        vault_free(set->vault);
        set->vault = v;
        pthread_mutex_unlock(&set->refresh_lock);
}

/* Reads secret i's value again: a new one is swapped in under the write
 * lock (the old wiped), an unchanged one is dropped. */
static int refresh_one(struct secret_set *set, size_t i, struct ak_error *err)
{
        uint8_t *value = NULL;
        size_t len = 0;
        int r = vault_get(set->vault, set->names[i], &value, &len, err);
        if (r < 0)
                return r;
        if (inject_value_check(value, len) < 0) {
                vault_value_free(value, len);
                return ak_error_set(err, -EINVAL, "secret %s cannot go in an HTTP header any more: its new value "
                                    "has a control character, leading or trailing blanks, or more than %d bytes",
                                    set->names[i], INJECT_VALUE_MAX);
        }
        pthread_rwlock_wrlock(&set->lock);
        bool same = len == set->value_lens[i] && memcmp(value, set->values[i], len) == 0;
        uint8_t *old = same ? value : set->values[i];
        size_t old_len = same ? len : set->value_lens[i];
        if (!same) {
                set->values[i] = value;
                set->secrets[i].value = value;
                set->value_lens[i] = set->secrets[i].value_len = len;
        }
        pthread_rwlock_unlock(&set->lock);
        vault_value_free(old, old_len);
        return 0;
}

int secret_set_refresh(struct secret_set *set, struct ak_error *err)
{
        int r = 0;
        pthread_mutex_lock(&set->refresh_lock);
        for (size_t i = 0; set->vault && i < set->n && r == 0; i++)
                r = refresh_one(set, i, err);
        pthread_mutex_unlock(&set->refresh_lock);
        return r;
}

bool secret_set_binds(const struct secret_set *set, const char *host)
{
        for (size_t i = 0; host && i < set->n; i++)
                if (strcasecmp(set->secrets[i].host, host) == 0)
                        return true;
        return false;
}

/* The 32 hex digits after the prefix, compared without case: a Host or SNI
 * arrives lowercased, and the prefix is what makes a match unlikely by chance. */
static bool placeholder_at(const uint8_t *p, const char *ph)
{
        return strncasecmp((const char *)p, ph, INJECT_PLACEHOLDER_LEN) == 0;
}

int secret_set_find_placeholder(const struct secret_set *set, const void *buf, size_t len)
{
        const uint8_t *b = buf;
        for (size_t off = 0; len >= INJECT_PLACEHOLDER_LEN && off <= len - INJECT_PLACEHOLDER_LEN; off++) {
                if ((b[off] | 0x20) != 'a')
                        continue;
                for (size_t i = 0; i < set->n; i++)
                        if (placeholder_at(b + off, set->secrets[i].placeholder))
                                return (int)i;
        }
        return -1;
}
