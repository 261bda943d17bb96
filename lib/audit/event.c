/* The AuditEvent model: construction with the seed's defaults, freeing, and
 * the small things events are made of (times, UUIDs, host name, UTF-8). */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "lib/audit/event.h"
#include "lib/audit/event_internal.h"

static void actor_free(struct audit_actor *a)
{
        if (!a)
                return;
        free(a->user_id);
        free(a->email);
        free(a->org_id);
        free(a->ip_address);
        free(a);
}

static void resource_free(struct audit_resource *r)
{
        if (!r)
                return;
        free(r->resource_type);
        free(r->resource_id);
        free(r->attributes);
        free(r);
}

static void policy_free(struct audit_policy *p)
{
        if (!p)
                return;
        free(p->policy_id);
        free(p->policy_name);
        free(p);
}

void audit_event_free(struct audit_event *e)
{
        if (!e)
                return;
        free(e->time);
        free(e->type_name);
        free(e->uid);
        free(e->action);
        actor_free(e->actor);
        resource_free(e->resource);
        policy_free(e->policy);
        free(e->metadata.product_name);
        free(e->metadata.vendor_name);
        free(e->metadata.product_version);
        free(e->metadata.hostname);
        free(e->request_id);
        free(e->traceparent);
        free(e);
}

uint32_t audit_severity_for_outcome(enum audit_outcome outcome)
{
        switch (outcome) {
        case AUDIT_OUTCOME_DENY:
                return 3;
        case AUDIT_OUTCOME_ERROR:
                return 4;
        default:
                return 1;
        }
}

static const char *const outcome_names[] = {
        [AUDIT_OUTCOME_PERMIT] = "permit",
        [AUDIT_OUTCOME_DENY] = "deny",
        [AUDIT_OUTCOME_ERROR] = "error",
        [AUDIT_OUTCOME_INFO] = "info",
};

const char *audit_outcome_name(enum audit_outcome outcome)
{
        if (outcome < AUDIT_OUTCOME_PERMIT || outcome > AUDIT_OUTCOME_INFO)
                return NULL;
        return outcome_names[outcome];
}

int audit_outcome_from_name(const char *name, enum audit_outcome *ret)
{
        for (int o = AUDIT_OUTCOME_PERMIT; o <= AUDIT_OUTCOME_INFO; o++)
                if (strcmp(name, outcome_names[o]) == 0) {
                        *ret = (enum audit_outcome)o;
                        return 0;
                }
        return -EINVAL;
}

int audit_metadata_default(struct audit_metadata *m)
{
        const char *host = audit_hostname();

        m->product_name = strdup(AUDIT_DEFAULT_PRODUCT_NAME);
        m->vendor_name = strdup(AUDIT_DEFAULT_VENDOR_NAME);
        m->product_version = strdup(AUDIT_DEFAULT_PRODUCT_VERSION);
        m->hostname = host ? strdup(host) : NULL;
        if (!m->product_name || !m->vendor_name || !m->product_version || (host && !m->hostname))
                return -ENOMEM;
        return 0;
}

int audit_event_new(const char *type_name, const char *action, enum audit_outcome outcome,
                    struct audit_event **ret)
{
        char now[AUDIT_TIME_MAX], uid[AUDIT_UUID_LEN + 1];
        struct audit_event *e;
        int r;

        if (!audit_outcome_name(outcome))
                return -EINVAL;
        r = audit_uuid_v4(uid);
        if (r < 0)
                return r;
        audit_time_now(now);
        e = calloc(1, sizeof(*e));
        if (!e)
                return -ENOMEM;
        e->time = strdup(now);
        e->class_uid = AUDIT_DEFAULT_CLASS_UID;
        e->category_uid = AUDIT_DEFAULT_CATEGORY_UID;
        e->severity_id = audit_severity_for_outcome(outcome);
        e->type_name = strdup(type_name);
        e->uid = strdup(uid);
        e->action = strdup(action);
        e->outcome = outcome;
        r = audit_metadata_default(&e->metadata);
        if (r < 0 || !e->time || !e->type_name || !e->uid || !e->action) {
                audit_event_free(e);
                return -ENOMEM;
        }
        *ret = e;
        return 0;
}

/* ---- time --------------------------------------------------------------- */

void audit_time_format(int64_t sec, uint32_t nsec, char ret[AUDIT_TIME_MAX])
{
        time_t t = (time_t)sec;
        struct tm tm;
        char frac[12] = "";

        gmtime_r(&t, &tm);
        /* chrono's SecondsFormat::AutoSi: as few of 0/3/6/9 digits as exact. */
        if (nsec == 0)
                frac[0] = '\0';
        else if (nsec % 1000000 == 0)
                snprintf(frac, sizeof(frac), ".%03" PRIu32, nsec / 1000000);
        else if (nsec % 1000 == 0)
                snprintf(frac, sizeof(frac), ".%06" PRIu32, nsec / 1000);
        else
                snprintf(frac, sizeof(frac), ".%09" PRIu32, nsec);
        /* The modulos only bound the widths for the compiler: gmtime's fields
         * are in range, and years past 9999 have no RFC 3339 form. */
        snprintf(ret, AUDIT_TIME_MAX, "%04u-%02u-%02uT%02u:%02u:%02u%s+00:00",
                 (unsigned)(tm.tm_year + 1900) % 10000u, (unsigned)(tm.tm_mon + 1) % 100u,
                 (unsigned)tm.tm_mday % 100u, (unsigned)tm.tm_hour % 100u, (unsigned)tm.tm_min % 100u,
                 (unsigned)tm.tm_sec % 100u, frac);
}

