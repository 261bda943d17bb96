/* ak-executor's --help text (executor_usage.c): every flag, what it does
 * and its default. Private to services/executor. */
#pragma once

extern const char executor_usage[];
