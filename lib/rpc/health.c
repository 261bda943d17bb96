/* grpc.health.v1.Health on every server: Check and Watch. The whole server
 * ("") and every added service are SERVING until rpc_server_set_serving(false)
 * or shutdown; unknown services are NOT_FOUND (Check) or SERVICE_UNKNOWN (Watch).
 * RPC_HEALTH_LIVENESS is SERVING whenever the health service answers. */
#include <string.h>
#include <unistd.h>

#include "lib/rpc/internal.h"
#include "protos/grpc/health/v1/health.pb-c.h"

static int health_status(struct rpc_server *srv, const char *service)
{
        if (strcmp(service, RPC_HEALTH_LIVENESS) == 0)
                return GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
        if (*service && !rpc_server_has_service(srv, service))
                return GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN;
        return rpc_server_serving(srv) ? GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
                                       : GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING;
}

static int health_check(struct rpc_call *call, const ProtobufCMessage *msg, void *data)
{
        const Grpc__Health__V1__HealthCheckRequest *req = (const void *)msg;
        int status = health_status(data, req->service);
        if (status == GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN)
                return rpc_call_fail(call, RPC_NOT_FOUND, "unknown service %s", req->service);
        Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
        resp.status = status;
        rpc_call_reply(call, &resp.base);
        return RPC_OK;
}

/* Sends the status now and again whenever it changes, until cancelled. */
static int health_watch(struct rpc_call *call, const ProtobufCMessage *msg, void *data)
{
        const Grpc__Health__V1__HealthCheckRequest *req = (const void *)msg;
        int last = -1;
        while (!rpc_call_cancelled(call)) {
                int status = health_status(data, req->service);
                if (status != last) {
                        Grpc__Health__V1__HealthCheckResponse resp =
                                GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
                        resp.status = status;
                        if (rpc_call_send(call, &resp.base) < 0)
                                break;
                        last = status;
                }
                usleep(50 * 1000);
        }
        return RPC_CANCELLED;
}

const struct rpc_method rpc_health_methods[] = {
        { "Check", RPC_UNARY, health_check },
        { "Watch", RPC_SERVER_STREAMING, health_watch },
};
const size_t rpc_health_n_methods = sizeof(rpc_health_methods) / sizeof(rpc_health_methods[0]);
