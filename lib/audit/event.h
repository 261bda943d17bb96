/* Audit events: agentkernel 0.18.1's AuditEvent (seeds/audit_stream.rs) as a
 * C struct, its serde_json bytes, and the protobuf form of protos/ak/v1/audit.proto.
 *
 * JSON written here is serde_json's compact serialization of the Rust struct:
 * fields in declaration order, Option::None as null, resource.attributes as an
 * object with its keys sorted (serde_json::Value maps are BTreeMaps; the seed's
 * HashMap order is unspecified, sorted is one of its orders).
 *
 * JSON read here follows serde's derived Deserialize: unknown fields ignored,
 * duplicate fields an error, missing fields with #[serde(default)] defaulted,
 * other missing fields an error, Option fields accept null.
 *
 * Limits (checked on every way in): every string at most AUDIT_MAX_STRING
 * bytes of valid UTF-8 without NUL (uid at most AUDIT_MAX_UID), attributes at
 * most AUDIT_MAX_ATTRIBUTES bytes of JSON, a whole event at most
 * AUDIT_MAX_EVENT_JSON bytes of JSON.
 *
 * Thread-safety: events are plain data; functions here keep no state except
 * the cached hostname (computed once, thread-safely). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/base/error.h"
#include "lib/base/version.h"
#include "protos/ak/v1/audit.pb-c.h"

#ifdef __cplusplus
extern "C" {
#endif

#define AUDIT_MAX_STRING 4096
#define AUDIT_MAX_UID 128
#define AUDIT_MAX_ATTRIBUTES (64 * 1024)
#define AUDIT_MAX_EVENT_JSON (256 * 1024)

/* agentkernel's defaults (serde default functions of the seed). */
#define AUDIT_DEFAULT_CLASS_UID 3001
#define AUDIT_DEFAULT_CATEGORY_UID 3
#define AUDIT_DEFAULT_SEVERITY_ID 1
#define AUDIT_DEFAULT_PRODUCT_NAME "agentkernel"
#define AUDIT_DEFAULT_VENDOR_NAME "agentkernel"
/* env!("CARGO_PKG_VERSION") of the agentkernel release we stand in for. */
#define AUDIT_DEFAULT_PRODUCT_VERSION AK_AGENTKERNEL_COMPAT

/* A VM's network refused a connection or packet (the executor's; resource
 * the sandbox, attributes {destination, port, protocol, rule, name,
 * suppressed}; OCSF: Network Activity 4001, Refuse, Blocked). */
#define AUDIT_TYPE_NETWORK_DENIED "network_denied"

/* Same numbers as ak.v1.EventOutcome. */
enum audit_outcome {
        AUDIT_OUTCOME_PERMIT = 1,
        AUDIT_OUTCOME_DENY = 2,
        AUDIT_OUTCOME_ERROR = 3,
        AUDIT_OUTCOME_INFO = 4,
};

/* Strings are malloc'd and owned by the event; NULL means None. */
struct audit_actor {
        char *user_id;
        char *email;
        char *org_id;
        char *ip_address;
};

struct audit_resource {
        char *resource_type;
        char *resource_id;
        char *attributes;       /* compact JSON object, keys sorted; never NULL */
};

struct audit_policy {
        char *policy_id;
        char *policy_name;
        bool has_policy_version;
        uint64_t policy_version;
};

struct audit_metadata {
        char *product_name;
        char *vendor_name;
        char *product_version;
        char *hostname;
};

struct audit_event {
        char *time;             /* RFC 3339 as chrono's to_rfc3339 writes it */
        uint32_t class_uid;
        uint32_t category_uid;
        uint32_t severity_id;
        char *type_name;
        char *uid;
        char *action;
        enum audit_outcome outcome;
        struct audit_actor *actor;          /* NULL: None */
        struct audit_resource *resource;    /* NULL: None */
        struct audit_policy *policy;        /* NULL: None */
        struct audit_metadata metadata;
        /* ak's additions, NULL when none; written after metadata only when
         * set, so agentkernel's events keep their bytes and its readers
         * (serde: unknown fields ignored) skip them. Valid per
         * lib/base/trace.h, checked on every way in. */
        char *request_id;
        char *traceparent;
};

/* Frees everything the event owns, then the event. NULL is a no-op. */
void audit_event_free(struct audit_event *e);

/* The seed's new_audit_event(): time now, a fresh UUIDv4 uid, agentkernel's
 * class/category, severity from the outcome, default metadata with this
 * host's name. Returns 0, -EINVAL (outcome out of range), -ENOMEM. */
