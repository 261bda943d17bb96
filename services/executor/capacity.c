#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/base/cleanup.h"
#include "lib/base/pathfmt.h"
#include "services/executor/capacity.h"

/* The value of the line "<key> <number> kB" in text, in kB. */
static int meminfo_field(const char *text, size_t len, const char *key, uint64_t *ret)
{
        size_t klen = strlen(key);
        for (size_t i = 0; i + klen < len; i++) {
                if ((i > 0 && text[i - 1] != '\n') || memcmp(text + i, key, klen) != 0)
                        continue;
                size_t j = i + klen;
                while (j < len && text[j] == ' ')
                        j++;
                uint64_t v = 0;
                size_t digits = 0;
                for (; j < len && text[j] >= '0' && text[j] <= '9' && digits < 19; j++, digits++)
                        v = v * 10 + (uint64_t)(text[j] - '0');
                if (!digits || (j < len && text[j] >= '0' && text[j] <= '9'))
                        return -EINVAL;
                *ret = v;
                return 0;
        }
        return -EINVAL;
}

int capacity_parse_meminfo(const char *text, size_t len, struct capacity_probe *p)
{
        uint64_t total, avail;
        if (meminfo_field(text, len, "MemTotal:", &total) < 0 || meminfo_field(text, len, "MemAvailable:", &avail) < 0)
                return -EINVAL;
        p->mem_total_kib = total;
        p->mem_available_kib = avail;
        return 0;
}

int capacity_parse_psi(const char *text, size_t len, double *ret_full_avg10)
{
        static const char key[] = "full avg10=";
        const size_t klen = sizeof(key) - 1;
        /* The "full" line is the second; find it at the start of a line. */
        size_t at = 0;
        while (at + klen <= len && memcmp(text + at, key, klen) != 0) {
                const char *nl = memchr(text + at, '\n', len - at);
                if (!nl)
                        return -EINVAL;
                at = (size_t)(nl - text) + 1;
        }
        if (at + klen > len)
                return -EINVAL;
        text += at;
        len -= at;
        /* "12.34": at most 3 integer digits (it is a percentage) and 2 decimals. */
        size_t i = klen, digits = 0;
        double v = 0;
        for (; i < len && text[i] >= '0' && text[i] <= '9' && digits < 3; i++, digits++)
                v = v * 10 + (text[i] - '0');
        if (!digits || i >= len || text[i] != '.')
                return -EINVAL;
        double scale = 0.1;
        size_t dec = 0;
        for (i++; i < len && text[i] >= '0' && text[i] <= '9' && dec < 2; i++, dec++, scale /= 10)
                v += (text[i] - '0') * scale;
        if (!dec || v > 100.0)
                return -EINVAL;
        *ret_full_avg10 = v;
        return 0;
}

/* The first CAPACITY_PROC_MAX bytes of path into buf: their count, or -errno. */
static ssize_t read_small(const char *path, char *buf)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        size_t got = 0;
        while (got < CAPACITY_PROC_MAX) {
                ssize_t n = read(fd, buf + got, CAPACITY_PROC_MAX - got);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        break;
                got += (size_t)n;
        }
        return (ssize_t)got;
}

int capacity_probe_read(const char *proc, struct capacity_probe *ret, struct ak_error *err)
{
        char path[256];
        struct capacity_probe p = { 0 };
        _cleanup_free_ char *buf = malloc(CAPACITY_PROC_MAX);
        if (!buf)
                return ak_error_set(err, -ENOMEM, "out of memory");
        if (!proc)
                proc = "/proc";
        if (pathfmt(path, sizeof(path), "%s/meminfo", proc) < 0)
                return ak_error_set(err, -ENAMETOOLONG, "%s: path too long", proc);
        ssize_t n = read_small(path, buf);
        if (n < 0)
                return ak_error_errno(err, (int)n, "read %s", path);
        if (capacity_parse_meminfo(buf, (size_t)n, &p) < 0)
                return ak_error_set(err, -EINVAL, "%s: no MemTotal/MemAvailable lines (a kernel older than 3.14?)",
                                    path);
        if (pathfmt(path, sizeof(path), "%s/pressure/memory", proc) < 0)
                return ak_error_set(err, -ENAMETOOLONG, "%s: path too long", proc);
        n = read_small(path, buf);
        if (n >= 0) {
                if (capacity_parse_psi(buf, (size_t)n, &p.psi_full_avg10) < 0)
                        return ak_error_set(err, -EINVAL, "%s: no \"full avg10=\" line", path);
                p.has_psi = true;
        } else if (n != -ENOENT && n != -EOPNOTSUPP) {
                return ak_error_errno(err, (int)n, "read %s", path);
        }
        *ret = p;
        return 0;
}

uint64_t capacity_sandbox_host_mb(unsigned memory_mb, bool tcg, bool ak_kernel)
{
        uint64_t idle = ak_kernel ? CAPACITY_IDLE_GUEST_AK_KERNEL_MB : CAPACITY_IDLE_GUEST_MB;
        uint64_t guest = memory_mb < idle ? memory_mb : idle;
        if (!tcg)
                return guest + CAPACITY_VMM_OVERHEAD_KVM_MB;
        return guest + (ak_kernel ? CAPACITY_VMM_OVERHEAD_TCG_AK_KERNEL_MB : CAPACITY_VMM_OVERHEAD_TCG_MB);
}

uint64_t capacity_offer_guest_mb(uint64_t mem_total_kib, unsigned default_memory_mb, bool tcg, bool ak_kernel)
{
        uint64_t usable_mb = mem_total_kib / 1024 * (100 - CAPACITY_RESERVE_PERCENT) / 100;
        uint64_t per = capacity_sandbox_host_mb(default_memory_mb, tcg, ak_kernel);
        return usable_mb / per * default_memory_mb;
}

int capacity_pressure_check(const struct capacity_probe *p, struct ak_error *err)
{
        uint64_t reserve_kib = p->mem_total_kib / 100 * CAPACITY_RESERVE_PERCENT;
        if (p->mem_available_kib < reserve_kib)
                return ak_error_set(err, -EBUSY,
                                    "memory pressure: %llu MiB available of %llu MiB, under the %d%% kept free",
                                    (unsigned long long)(p->mem_available_kib / 1024),
                                    (unsigned long long)(p->mem_total_kib / 1024), CAPACITY_RESERVE_PERCENT);
        if (p->has_psi && p->psi_full_avg10 >= CAPACITY_PSI_FULL_AVG10_MAX)
                return ak_error_set(err, -EBUSY,
                                    "memory pressure: all running tasks stalled on memory %.2f%% of the last 10 s "
                                    "(PSI full avg10; the limit is %.0f%%)",
                                    p->psi_full_avg10, CAPACITY_PSI_FULL_AVG10_MAX);
        return 0;
}
