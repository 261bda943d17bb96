/* The tools as tools/list shows them: agentkernel's names and argument
 * schemas, unchanged, so an agent's prompts and habits carry over.
 * Descriptions are agentkernel's where they hold for ak; "container" is a
 * microVM here and the default image is ak's base image. */
#include "cli/mcp/tools.h"
#include "cli/mcp/tools_impl.h"

#define STR(d) "{\"type\":\"string\",\"description\":\"" d "\"}"
#define STRS(d) "{\"type\":\"array\",\"items\":{\"type\":\"string\"},\"description\":\"" d "\"}"
#define OBJ(props, req) "{\"type\":\"object\",\"properties\":{" props "}" req "}"
#define REQ(list) ",\"required\":[" list "]"

#define SECRETS                                                                                              \
        "\"secrets\":" STRS("Secrets injected by the egress proxy, as KEY:host[:header] (the vault's KEY on " \
                            "the executor's node; commands see a placeholder, never the value)") ","            \
        "\"secret_files\":" STRS("Secrets written into the sandbox as files, as KEY[:path] (weaker: the value " \
                                 "is inside the VM)")
#define NAME_ONLY(d) OBJ("\"name\":" STR(d), REQ("\"name\""))
#define ID_ONLY OBJ("\"id\":" STR("The detached command ID"), REQ("\"id\""))

