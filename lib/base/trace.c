/* Request ids and traceparent: checks and the thread's context (trace.h). */
#include <errno.h>
#include <string.h>

#include "lib/base/uuid.h"
#include "lib/base/trace.h"

static __thread char cur_request_id[AK_REQUEST_ID_MAX + 1];
static __thread char cur_traceparent[AK_TRACEPARENT_LEN + 1];
/* The process's (ak_trace_set_default), for threads with none of their own. */
static char def_request_id[AK_REQUEST_ID_MAX + 1];
static char def_traceparent[AK_TRACEPARENT_LEN + 1];

bool ak_request_id_valid(const char *s, size_t len)
{
        if (!s || len == 0 || len > AK_REQUEST_ID_MAX)
                return false;
        for (size_t i = 0; i < len; i++) {
                char c = s[i];
                bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                          c == '.' || c == '_' || c == ':' || c == '-';
                if (!ok)
                        return false;
        }
        return true;
}

/* n lowercase hex digits at s; *nonzero says whether any is not '0'. */
static bool lower_hex(const char *s, size_t n, bool *nonzero)
{
        bool nz = false;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];
                if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
                        return false;
                nz |= c != '0';
        }
        *nonzero = nz;
        return true;
}

bool ak_traceparent_valid(const char *s, size_t len)
{
        /* 00-TTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTT-PPPPPPPPPPPPPPPP-FF */
        bool nz;
        if (!s || len != AK_TRACEPARENT_LEN)
                return false;
        if (s[0] != '0' || s[1] != '0' || s[2] != '-' || s[35] != '-' || s[52] != '-')
                return false;
        if (!lower_hex(s + 3, 32, &nz) || !nz)
                return false;
        if (!lower_hex(s + 36, 16, &nz) || !nz)
                return false;
        return lower_hex(s + 53, 2, &nz);
}

int ak_request_id_new(char ret[AK_REQUEST_ID_MAX + 1])
{
        char id[AK_UUID_LEN + 1];
        int r = ak_uuid7(id);
        if (r < 0)
                return r;
        memcpy(ret, id, sizeof(id));
        return 0;
}

static int set(char id_out[AK_REQUEST_ID_MAX + 1], char tp_out[AK_TRACEPARENT_LEN + 1], const char *request_id,
               const char *traceparent)
{
        if (!request_id || !*request_id) {
                id_out[0] = tp_out[0] = '\0';
                return 0;
        }
        size_t n = strlen(request_id);
        if (!ak_request_id_valid(request_id, n))
                return -EINVAL;
        memcpy(id_out, request_id, n + 1);
        if (traceparent && ak_traceparent_valid(traceparent, strlen(traceparent)))
                memcpy(tp_out, traceparent, AK_TRACEPARENT_LEN + 1);
        else
                tp_out[0] = '\0';
        return 0;
}

int ak_trace_set(const char *request_id, const char *traceparent)
{
        return set(cur_request_id, cur_traceparent, request_id, traceparent);
}

int ak_trace_set_default(const char *request_id, const char *traceparent)
{
        return set(def_request_id, def_traceparent, request_id, traceparent);
}

void ak_trace_clear(void)
{
        cur_request_id[0] = '\0';
        cur_traceparent[0] = '\0';
}

const char *ak_trace_request_id(void)
{
        if (cur_request_id[0])
                return cur_request_id;
        return def_request_id[0] ? def_request_id : NULL;
}

const char *ak_trace_traceparent(void)
{
        /* The traceparent that goes with the id in use, never another's. */
        if (cur_request_id[0])
                return cur_traceparent[0] ? cur_traceparent : NULL;
        return def_traceparent[0] ? def_traceparent : NULL;
}
