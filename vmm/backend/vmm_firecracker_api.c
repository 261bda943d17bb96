/* Firecracker's API over its Unix socket (libcurl), the request bodies the
 * backend sends, fault messages, and the copy that stands in for a
 * copy-on-write disk. */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/base/cleanup.h"
#include "lib/json/json.h"
#include "lib/json/writer.h"
#include "vmm/backend/vmm_firecracker.h"
#include "vmm/backend/vmm_net.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result;

static void curl_init(void)
{
        curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct answer {
        char *buf;
        size_t len;
        bool too_big;
};

static size_t on_data(char *data, size_t size, size_t n, void *userdata)
{
        struct answer *a = userdata;
        size_t len = size * n;
        if (a->len + len > FC_API_MAX_RESPONSE) {
                a->too_big = true;
                return 0;
        }
        memcpy(a->buf + a->len, data, len);
        a->len += len;
        return len;
}

int fc_api_request(const char *sock, const char *method, const char *path, const char *body, int timeout_ms,
                   long *ret_status, char **ret_body, struct ak_error *err)
{
        char url[512];
        int r = 0;

        pthread_once(&curl_once, curl_init);
        if (curl_init_result != CURLE_OK)
                return ak_error_set(err, -EIO, "libcurl: %s", curl_easy_strerror(curl_init_result));
        if ((size_t)snprintf(url, sizeof(url), "http://localhost%s", path) >= sizeof(url))
                return ak_error_set(err, -ENAMETOOLONG, "API path %.64s...: too long", path);
        struct answer a = { .buf = malloc(FC_API_MAX_RESPONSE + 1) };
        CURL *c = curl_easy_init();
        struct curl_slist *h = NULL;
        /* No "Expect: 100-continue": Firecracker's HTTP server does not do it. */
        const char *headers[] = { "Content-Type: application/json", "Accept: application/json", "Expect:" };
        for (size_t i = 0; i < AK_ARRAY_SIZE(headers); i++) {
                struct curl_slist *l = curl_slist_append(h, headers[i]);
                if (!l) {
                        r = -ENOMEM;
                        break;
                }
                h = l;
        }
        if (!a.buf || !c || r < 0) {
                r = ak_error_set(err, -ENOMEM, "out of memory");
                goto out;
        }
        curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, sock);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        if (body)
                curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(timeout_ms > 0 ? timeout_ms : 1));
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &a);
        CURLcode cr = curl_easy_perform(c);
        if (cr != CURLE_OK) {
                r = ak_error_set(err, a.too_big ? -EMSGSIZE : cr == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : -EIO,
                                 "%s %s on %s: %s", method, path, sock,
                                 a.too_big ? "answer larger than 64 KiB" : curl_easy_strerror(cr));
                goto out;
        }
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, ret_status);
        a.buf[a.len] = 0;
        *ret_body = TAKE_PTR(a.buf);
out:
        curl_slist_free_all(h);
        if (c)
                curl_easy_cleanup(c);
        free(a.buf);
        return r;
}

int fc_fault_message(const char *body, size_t len, char *buf, size_t size)
{
        struct json_value *v = NULL;
        if (size == 0 || json_parse(body, len, &v, NULL) < 0)
                return -EINVAL;
        const struct json_value *m = json_value_type(v) == JSON_OBJECT ? json_object_get(v, "fault_message") : NULL;
        if (!m || json_value_type(m) != JSON_STRING) {
                json_value_free(v);
                return -EINVAL;
        }
        size_t n;
        const char *s = json_string(m, &n);
        if (n >= size)
                n = size - 1;
        for (size_t i = 0; i < n; i++)
                buf[i] = (unsigned char)s[i] < 0x20 && s[i] != '\t' ? '?' : s[i];
        buf[n] = 0;
        json_value_free(v);
        return 0;
}

int fc_api_put(const char *sock, const char *path, const char *body, int timeout_ms, struct ak_error *err)
{
        _cleanup_free_ char *answer = NULL;
        char fault[1024];
        long status = 0;
        int r = fc_api_request(sock, "PUT", path, body, timeout_ms, &status, &answer, err);
        if (r < 0)
                return r;
        if (status >= 200 && status < 300)
                return 0;
        if (fc_fault_message(answer, strlen(answer), fault, sizeof(fault)) < 0)
                snprintf(fault, sizeof(fault), "(no fault_message) %.200s", answer);
        return ak_error_set(err, -EIO, "PUT %s: HTTP %ld: %s", path, status, fault);
}

/* Kernel parameters go before the " -- " that starts init's arguments. */
static int boot_args(const char *cmdline, char **ret)
{
        static const char ours[] = "console=ttyS0 reboot=k pci=off";
        const char *cl = cmdline ? cmdline : "";
        const char *dashes = strstr(cl, " -- ");
        int n = dashes ? asprintf(ret, "%s %.*s%s", ours, (int)(dashes - cl), cl, dashes)
                       : asprintf(ret, "%s%s%s", ours, *cl ? " " : "", cl);
        return n < 0 ? -ENOMEM : 0;
}

