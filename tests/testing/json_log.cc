#include "tests/testing/json_log.h"

#include <string.h>

extern "C" {
#include "lib/json/json.h"
}

namespace aktest {

namespace {

// The string field `key` of object v ("" when absent or not a string).
std::string Field(const struct json_value *v, const char *key)
{
        const struct json_value *f = json_object_get(v, key);
        size_t len = 0;
        const char *s = f && json_value_type(f) == JSON_STRING ? json_string(f, &len) : nullptr;
        return s ? std::string(s, len) : "";
}

bool IsTime(const std::string &t)
{
        // 2026-12-07T13:05:38.123Z
        static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
        if (t.size() != sizeof(shape) - 1)
                return false;
        for (size_t i = 0; i < t.size(); i++)
                if (shape[i] == 'd' ? (t[i] < '0' || t[i] > '9') : t[i] != shape[i])
                        return false;
        return true;
}

// What is wrong with one line ("" when nothing).
std::string LineProblem(const std::string &line, const std::string &service)
{
        struct json_value *v = nullptr;
        struct json_error e = {};
        if (json_parse(line.data(), line.size(), &v, &e) < 0)
                return std::string("not JSON: ") + e.message;
        std::string why;
        std::string level = Field(v, "level");
        if (json_value_type(v) != JSON_OBJECT)
                why = "not a JSON object";
        else if (!IsTime(Field(v, "time")))
                why = "no \"time\" like 2026-12-07T13:05:38.123Z";
        else if (level != "debug" && level != "info" && level != "warn" && level != "error")
                why = "no \"level\" of debug, info, warn or error";
        else if (Field(v, "service") != service)
                why = "\"service\" is not " + service;
        else if (Field(v, "msg").empty())
                why = "no \"msg\"";
        json_value_free(v);
        return why;
}

}  // namespace

std::string JsonLogProblem(const std::string &text, const std::string &service)
{
        size_t at = 0, n = 0;
        while (at < text.size()) {
                size_t nl = text.find('\n', at);
                if (nl == std::string::npos)
                        return "the log does not end with a newline: " + text.substr(at);
                std::string line = text.substr(at, nl - at);
                n++;
                std::string why = LineProblem(line, service);
                if (!why.empty())
                        return "line " + std::to_string(n) + ": " + why + ": " + line;
                at = nl + 1;
        }
        return "";
}

std::vector<std::string> JsonLogLines(const std::string &text, const std::string &msg)
{
        std::vector<std::string> out;
        std::string want = "\"msg\":\"" + msg + "\"";
        size_t at = 0;
        while (at < text.size()) {
                size_t nl = text.find('\n', at);
                std::string line = text.substr(at, nl == std::string::npos ? std::string::npos : nl - at);
                if (line.find(want) != std::string::npos)
                        out.push_back(line);
                if (nl == std::string::npos)
                        break;
                at = nl + 1;
        }
        return out;
}

}  // namespace aktest
