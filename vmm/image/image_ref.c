/* Images recorded by OCI reference: names/@<sha256 of the normalized
 * reference> holds "<image hash>\n<normalized reference>\n", next to the
 * plain names/<name> entries, so the store's one watch (image_watch_changed)
 * sees both and a reference never collides with a local name. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/base/cleanup.h"
#include "lib/base/pathfmt.h"
#include "vmm/image/image_impl.h"
#include "vmm/image/oci/ref.h"

_Static_assert(OCI_REF_FORMAT_MAX <= IMAGE_REF_MAX, "a normalized reference fits an image key");

bool image_key_is_ref(const char *key)
{
        return strpbrk(key, "/:@") != NULL;
}

int image_ref_normalize(const char *text, char ret[IMAGE_REF_MAX], struct ak_error *err)
{
        struct oci_ref ref;
        char out[OCI_REF_FORMAT_MAX];
        int r = oci_ref_parse(text, strlen(text), &ref, err);
        if (r < 0)
                return r;
        oci_ref_format(&ref, out);
        snprintf(ret, IMAGE_REF_MAX, "%s", out);
        return 0;
}

int image_key_check(const char *key)
{
        char norm[IMAGE_REF_MAX];
        if (!image_key_is_ref(key))
                return image_name_check(key);
        return image_ref_normalize(key, norm, NULL);
}

/* "@" + SHA-256 hex of the normalized reference. */
static int entry_name(const char *norm, char ret[IMAGE_HASH_LEN + 2])
{
        char hex[IMAGE_HASH_LEN + 1];
        int r = image_hash_text(norm, hex, NULL);
        if (r < 0)
                return r;
        ret[0] = '@';
        memcpy(ret + 1, hex, sizeof(hex));
        return 0;
}

static int read_entry(struct image_store *s, const char *file, char hash[IMAGE_HASH_LEN + 1],
                      char ref[IMAGE_REF_MAX])
{
        char path[PATH_MAX], buf[IMAGE_HASH_LEN + 1 + IMAGE_REF_MAX + 2];
        pathfmt(path, sizeof(path), "%s/names/%s", s->dir, file);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        size_t len = 0;
        for (;;) {
                ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        break;
                len += (size_t)n;
                if (len == sizeof(buf) - 1)
                        return -EINVAL;
        }
        buf[len] = 0;
        char *nl = strchr(buf, '\n');
        if (!nl || nl - buf != IMAGE_HASH_LEN || strspn(buf, "0123456789abcdef") != IMAGE_HASH_LEN)
                return -EINVAL;
        char *ref_text = nl + 1, *end = strchr(ref_text, '\n');
        if (!end || end[1] || end == ref_text || (size_t)(end - ref_text) >= IMAGE_REF_MAX)
                return -EINVAL;
        *end = 0;
        memcpy(hash, buf, IMAGE_HASH_LEN);
        hash[IMAGE_HASH_LEN] = 0;
        snprintf(ref, IMAGE_REF_MAX, "%s", ref_text);
        return 0;
}

int image_key_get(struct image_store *s, const char *key, char hash[IMAGE_HASH_LEN + 1],
                  char ret_key[IMAGE_REF_MAX])
{
        char norm[IMAGE_REF_MAX], file[IMAGE_HASH_LEN + 2], stored[IMAGE_REF_MAX];
        if (!image_key_is_ref(key)) {
                if (image_name_check(key) < 0)
                        return -EINVAL;
                int r = image_name_get(s, key, hash);
                if (r == 0 && ret_key)
                        snprintf(ret_key, IMAGE_REF_MAX, "%s", key);
                return r;
        }
        int r = image_ref_normalize(key, norm, NULL);
        if (r < 0 || (r = entry_name(norm, file)) < 0 || (r = read_entry(s, file, hash, stored)) < 0)
                return r;
        if (strcmp(stored, norm) != 0)
                return -EINVAL; /* an entry under the wrong file name */
        if (ret_key)
                snprintf(ret_key, IMAGE_REF_MAX, "%s", norm);
        return 0;
}

int image_key_set(struct image_store *s, const char *key, const char *hash, struct ak_error *err)
{
        char norm[IMAGE_REF_MAX], file[IMAGE_HASH_LEN + 2], path[PATH_MAX];
        char line[IMAGE_HASH_LEN + 1 + IMAGE_REF_MAX + 2];
        if (!image_key_is_ref(key))
                return image_name_set(s, key, hash, err);
        int r = image_ref_normalize(key, norm, err);
        if (r < 0)
                return r;
        if ((r = entry_name(norm, file)) < 0)
                return ak_error_errno(err, r, "hash reference %s", norm);
        pathfmt(path, sizeof(path), "%s/names/%s", s->dir, file);
        snprintf(line, sizeof(line), "%s\n%s\n", hash, norm);
        return image_write_file_atomic(path, line, strlen(line), err);
}

int image_key_path(struct image_store *s, const char *key, char ret[PATH_MAX])
{
        char norm[IMAGE_REF_MAX], file[IMAGE_HASH_LEN + 2];
        if (!image_key_is_ref(key)) {
                if (image_name_check(key) < 0)
                        return -EINVAL;
                pathfmt(ret, PATH_MAX, "%s/names/%s", s->dir, key);
                return 0;
        }
        int r = image_ref_normalize(key, norm, NULL);
        if (r < 0 || (r = entry_name(norm, file)) < 0)
                return r;
        pathfmt(ret, PATH_MAX, "%s/names/%s", s->dir, file);
        return 0;
}

int image_names_entry(struct image_store *s, const char *file, char hash[IMAGE_HASH_LEN + 1],
                      char ret_key[IMAGE_REF_MAX])
{
        if (file[0] == '@') {
                char expect[IMAGE_HASH_LEN + 2];
                int r = read_entry(s, file, hash, ret_key);
                if (r < 0)
                        return r;
                /* The file's name must be its reference's, or lookups would miss it. */
                if (entry_name(ret_key, expect) < 0 || strcmp(expect, file) != 0)
                        return -EINVAL;
                return 0;
        }
        if (image_name_check(file) < 0)
                return -EINVAL;
        int r = image_name_get(s, file, hash);
        if (r == 0)
                snprintf(ret_key, IMAGE_REF_MAX, "%s", file);
        return r;
}