void audit_time_now(char ret[AUDIT_TIME_MAX])
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        audit_time_format(ts.tv_sec, (uint32_t)ts.tv_nsec, ret);
}

static bool digits(const char *s, int n, int *ret)
{
        int v = 0;

        for (int i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return false;
                v = v * 10 + (s[i] - '0');
        }
        *ret = v;
        return true;
}

static int64_t days_from_civil(int64_t y, int m, int d)
{
        /* Howard Hinnant's algorithm: days since 1970-01-01 (proleptic Gregorian). */
        y -= m <= 2;
        int64_t era = (y >= 0 ? y : y - 399) / 400;
        int64_t yoe = y - era * 400;
        int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
        int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + doe - 719468;
}

int audit_time_parse_ms(const char *s, int64_t *ret_ms)
{
        static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
        int y, mo, d, h, mi, sec, oh = 0, om = 0, ms = 0;
        size_t i = 19;

        if (strlen(s) < 20 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) ||
            s[7] != '-' || !digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
            !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' ||
            !digits(s + 17, 2, &sec))
                return -EINVAL;
        if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || sec > 60)
                return -EINVAL;
        if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
                return -EINVAL;
        if (s[i] == '.') {
                size_t n = 0;
                i++;
                while (s[i] >= '0' && s[i] <= '9') {
                        if (n < 3)
                                ms = ms * 10 + (s[i] - '0');
                        n++;
                        i++;
                }
                if (n == 0)
                        return -EINVAL;
                for (; n < 3; n++)
                        ms *= 10;
        }
        if (s[i] == 'Z' || s[i] == 'z') {
                i++;
        } else if (s[i] == '+' || s[i] == '-') {
                if (!digits(s + i + 1, 2, &oh) || s[i + 3] != ':' || !digits(s + i + 4, 2, &om) || oh > 23 ||
                    om > 59)
                        return -EINVAL;
                if (s[i] == '-') {
                        oh = -oh;
                        om = -om;
                }
                i += 6;
        } else {
                return -EINVAL;
        }
        if (s[i] != '\0')
                return -EINVAL;
        if (sec == 60)
                sec = 59; /* a leap second: chrono keeps it in the fraction */
        int64_t t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - (oh * 3600 + om * 60);
        *ret_ms = t * 1000 + ms;
        return 0;
}

/* ---- UUIDs -------------------------------------------------------------- */

static int random_bytes(uint8_t *b, size_t n)
{
        size_t got = 0;

        while (got < n) {
                ssize_t k = getrandom(b + got, n - got, 0);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                got += (size_t)k;
        }
        return 0;
}

static void uuid_text(const uint8_t b[16], char ret[AUDIT_UUID_LEN + 1])
{
        snprintf(ret, AUDIT_UUID_LEN + 1,
                 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2],
                 b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

int audit_uuid_v4(char ret[AUDIT_UUID_LEN + 1])
{
        uint8_t b[16];
        int r = random_bytes(b, sizeof(b));

        if (r < 0)
                return r;
        b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
        b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
        uuid_text(b, ret);
        return 0;
}

/* ---- host name, UTF-8 --------------------------------------------------- */

static char hostname_buf[256];
static bool hostname_known;
static pthread_once_t hostname_once = PTHREAD_ONCE_INIT;

static void hostname_init(void)
{
        const char *env = getenv("HOSTNAME");

        if (env && *env && strlen(env) < sizeof(hostname_buf) && audit_utf8_valid(env, strlen(env))) {
                strcpy(hostname_buf, env);
                hostname_known = true;
                return;
        }
        if (gethostname(hostname_buf, sizeof(hostname_buf) - 1) == 0) {
                hostname_buf[sizeof(hostname_buf) - 1] = '\0';
                hostname_known = audit_utf8_valid(hostname_buf, strlen(hostname_buf));
        }
}

const char *audit_hostname(void)
{
        pthread_once(&hostname_once, hostname_init);
        return hostname_known ? hostname_buf : NULL;
}

bool audit_utf8_valid(const char *str, size_t len)
{
        const unsigned char *s = (const unsigned char *)str;
        size_t i = 0;

        while (i < len) {
                unsigned c = s[i];
                size_t n;
                uint32_t cp;

                if (c == 0)
                        return false;
                if (c < 0x80) {
                        i++;
                        continue;
                }
                if (c >= 0xc2 && c <= 0xdf) {
                        n = 1;
                        cp = c & 0x1f;
                } else if (c >= 0xe0 && c <= 0xef) {
                        n = 2;
                        cp = c & 0x0f;
                } else if (c >= 0xf0 && c <= 0xf4) {
                        n = 3;
                        cp = c & 0x07;
                } else {
                        return false;
                }
                if (len - i <= n)
                        return false;
                for (size_t k = 1; k <= n; k++) {
                        if ((s[i + k] & 0xc0) != 0x80)
                                return false;
                        cp = (cp << 6) | (s[i + k] & 0x3f);
                }
                if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
                    (cp >= 0xd800 && cp <= 0xdfff))
                        return false;
                i += n + 1;
        }
        return true;
}