int audit_event_new(const char *type_name, const char *action, enum audit_outcome outcome,
                    struct audit_event **ret);

/* Severity the seed gives an outcome: permit/info 1, deny 3, error 4. */
uint32_t audit_severity_for_outcome(enum audit_outcome outcome);

/* "permit", "deny", "error", "info"; NULL outside the enum. */
const char *audit_outcome_name(enum audit_outcome outcome);
/* The inverse; returns 0 or -EINVAL. */
int audit_outcome_from_name(const char *name, enum audit_outcome *ret);

/* ---- JSON --------------------------------------------------------------- */

struct json_writer;

/* Writes the event as one JSON value into w (errors are w's, see writer.h). */
void audit_event_write_json(struct json_writer *w, const struct audit_event *e);

/* The event's compact serde_json bytes, malloc'd and NUL-terminated.
 * Returns 0, -ENOMEM, -E2BIG (over AUDIT_MAX_EVENT_JSON). */
int audit_event_to_json(const struct audit_event *e, char **ret, size_t *ret_len);

/* Parses one AuditEvent (serde semantics, see above). A missing `metadata`
 * takes EventMetadata::default() (this host's name). Errors are -EINVAL with
 * err saying which field and why ("outcome: unknown variant `x`, expected one
 * of permit, deny, error, info"), -E2BIG, -ENOMEM. */
int audit_event_from_json(const char *text, size_t len, struct audit_event **ret, struct ak_error *err);

/* Canonical attributes (ak.v1.ResourceInfo.attributes_json): the JSON object
 * text in, the compact sorted-key text out (a duplicate key keeps its last
 * value, as serde's map visitors do). NULL or "" in gives "{}". -EINVAL (err
 * "resource.attributes_json: ...") if it is not one object or exceeds
 * AUDIT_MAX_ATTRIBUTES. */
int audit_attributes_canonical(const char *text, size_t len, char **ret, struct ak_error *err);

/* ---- protobuf ----------------------------------------------------------- */

/* Builds an event from its protobuf form, validating it and filling the
 * auditor's defaults: time "" -> now, class_uid 0 -> 3001, category_uid 0 ->
 * 3, severity_id 0 -> the seed's mapping from the outcome, uid "" -> a fresh
 * UUIDv7, metadata absent -> EventMetadata::default() (this host's name),
 * metadata product/vendor/version "" -> the defaults. Rejected with -EINVAL
 * and err naming the field: empty type_name or action, outcome unspecified or
 * unknown, time not RFC 3339, strings over the limits or not UTF-8,
 * attributes_json not one JSON object. */
int audit_event_from_pb(const Ak__V1__AuditEvent *pb, struct audit_event **ret, struct ak_error *err);

/* Storage for the protobuf view of an event. */
struct audit_event_pb {
        Ak__V1__AuditEvent event;
        Ak__V1__ActorInfo actor;
        Ak__V1__ResourceInfo resource;
        Ak__V1__PolicyInfo policy;
        Ak__V1__EventMetadata metadata;
};

/* Fills *out with a view of e: its strings are e's (not copied), so *out is
 * valid while e is and is never freed itself. Pack or send out->event. */
void audit_event_to_pb(const struct audit_event *e, struct audit_event_pb *out);

/* ---- helpers ------------------------------------------------------------ */

#define AUDIT_UUID_LEN 36
#define AUDIT_TIME_MAX 40

/* Now, as chrono's Utc::now().to_rfc3339(): "2026-01-02T03:04:05.123456789+00:00"
 * (fraction of 0, 3, 6 or 9 digits, as few as hold it exactly). */
void audit_time_now(char ret[AUDIT_TIME_MAX]);
/* The same for a given instant. */
void audit_time_format(int64_t sec, uint32_t nsec, char ret[AUDIT_TIME_MAX]);
/* Parses RFC 3339 ("T" or "t" or " ", "Z" or ±hh:mm, any fraction) into
 * milliseconds since the epoch (floored). Returns 0 or -EINVAL. */
int audit_time_parse_ms(const char *s, int64_t *ret_ms);

/* A random UUIDv4 as lowercase hyphenated text (UUIDv7: ak_uuid7 in
 * lib/base/uuid.h). Returns 0 or -errno (getrandom). */
int audit_uuid_v4(char ret[AUDIT_UUID_LEN + 1]);

/* The seed's hostname(): $HOSTNAME, else the kernel's host name; NULL when
 * neither is known. Static storage, computed once. */
const char *audit_hostname(void);

/* True if s[0..len) is valid UTF-8 without NUL. */
bool audit_utf8_valid(const char *s, size_t len);

#ifdef __cplusplus
}
#endif
