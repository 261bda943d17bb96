// Checks what a service wrote to stderr under --log-format json
// (lib/log/log.h: the services and ak-vmm): every line one JSON object with a "time"
// (YYYY-MM-DDTHH:MM:SS.mmmZ), a "level" (debug, info, warn or error), the
// "service" that wrote it and a non-empty "msg". Shared by the five services'
// log tests so that each checks the same contract.
#pragma once

#include <string>
#include <vector>

namespace aktest {

// "" when every line of `text` keeps the contract and was written by
// `service` ("ak-executor"); else what is wrong with the first line that
// does not (its number and text). Empty text is fine: a service may have
// nothing to say.
std::string JsonLogProblem(const std::string &text, const std::string &service);

// The lines of `text` whose "msg" is `msg` (as written, unparsed).
std::vector<std::string> JsonLogLines(const std::string &text, const std::string &msg);

}  // namespace aktest
