// Transitional: executor_features_test's name for the shared helper in
// tests/testing/service_process.h (goes once that test includes it itself).
#pragma once

#include "tests/testing/service_process.h"

namespace aktest {
using Proc = ServiceProcess;
}  // namespace aktest
