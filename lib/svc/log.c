#include "lib/svc/log.h"

#include "lib/rpc/rpc.h"

/* gRPC's own lines, on the log like every other. */
static void grpc_line(enum rpc_log_severity sev, const char *file, int line, const char *msg)
{
        enum ak_log_level level = sev == RPC_LOG_DEBUG  ? AK_LOG_DEBUG
                                  : sev == RPC_LOG_INFO ? AK_LOG_INFO
                                                        : AK_LOG_ERROR;
        AK_LOG(level, msg, AK_LOG_S("source", "grpc"), AK_LOG_S("file", file), AK_LOG_I("line", line));
}

int svc_log_setup(const char *service, const char *format, const char *level, struct ak_error *err)
{
        int r = ak_log_setup(service, format, level, err);
        if (r < 0)
                return r;
        rpc_set_log(grpc_line);
        return 0;
}

void svc_log_line(void *data, const char *line)
{
        (void)data;
        ak_log(AK_LOG_INFO, line, NULL, 0);
}
