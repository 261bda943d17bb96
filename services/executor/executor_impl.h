/* Internals shared by executor*.c. Locking: ex->lock guards the sandbox
 * table, the pools and the active-call list; a sandbox's fields that change
 * after creation (state, box, error) are read and written under it. Guest
 * I/O never happens with the lock held: handlers take a reference
 * (sandbox_get) and use the sandbox's copy of the vsock socket path. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/receipt/receipt.h"
#include "lib/rpc/rpc.h"
#include "protos/ak/v1/executor.pb-c.h"
#include "services/executor/audit_queue.h"
#include "services/executor/cgroup.h"
#include "services/executor/executor.h"
#include "services/executor/profile.h"
#include "vmm/image/image.h"
#include "vmm/vmbox.h"

#define SANDBOX_NAME_MAX 63
#define SANDBOX_MAX_ENV 256
#define SANDBOX_MAX_STRING 4096
/* The sandbox's user: Exec without sudo runs as it, in its home; Run,
 * shells and the file calls are root's. Made at boot (executor_vm.c). */
#define SANDBOX_USER_NAME "sandbox"
#define SANDBOX_USER_UID 1000
#define SANDBOX_USER_HOME "/home/sandbox"

struct sandbox {
        char name[SANDBOX_NAME_MAX + 1];
        char image[IMAGE_NAME_MAX + 1];
        const struct profile *profile;
        unsigned vcpus, memory_mb;
        bool network;
        int network_req;            /* Ak__V1__Network as asked */
        char **env_keys, **env_values;
        size_t n_env;
        char **label_keys, **label_values;
        size_t n_labels;
        uint32_t ttl_seconds;
        bool persistent;
        int64_t created_at_ms, expires_at_ms;   /* wall clock */
        bool from_pool;
        bool test_guest;            /* no VM: uds is a test's fake guest */
        /* Under ex->lock: */
        Ak__V1__SandboxState state;
        char error[512];
        struct vmbox *box;
        char uds[108];
        char vmdir[PATH_MAX];
        bool removed;
        unsigned refs;
};

struct pool_vm {
        struct vmbox *box;
        char dir[PATH_MAX];
};

struct pool {
        char image[IMAGE_NAME_MAX + 1];
        const struct profile *profile;
        struct pool_vm *ready;      /* at most max_warm */
        size_t n_ready;
        unsigned booting;
        uint64_t hits, misses;
};

/* A guest connection serving an RPC; the janitor shuts it down when the
 * client cancels or the sandbox goes away. */
struct active {
        struct active *next;
        struct rpc_call *call;
        struct sandbox *sb;
        int fd;
        bool cancelled;
        /* OpenShell: its session, and the exit code ShellClose got (the
         * guest answers a close on the closing connection). */
        char session[80];
        bool shell_closed;
        int shell_exit;
};

struct disposal {
        struct vmbox *box;
        char dir[PATH_MAX];
        struct disposal *next;
};

struct executor {
        struct executor_config cfg;
        char state_dir[PATH_MAX], images_dir[PATH_MAX], id[128], address[256];
        char **label_keys, **label_values;
        char backend[32], accel[8];
        struct image_store *images;
        struct audit_queue *audit;
        struct cgroup *cgroup;
        char cpu_quota_note[600];
        pthread_mutex_t lock;
        /* VMs of removed sandboxes that the janitor stops and deletes in
         * the background (executor_remove's `later`), under lock. */
        struct disposal *disposals;
        /* The image store (not thread-safe): held while an image resolves,
         * which may build it for minutes, so never under lock (heartbeats
         * and every other call take lock). */
        pthread_mutex_t images_lock;
        pthread_cond_t cond;
        struct sandbox **sandboxes;
        size_t n_sandboxes;
        struct pool *pools;
        size_t n_pools;
        struct active *active;
        uint64_t next_vm;
        bool stop;
        pthread_t janitor, pooler, heart;
        bool have_janitor, have_pooler, have_heart;
        char sched_note[512];
        uint64_t logged_dropped;
        char logged_sched[512];
};

/* executor.c */
struct sandbox *sandbox_get(struct executor *ex, const char *name);     /* ref'd, or NULL */
void sandbox_put(struct executor *ex, struct sandbox *sb);
/* Frees a sandbox no table or caller holds any more. */
void sandbox_free(struct sandbox *sb);
Ak__V1__Sandbox *sandbox_to_proto(struct executor *ex, struct sandbox *sb);   /* under ex->lock */
void sandbox_proto_free(Ak__V1__Sandbox *m);
/* Registers a guest connection for cancellation; active_end unregisters. */
void active_begin(struct executor *ex, struct active *a);
void active_end(struct executor *ex, struct active *a);
/* Cancels the guest calls of sb (NULL: of every sandbox). Under ex->lock. */
void active_kill_locked(struct executor *ex, struct sandbox *sb);
/* A sandbox the caller holds, running, with its socket path copied. */
int sandbox_running_uds(struct executor *ex, struct sandbox *sb, char uds[108]);
int64_t wall_ms(void);

