/* json_writer_value: a parsed tree written back through a writer. */
#include <string.h>

#include "lib/json/json.h"
#include "lib/json/writer.h"

void json_writer_value(struct json_writer *w, const struct json_value *v)
{
        size_t len;
        const char *s;

        switch (json_value_type(v)) {
        case JSON_NULL:
                json_writer_null(w);
                break;
        case JSON_BOOL:
                json_writer_bool(w, json_bool(v));
                break;
        case JSON_NUMBER:
                s = json_number_text(v);
                json_writer_raw(w, s, strlen(s));
                break;
        case JSON_STRING:
                s = json_string(v, &len);
                json_writer_string(w, s, len);
                break;
        case JSON_ARRAY:
                json_writer_begin_array(w);
                for (size_t i = 0; i < json_array_size(v); i++)
                        json_writer_value(w, json_array_get(v, i));
                json_writer_end_array(w);
                break;
        case JSON_OBJECT:
                json_writer_begin_object(w);
                for (size_t i = 0; i < json_object_size(v); i++) {
                        s = json_object_key(v, i, &len);
                        json_writer_key(w, s, len);
                        json_writer_value(w, json_object_value(v, i));
                }
                json_writer_end_object(w);
                break;
        }
}
