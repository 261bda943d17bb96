#include <string.h>

#include "cli/pull_print.h"

static void str(struct json_writer *w, const char *k, const char *v)
{
        json_writer_key(w, k, strlen(k));
        json_writer_string(w, v ? v : "", v ? strlen(v) : 0);
}

void cli_pull_json(struct json_writer *w, const Ak__V1__ImagePull *p)
{
        json_writer_begin_object(w);
        str(w, "image", p->image);
        str(w, "state", p->state);
        json_writer_key(w, "bytes_done", 10);
        json_writer_u64(w, p->bytes_done);
        json_writer_key(w, "bytes_total", 11);
        json_writer_u64(w, p->bytes_total);
        str(w, "error", p->error);
        json_writer_end_object(w);
}

void cli_pull_print(FILE *f, const Ak__V1__ImagePull *p)
{
        fprintf(f, "%s: %s, %llu of %llu bytes%s%s", p->image ? p->image : "", p->state ? p->state : "",
                (unsigned long long)p->bytes_done, (unsigned long long)p->bytes_total,
                p->error && *p->error ? ": " : "", p->error ? p->error : "");
}