const struct mcp_tool mcp_tools_table[] = {
        { "sandbox_run",
          "Run a command in an isolated sandbox (SAFE: executes in isolation, cannot affect host). "
          "Each run gets a fresh microVM, taken from the warm pool when one is ready.",
          OBJ("\"command\":" STRS("The command and arguments to run (e.g., [\\\"python\\\", \\\"script.py\\\"] or "
                                  "[\\\"npm\\\", \\\"test\\\"])") ","
              "\"image\":" STR("Image to use (default: the base image)") ","
              "\"fast\":{\"type\":\"boolean\",\"description\":\"Use the warm pool for fast execution "
              "(default: true).\",\"default\":true},"
              "\"cwd\":" STR("Working directory inside the sandbox") ","
              "\"env\":{\"type\":\"object\",\"description\":\"Environment variables to set\","
              "\"additionalProperties\":{\"type\":\"string\"}},"
              "\"timeout_ms\":{\"type\":\"integer\",\"description\":\"Timeout in milliseconds (default: "
              "30000)\",\"default\":30000},"
              "\"profile\":{\"type\":\"string\",\"enum\":[\"permissive\",\"moderate\",\"restrictive\"],"
              "\"description\":\"Security profile (default: moderate).\",\"default\":\"moderate\"},"
              "\"network\":{\"type\":\"boolean\",\"description\":\"Enable network access (default: depends "
              "on profile).\"},"
              "\"compatibility_mode\":{\"type\":\"string\",\"enum\":[\"native\",\"claude\",\"codex\",\"gemini\"],"
              "\"description\":\"Agent compatibility mode (only native here).\",\"default\":\"native\"},"
              "\"ports\":" STRS("Port mappings (not supported by ak's microVMs yet)") "," SECRETS,
              REQ("\"command\"")),
          mcp_tool_run },
        { "sandbox_create",
          "Create a new persistent sandbox for running multiple commands (creates an isolated microVM).",
          OBJ("\"name\":" STR("Name for the sandbox") ","
              "\"image\":" STR("Image to use (default: the base image)") ","
              "\"ports\":" STRS("Port mappings (not supported by ak's microVMs yet)") ","
              "\"source_url\":" STR("Git repo URL to clone into /workspace (needs git in the image)") ","
              "\"source_ref\":" STR("Git ref to checkout after cloning (branch, tag, or commit)") "," SECRETS,
              REQ("\"name\"")),
          mcp_tool_create },
        { "sandbox_exec", "Execute a command in an existing running sandbox (SAFE: executes in isolation).",
          OBJ("\"name\":" STR("Name of the sandbox") ","
              "\"command\":" STRS("The command and arguments to run") ","
              "\"env\":" STRS("Environment variables as KEY=VALUE pairs") ","
              "\"workdir\":" STR("Working directory inside the sandbox") ","
              "\"sudo\":{\"type\":\"boolean\",\"description\":\"Run the command as root\"}",
              REQ("\"name\",\"command\"")),
          mcp_tool_exec },
        { "sandbox_list", "List all sandboxes and their status (SAFE: read-only operation).", OBJ("", ""),
          mcp_tool_list },
        { "sandbox_remove", "Remove a sandbox (deletes its microVM).", NAME_ONLY("Name of the sandbox to remove"),
          mcp_tool_remove },
        { "sandbox_file_write",
          "Write a file into a running sandbox (writes to sandbox only, cannot affect host filesystem).",
          OBJ("\"name\":" STR("Name of the sandbox") ","
              "\"path\":" STR("Path inside the sandbox where to write the file") ","
              "\"content\":" STR("Content to write to the file"),
              REQ("\"name\",\"path\",\"content\"")),
          mcp_tool_file_write },
        { "sandbox_file_read", "Read a file from a running sandbox (SAFE: reads from sandbox only).",
          OBJ("\"name\":" STR("Name of the sandbox") ","
              "\"path\":" STR("Path inside the sandbox to read"),
              REQ("\"name\",\"path\"")),
          mcp_tool_file_read },
        { "sandbox_write_files", "Write multiple files to a running sandbox in one call (writes to sandbox only).",
          OBJ("\"name\":" STR("Name of the sandbox") ","
              "\"files\":{\"type\":\"object\",\"description\":\"Map of absolute path to file content (e.g., "
              "{\\\"/app/main.py\\\": \\\"print('hello')\\\"})\",\"additionalProperties\":{\"type\":\"string\"}}",
              REQ("\"name\",\"files\"")),
          mcp_tool_write_files },
        { "sandbox_start", "Start a stopped sandbox (SAFE: starts an existing isolated microVM).",
          NAME_ONLY("Name of the sandbox to start"), mcp_tool_start },
        { "sandbox_stop", "Stop a running sandbox (SAFE: stops its isolated microVM, keeps it for later use).",
          NAME_ONLY("Name of the sandbox to stop"), mcp_tool_stop },
        { "sandbox_extend_ttl", "Extend a sandbox's time-to-live. Adds additional time to the current expiry.",
          OBJ("\"name\":" STR("Name of the sandbox") ","
              "\"by\":" STR("Additional time (e.g., '1h', '30m', '2d'). Default: 1h"),
              REQ("\"name\"")),
          mcp_tool_extend_ttl },
        { "sandbox_exec_detach", "Start a detached (background) command in a sandbox. Returns a command ID for tracking.",
          OBJ("\"name\":" STR("Name of the sandbox") ","
              "\"command\":" STRS("The command and arguments to run") ","
              "\"env\":" STRS("Environment variables as KEY=VALUE pairs") ","
              "\"workdir\":" STR("Working directory inside the sandbox") ","
              "\"sudo\":{\"type\":\"boolean\",\"description\":\"Run the command as root\"}",
              REQ("\"name\",\"command\"")),
          mcp_tool_exec_detach },
        { "sandbox_exec_status", "Get the status of a detached command (running, completed, failed).",
          ID_ONLY, mcp_tool_exec_status },
        { "sandbox_exec_logs", "Get stdout/stderr from a detached command.",
          OBJ("\"id\":" STR("The detached command ID") ","
              "\"stream\":{\"type\":\"string\",\"description\":\"Which stream to read: stdout (default) or "
              "stderr\",\"enum\":[\"stdout\",\"stderr\"]}",
              REQ("\"id\"")),
          mcp_tool_exec_logs },
        { "sandbox_exec_kill", "Kill a detached command.", ID_ONLY, mcp_tool_exec_kill },
        { "sandbox_exec_list", "List all detached commands in a sandbox.",
          OBJ("\"name\":" STR("Name of the sandbox (optional, lists all if omitted)"), ""), mcp_tool_exec_list },
        { "snapshot_list", "List all snapshots.", OBJ("", ""), mcp_tool_snapshot_list },
        { "snapshot_take", "Take a snapshot of a sandbox (its root disk; the sandbox needs a disk image, not the "
                           "base image).",
          OBJ("\"sandbox\":" STR("Name of the sandbox to snapshot") ","
              "\"name\":" STR("Name for the snapshot"),
              REQ("\"sandbox\",\"name\"")),
          mcp_tool_snapshot_take },
        { "snapshot_get", "Get information about a snapshot.", NAME_ONLY("Name of the snapshot"),
          mcp_tool_snapshot_get },
        { "snapshot_delete", "Delete a snapshot.", NAME_ONLY("Name of the snapshot to delete"),
          mcp_tool_snapshot_delete },
        { "snapshot_restore", "Restore a sandbox from a snapshot.",
          OBJ("\"name\":" STR("Name of the snapshot to restore") ","
              "\"as_name\":" STR("Name for the restored sandbox (defaults to original + '-restored')"),
              REQ("\"name\"")),
          mcp_tool_snapshot_restore },
};

const size_t mcp_tools_count = sizeof(mcp_tools_table) / sizeof(mcp_tools_table[0]);
