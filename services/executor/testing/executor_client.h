// The executor's API as its component tests call it: a unary call, and an
// Exec or Run stream collected into one StreamOut.
#pragma once

#include <string>

extern "C" {
#include "lib/rpc/rpc.h"
#include "protos/ak/v1/executor.pb-c.h"
}

namespace aktest {

// What a stream said: stdout and stderr as they came, the first result
// (owned by msg), and how the call ended: the open's code if it failed
// (RPC_*), else rpc_stream_next's last return (0, or -RPC_* with error).
struct StreamOut {
  std::string out, err, error;
  int status = 0;
  Ak__V1__ExecResult* result = nullptr;
  ProtobufCMessage* msg = nullptr;
  StreamOut() = default;
  StreamOut(const StreamOut&) = delete;
  StreamOut& operator=(const StreamOut&) = delete;
  ~StreamOut() {
    if (msg) protobuf_c_message_free_unpacked(msg, nullptr);
  }
};

inline void ExecutorStream(struct rpc_channel* ch, const char* method, const ProtobufCMessage* req, int timeout_ms,
                           StreamOut* o) {
  struct rpc_stream* st = nullptr;
  struct ak_error err = {};
  struct rpc_call_options opt = {};
  opt.timeout_ms = timeout_ms;
  o->status = rpc_stream_open(ch, &ak__v1__executor__descriptor, method, req, &opt, &st, &err);
  if (o->status != RPC_OK) {
    o->error = err.msg;
    return;
  }
  for (;;) {
    ProtobufCMessage* m = nullptr;
    int r = rpc_stream_next(st, &m, &err);
    if (r <= 0) {
      o->status = r;
      if (r < 0) o->error = err.msg;
      break;
    }
    auto* c = reinterpret_cast<Ak__V1__OutputChunk*>(m);
    if (c->kind_case == AK__V1__OUTPUT_CHUNK__KIND_STDOUT) {
      o->out.append(reinterpret_cast<char*>(c->stdout.data), c->stdout.len);
    } else if (c->kind_case == AK__V1__OUTPUT_CHUNK__KIND_STDERR) {
      o->err.append(reinterpret_cast<char*>(c->stderr.data), c->stderr.len);
    } else if (c->kind_case == AK__V1__OUTPUT_CHUNK__KIND_RESULT && !o->msg) {
      o->msg = m;
      o->result = c->result;
      continue;
    }
    protobuf_c_message_free_unpacked(m, nullptr);
  }
  rpc_stream_free(st);
}

// The call's code; *e is its message when it failed, *resp the reply when
// it did not (resp NULL: the reply is dropped).
inline int ExecutorUnary(struct rpc_channel* ch, const char* method, const ProtobufCMessage* req, int timeout_ms,
                         ProtobufCMessage** resp, std::string* e) {
  struct ak_error err = {};
  struct rpc_call_options o = {};
  o.timeout_ms = timeout_ms;
  ProtobufCMessage* r_msg = nullptr;
  int r = rpc_unary(ch, &ak__v1__executor__descriptor, method, req, &o, &r_msg, &err);
  if (resp) {
    *resp = r_msg;
  } else if (r_msg) {
    protobuf_c_message_free_unpacked(r_msg, nullptr);
  }
  if (r != RPC_OK && e) *e = err.msg;
  return r;
}

}  // namespace aktest
