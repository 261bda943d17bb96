/* ak's version, and the agentkernel release it is compatible with. */
#pragma once

#define AK_VERSION "0.1.0"
#define AK_AGENTKERNEL_COMPAT "0.18.1"
