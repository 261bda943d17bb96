/* The ak.v1.Auditor gRPC service (protos/ak/v1/auditor.proto) over an
 * auditor: Emit, Tail, GetStatus. */
#pragma once

#include "lib/base/error.h"
#include "lib/rpc/rpc.h"
#include "services/auditor/auditor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Adds the service to srv (before rpc_server_start). The auditor must
 * outlive the server (shut the server down first). */
int auditor_server_add(struct rpc_server *srv, struct auditor *a, struct ak_error *err);

#ifdef __cplusplus
}
#endif
