#include "tests/testing/cli_stack.h"

#include <stdlib.h>
#include <sys/stat.h>

namespace aktest {

bool CliStack::Start(const std::string& dir, const std::string& images, const CliStackOptions& o,
                     std::string* error) {
  if (!sched.Start({Runfile("services/scheduler/ak-scheduler"), "--listen", "127.0.0.1:0", "--insecure",
                    "--heartbeat-interval-ms", std::to_string(o.heartbeat_ms)},
                   dir, "sched")) {
    *error = "ak-scheduler: " + Slurp(sched.err);
    return false;
  }
  setenv("AK_GUEST_BIN", Runfile("guest/ak-guest").c_str(), 1);
  std::vector<std::string> argv = {Runfile("services/executor/ak-executor"), "--listen", "127.0.0.1:0", "--insecure",
                                   "--state-dir", dir + "/st", "--images", images, "--min-warm", "0",
                                   "--executor-id", o.executor_id};
  argv.insert(argv.end(), o.executor_args.begin(), o.executor_args.end());
  argv.insert(argv.end(), {"--scheduler", sched.addr});
  if (!exec.Start(argv, dir, "executor")) {
    *error = "ak-executor: " + Slurp(exec.err);
    return false;
  }
  setenv("AK_SCHEDULER", sched.addr.c_str(), 1);
  setenv("AK_HOME", (dir + "/home").c_str(), 1);
  if (o.make_home) {
    mkdir((dir + "/home").c_str(), 0700);
    mkdir((dir + "/home/receipts").c_str(), 0700);
  }
  unsetenv("AK_TOKEN");
  return true;
}

}  // namespace aktest