/* executor_lifecycle.c */
int executor_create(struct executor *ex, const Ak__V1__SandboxSpec *spec, struct rpc_call *call,
                    struct sandbox **ret);
/* Takes the sandbox out of the table (its name is free at once) and stops
 * and deletes its VM: before returning, or with `later` in the background
 * (a one-shot run answers without waiting for its VM to go; executor_free
 * still waits for every VM). -ENOENT for an unknown name. */
int executor_remove(struct executor *ex, const char *name, struct rpc_call *call, bool later);
/* Stops and deletes the queued VMs (takes and drops ex->lock). */
void executor_dispose_queued(struct executor *ex);
/* 0 for a valid sandbox name (sandbox.proto), else -EINVAL. */
int sandbox_name_check(const char *s);
int handle_create_sandbox(struct rpc_call *call, const ProtobufCMessage *msg, void *ud);
int handle_start_sandbox(struct rpc_call *call, const ProtobufCMessage *msg, void *ud);
int handle_stop_sandbox(struct rpc_call *call, const ProtobufCMessage *msg, void *ud);
int handle_remove_sandbox(struct rpc_call *call, const ProtobufCMessage *msg, void *ud);
int handle_get_sandbox(struct rpc_call *call, const ProtobufCMessage *msg, void *ud);
int handle_list_sandboxes(struct rpc_call *call, const ProtobufCMessage *msg, void *ud);

/* executor_vm.c */
int executor_vm_config(struct executor *ex, const char *image, const struct profile *p, unsigned vcpus,
                       unsigned memory_mb, bool network, char dir[PATH_MAX], struct vmbox **ret,
                       struct ak_error *err);
void executor_vm_dispose(struct executor *ex, struct vmbox *box, const char *dir);
void executor_rm_tree(const char *dir);

/* executor_janitor.c: TTLs, dead VMs, cancelled calls; every reap_interval_ms. */
void *janitor_thread(void *arg);

/* executor_pool.c */
int pool_take(struct executor *ex, const char *image, const struct profile *p, struct pool_vm *ret);
void *pool_thread(void *arg);
void pool_free_all(struct executor *ex);

/* executor_audit.c */
void audit_emit(struct executor *ex, struct rpc_call *call, const char *type, const char *action,
                int outcome, const char *resource_id, const char *attributes_json);
/* executor_receipt.c: signs r (invocation + outcome set) with the signer,
 * or seals it unsigned and says why in *ret_error (malloc'd). */
Ak__V1__Receipt *receipt_for(struct executor *ex, struct receipt *r, char **ret_error);

/* executor_exec.c */
int handle_exec(struct rpc_call *call, const ProtobufCMessage *req, void *userdata);
int handle_run(struct rpc_call *call, const ProtobufCMessage *req, void *userdata);
/* executor_files.c */
int handle_write_file(struct rpc_call *call, const ProtobufCMessage *req, void *userdata);
int handle_read_file(struct rpc_call *call, const ProtobufCMessage *req, void *userdata);
int handle_mkdir(struct rpc_call *call, const ProtobufCMessage *req, void *userdata);
int handle_remove_file(struct rpc_call *call, const ProtobufCMessage *req, void *userdata);
/* executor_shell.c */
int handle_open_shell(struct rpc_call *call, const ProtobufCMessage *msg, void *ud);
int handle_shell_input(struct rpc_call *call, const ProtobufCMessage *msg, void *ud);
int handle_shell_resize(struct rpc_call *call, const ProtobufCMessage *msg, void *ud);
int handle_shell_close(struct rpc_call *call, const ProtobufCMessage *msg, void *ud);
/* executor_status.c */
Ak__V1__ExecutorStatus *executor_status(struct executor *ex);
void executor_status_free(Ak__V1__ExecutorStatus *st);
int handle_get_status(struct rpc_call *call, const ProtobufCMessage *req, void *userdata);
void *heartbeat_thread(void *arg);

/* Maps a negative errno from guest I/O to a status with words. */
int fail_guest(struct rpc_call *call, const char *what, const char *sandbox, int r);
