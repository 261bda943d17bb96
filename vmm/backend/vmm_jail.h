/* Confining a VMM process, as Firecracker's jailer does: between fork and
 * exec the child
 *   - enters a mount namespace of its own whose root is an empty tmpfs
 *     holding only what the VMM needs, bound at the paths it had outside
 *     (/usr read-only, the merged-/usr links, /etc/ld.so.cache, a few /dev
 *     nodes, the kernel, initramfs and disk, a private TMPDIR), remounted
 *     read-only, then pivot_root into it: $AK_HOME/run, keys and tokens are
 *     not there;
 *   - drops to an unprivileged uid/gid with no supplementary groups and
 *     PR_SET_NO_NEW_PRIVS;
 *   - keeps only the fds it was given (as 3, 4, ...) and stdio;
 *   - gets a minimal environment (PATH, and TMPDIR when confined).
 * The namespace and the uid need root; without root (geteuid() != 0) the
 * child keeps the caller's uid and sees the host's file system, and only
 * the fd and environment rules apply (vmm_jail_init says which).
 *
 * Thread-safety: a struct vmm_jail belongs to one thread; vmm_jail_enter
 * runs in a forked child and makes only async-signal-safe calls. */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

#include "lib/base/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The uid and gid a confined VMM runs as unless the caller picks one: a
 * dedicated id no one else should use (no /etc/passwd entry needed). */
#define VMM_JAIL_DEFAULT_ID 64513
#define VMM_JAIL_MAX_BINDS 24
/* The temporary directory inside: a path of its own, so that it never
 * hides an image under the host's /tmp or /var/tmp. */
#define VMM_JAIL_TMP "/vmm-tmp"
#define VMM_JAIL_MAX_FDS 6

enum {
        VMM_JAIL_RW = 1,   /* writable (else read-only) */
        VMM_JAIL_EXEC = 2, /* programs may run from it (else noexec) */
};

struct vmm_jail_bind {
        char src[PATH_MAX]; /* outside */
        char dst[PATH_MAX]; /* inside the new root, at the same path */
        bool dir;
        unsigned flags;
};

struct vmm_jail {
        bool confine;         /* mount namespace + uid: only as root */
        uid_t uid;
        gid_t gid;
        pid_t parent;
        char root[PATH_MAX];  /* the empty directory the tmpfs root is mounted on */
        struct vmm_jail_bind binds[VMM_JAIL_MAX_BINDS];
        size_t n_binds;
        struct {
                char path[PATH_MAX]; /* inside: /lib -> usr/lib as on the host */
                char target[PATH_MAX];
        } links[6];
        size_t n_links;
        /* Device nodes made inside (mknod, as the jailer does), not bound:
         * /dev/kvm then belongs to the jail's uid, not to the kvm group. */
        struct {
                char path[PATH_MAX];
                dev_t rdev;
                mode_t mode;
                bool own; /* chown to uid:gid */
        } nodes[6];
        size_t n_nodes;
        /* A network namespace the child joins first (vmm_net.h); -1: the
         * caller's. Set with vmm_jail_netns; only when confined. */
        int netns_fd;
        int fds[VMM_JAIL_MAX_FDS];
        size_t n_fds;
        char *const *envp;
};

/* Sets j up for a child of the calling process: confined (when we are root
 * and want_confine) as uid:gid with its tmpfs root mounted on root_dir (an
 * empty directory of ours that exists: the mount lives only in the child's
 * namespace), with the base system bound (/usr, the /lib, /bin links,
 * /etc/ld.so.cache, /dev/null, /dev/zero, /dev/urandom, /dev/random).
 * The environment is PATH only either way (and TMPDIR, see vmm_jail_tmp). */
int vmm_jail_init(struct vmm_jail *j, bool want_confine, uid_t uid, gid_t gid, const char *root_dir,
                  struct ak_error *err);

/* Makes path (a file or directory; followed if a link) visible inside at
 * the same path, read-only unless VMM_JAIL_RW. A file the jail's uid could
 * not read (or write, with VMM_JAIL_RW) is refused with err saying so.
 * Without confinement: checks nothing, 0. */
int vmm_jail_bind(struct vmm_jail *j, const char *path, unsigned flags, struct ak_error *err);

/* Like vmm_jail_bind, but src appears inside at dst. */
int vmm_jail_bind_at(struct vmm_jail *j, const char *src, const char *dst, unsigned flags, struct ak_error *err);

/* dir (the jail's uid must own it) becomes the jail's temporary directory:
 * VMM_JAIL_TMP inside, and TMPDIR in the environment (QEMU's snapshot
 * overlays go there). Without confinement: 0, and no TMPDIR. */
int vmm_jail_tmp(struct vmm_jail *j, const char *dir, struct ak_error *err);

/* Makes the host's character device path (e.g. /dev/kvm) inside, mode
 * 0600 and owned by the jail's uid. Without confinement: 0. */
int vmm_jail_device(struct vmm_jail *j, const char *path, struct ak_error *err);

/* The child will hold fd (ours stays ours) as the returned number (3, 4,
 * ...), or -EMFILE past VMM_JAIL_MAX_FDS. */
int vmm_jail_add_fd(struct vmm_jail *j, int fd);

/* The child joins the network namespace fd (ours stays ours) before
 * anything else. Without confinement: -EPERM (joining needs root). */
int vmm_jail_netns(struct vmm_jail *j, int fd);

/* In the forked child: network namespace (vmm_jail_netns), mount namespace, binds, pivot_root, credentials,
 * PR_SET_PDEATHSIG again (a uid change clears it), fds. Returns -errno
 * after writing what failed to fd 2; on 0 the caller execs with j->envp. */
int vmm_jail_enter(const struct vmm_jail *j);

#ifdef __cplusplus
}
#endif
