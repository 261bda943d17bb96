/* libFuzzer: spool recovery from damaged segment files. The input becomes
 * one or two segment files; the spool must open, read only whole records
 * with increasing positions, take a new record after them, and keep it
 * across a reopen; and recovery repairs for good: the reopen finds nothing
 * to quarantine and reads the same records. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/spool/spool.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];

static void clear(void)
{
        DIR *d = opendir(dir);
        struct dirent *de;

        while (d && (de = readdir(d)))
                if (de->d_name[0] != '.') {
                        char p[512];
                        snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
                        unlink(p);
                }
        if (d)
                closedir(d);
}

static void remove_dir(void)
{
        clear();
        rmdir(dir);
}

static void put(const char *name, const uint8_t *head, size_t hlen, const uint8_t *data, size_t len)
{
        char p[128];
        snprintf(p, sizeof(p), "%s/%s", dir, name);
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
                abort();
        if ((hlen && write(fd, head, hlen) != (ssize_t)hlen) || (len && write(fd, data, len) != (ssize_t)len))
                abort();
        close(fd);
}

static void header(uint8_t h[16], uint64_t first)
{
        memcpy(h, "AKSPOOL1", 8);
        for (int i = 0; i < 8; i++)
                h[8 + i] = (uint8_t)(first >> (8 * i));
}

/* Reads everything; returns the last position read (0: none), whose record
 * must be want_last when given. */
static uint64_t read_all(struct spool *s, const char *want_last)
{
        static char last[64];
        struct spool_reader *r;
        uint64_t pos, prev = 0;
        const char *rec;
        size_t len, last_len = 0;
        int k;

        if (spool_reader_new(s, 0, &r) < 0)
                abort();
        while ((k = spool_reader_next(r, &pos, &rec, &len)) == 1) {
                if (pos <= prev || len == 0 || len > SPOOL_MAX_RECORD)
                        abort();
                prev = pos;
                last_len = len < sizeof(last) ? len : sizeof(last);
                memcpy(last, rec, last_len);
        }
        if (k < 0)
                abort();
        if (want_last && (last_len != strlen(want_last) || memcmp(last, want_last, last_len)))
                abort();
        spool_reader_free(r);
        return prev;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct spool_options o = { 1 << 20, 4096 };
        struct spool *s;
        struct spool_stats st;
        struct ak_error err;
        struct iovec iov = { (void *)"the record after", 16 };
        uint64_t first, last;
        uint8_t h[16];

        if (!dir[0]) {
                const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
                snprintf(dir, sizeof(dir), "%s/akspoolfuzz.XXXXXX", base);
                if (!mkdtemp(dir))
                        abort();
                atexit(remove_dir);
        }
        clear();
        if (size < 2)
                return 0;
        /* Byte 0: bit 0 a valid header first, bit 1 two segments (split at byte 1). */
        uint8_t mode = data[0];
        size_t split = data[1] * (size / 256 + 1);
        data += 2;
        size -= 2;
        if (split > size)
                split = size;
        if (mode & 2) {
                header(h, 1);
                put("00000000000000000001.seg", h, mode & 1 ? 16 : 0, data, split);
                header(h, 1000);
                put("00000000000000001000.seg", h, mode & 1 ? 16 : 0, data + split, size - split);
        } else {
                header(h, 1);
                put("00000000000000000001.seg", h, mode & 1 ? 16 : 0, data, size);
        }

        if (spool_open(dir, &o, &s, &err) != 0)
                abort();
        read_all(s, NULL);
        spool_stats(s, &st);
        uint64_t lost = st.lost_records;
        if (spool_append(s, &iov, 1, &first, &err) != 0)
                abort();
        last = read_all(s, "the record after");
        if (last != first)
                abort();
        spool_free(s);

        if (spool_open(dir, &o, &s, &err) != 0)
                abort();
        spool_stats(s, &st);
        if (st.truncated_bytes != 0 || st.corrupt_bytes != 0 || st.quarantine_files != 0 ||
            st.lost_records != lost || st.next_position != first + 1)
                abort();
        if (read_all(s, "the record after") != first)
                abort();
        spool_free(s);
        return 0;
}
