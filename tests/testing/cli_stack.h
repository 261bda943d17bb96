// The stack the CLI's component tests drive the built ak against:
// ak-scheduler and ak-executor as real child processes on loopback
// (--insecure), the executor booting real microVMs from an image store,
// and the environment pointed at them (AK_SCHEDULER, AK_HOME; no AK_TOKEN).
// One per test binary, started in SetUpTestSuite and shared by its tests.
//
// Not thread-safe; it changes the process's environment.
#pragma once

#include <string>
#include <vector>

#include "tests/testing/service_process.h"

namespace aktest {

struct CliStackOptions {
  std::string executor_id;                 // --executor-id
  int heartbeat_ms = 1000;                 // the scheduler's --heartbeat-interval-ms
  std::vector<std::string> executor_args;  // more ak-executor flags (--label k=v, ...)
  bool make_home = true;                   // make AK_HOME and AK_HOME/receipts (0700)
};

class CliStack {
 public:
  // Starts the scheduler (logs dir/sched.{out,err}), sets AK_GUEST_BIN,
  // starts the executor (state dir/st, images from `images`, logs
  // dir/executor.*) registered with it, then sets AK_SCHEDULER to the
  // scheduler and AK_HOME to dir/home and unsets AK_TOKEN. False with
  // *error naming the service that did not start and its stderr; what
  // started is stopped by the destructor (executor first).
  bool Start(const std::string& dir, const std::string& images, const CliStackOptions& o, std::string* error);

  ServiceProcess sched{"scheduler"}, exec{"executor"};
};

}  // namespace aktest
