/* AuditEvent -> an OCSF 1.3.0 event (https://schema.ocsf.io/1.3.0).
 *
 * agentkernel labels every event class 3001 / category 3, which in OCSF is
 * the deprecated Account Change class of Identity & Access Management; here
 * each event gets the class that describes it:
 *
 *   network_denied                   Network Activity (4001, Network Activity 4),
 *                                    activity Refuse (5), disposition Blocked
 *   command_executed                 Process Activity (1007, System Activity 1),
 *                                    activity Launch (1)
 *   sandbox_* lifecycle, file_*,     API Activity (6003, Application Activity 6):
 *   and every other type             Create 1 / Read 2 / Update 3 / Delete 4 /
 *                                    Other 99
 *   policy_decision,                 API Activity (6003) with the decision in
 *   policy_violation                 actor.authorizations[] (see ocsf.c for why)
 *
 * type_uid = class_uid * 100 + activity_id; time is epoch milliseconds;
 * severity_id is the event's (1..6, else 99 Other); status_id is Success (1)
 * for permit/info and Failure (2) for deny/error; metadata carries the
 * product, the schema version, the event's uid and original time; what has
 * no OCSF attribute goes under `unmapped`. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/audit/event.h"

#ifdef __cplusplus
extern "C" {
#endif

#define OCSF_SCHEMA_VERSION "1.3.0"

#define OCSF_CLASS_PROCESS_ACTIVITY 1007
#define OCSF_CLASS_API_ACTIVITY 6003
#define OCSF_CLASS_NETWORK_ACTIVITY 4001

struct json_writer;

/* The class and activity an event maps to (for tests and tools). */
void ocsf_classify(const struct audit_event *e, unsigned *ret_class_uid, unsigned *ret_activity_id);

/* network_denied (ocsf_net.c): Network Activity (4001), activity Refuse
 * (5), disposition Blocked. */
bool ocsf_is_network_event(const struct audit_event *e);
void ocsf_write_network(struct json_writer *w, const struct audit_event *e, int64_t time_ms);

/* Writes the OCSF event as one JSON value into w. */
void ocsf_write_event(struct json_writer *w, const struct audit_event *e);

/* The same as a malloc'd compact JSON text. Returns 0, -ENOMEM, -E2BIG. */
int ocsf_event_to_json(const struct audit_event *e, char **ret, size_t *ret_len);

#ifdef __cplusplus
}
#endif