static void key_str(struct json_writer *w, const char *k, const char *v)
{
        json_writer_key(w, k, strlen(k));
        json_writer_string(w, v, strlen(v));
}

static void key_u64(struct json_writer *w, const char *k, uint64_t v)
{
        json_writer_key(w, k, strlen(k));
        json_writer_u64(w, v);
}

static void key_bool(struct json_writer *w, const char *k, bool v)
{
        json_writer_key(w, k, strlen(k));
        json_writer_bool(w, v);
}

int fc_config_calls(const struct vmm_config *cfg, const char *kernel, const char *root,
                    const char *ret_paths[FC_MAX_CALLS], char *ret_bodies[FC_MAX_CALLS])
{
        struct json_writer *w[FC_MAX_CALLS] = { 0 };
        _cleanup_free_ char *args = NULL;
        int n = 0, r;

        if ((r = boot_args(cfg->cmdline, &args)) < 0)
                return r;
        for (int i = 0; i < FC_MAX_CALLS; i++)
                if ((r = json_writer_new(0, 16 * 1024, &w[i])) < 0)
                        goto out;
        ret_paths[n] = "/machine-config";
        json_writer_begin_object(w[n]);
        key_u64(w[n], "vcpu_count", cfg->vcpus);
        key_u64(w[n], "mem_size_mib", cfg->memory_mb);
        json_writer_end_object(w[n++]);

        ret_paths[n] = "/boot-source";
        json_writer_begin_object(w[n]);
        key_str(w[n], "kernel_image_path", kernel);
        key_str(w[n], "initrd_path", cfg->initrd);
        key_str(w[n], "boot_args", args);
        json_writer_end_object(w[n++]);

        if (root) {
                ret_paths[n] = "/drives/rootfs";
                json_writer_begin_object(w[n]);
                key_str(w[n], "drive_id", "rootfs");
                key_str(w[n], "path_on_host", root);
                key_bool(w[n], "is_root_device", true);
                key_bool(w[n], "is_read_only", cfg->root_mode == VMM_DISK_RO);
                json_writer_end_object(w[n++]);
        }
        if (cfg->network) {
                /* The tap vmm_net made in the namespace Firecracker runs in;
                 * a fixed, locally administered MAC (each VM is alone on
                 * its link). */
                ret_paths[n] = "/network-interfaces/" FC_NET_IFACE;
                json_writer_begin_object(w[n]);
                key_str(w[n], "iface_id", FC_NET_IFACE);
                key_str(w[n], "host_dev_name", VMM_NET_TAP_NAME);
                key_str(w[n], "guest_mac", FC_GUEST_MAC);
                json_writer_end_object(w[n++]);
        }
        ret_paths[n] = "/vsock";
        json_writer_begin_object(w[n]);
        key_u64(w[n], "guest_cid", cfg->guest_cid);
        key_str(w[n], "uds_path", cfg->vsock_uds);
        json_writer_end_object(w[n++]);

        ret_paths[n] = "/actions";
        json_writer_begin_object(w[n]);
        key_str(w[n], "action_type", "InstanceStart");
        json_writer_end_object(w[n++]);

        for (int i = 0; i < n; i++) {
                size_t len;
                if ((r = json_writer_finish(w[i], &ret_bodies[i], &len)) < 0) {
                        while (i > 0)
                                free(ret_bodies[--i]);
                        goto out;
                }
        }
        r = n;
out:
        for (int i = 0; i < FC_MAX_CALLS; i++)
                json_writer_free(w[i]);
        return r;
}

int fc_copy_disk(const char *src, const char *dst, struct ak_error *err)
{
        _cleanup_close_ int in = open(src, O_RDONLY | O_CLOEXEC);
        if (in < 0)
                return ak_error_errno(err, -errno, "open %s", src);
        struct stat st;
        if (fstat(in, &st) < 0)
                return ak_error_errno(err, -errno, "stat %s", src);
        _cleanup_close_ int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (out < 0)
                return ak_error_errno(err, -errno, "create %s", dst);
        if (ioctl(out, FICLONE, in) == 0)
                return 0;
        /* No shared extents here: copy the data, skip the holes. */
        _cleanup_free_ char *buf = malloc(1 << 20);
        if (!buf || ftruncate(out, st.st_size) < 0)
                goto fail;
        off_t at = 0;
        while (at < st.st_size) {
                off_t data = lseek(in, at, SEEK_DATA);
                if (data < 0 && errno == ENXIO)
                        break; /* only a hole is left */
                off_t hole = data < 0 ? -1 : lseek(in, data, SEEK_HOLE);
                if (data < 0 || hole < 0)
                        goto fail;
                for (at = data; at < hole;) {
                        size_t want = hole - at > (1 << 20) ? (1 << 20) : (size_t)(hole - at);
                        errno = 0;
                        ssize_t n = pread(in, buf, want, at);
                        if (n <= 0 || pwrite(out, buf, (size_t)n, at) != n) {
                                if (!errno)
                                        errno = EIO;
                                goto fail;
                        }
                        at += n;
                }
        }
        return 0;
fail:;
        int e = errno ? errno : ENOMEM;
        unlink(dst);
        return ak_error_errno(err, -e, "copy %s to %s", src, dst);
}
