#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "guest/init.h"

__attribute__((format(printf, 2, 3)))
static void say(const struct init_options *o, const char *fmt, ...)
{
        char buf[512];
        va_list ap;

        if (!o->log)
                return;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        o->log(buf);
}

static void mount_one(const struct init_options *o, const char *src, const char *dst, const char *type,
                      unsigned long flags, const char *data)
{
        mkdir(dst, 0755);
        if (mount(src, dst, type, flags, data) < 0 && errno != EBUSY)
                say(o, "mount %s on %s: %s", type, dst, strerror(errno));
}

static void mount_basics(const struct init_options *o)
{
        mount_one(o, "proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
        mount_one(o, "sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
        mount_one(o, "devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
        mount_one(o, "devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "mode=0620,ptmxmode=0666");
        mount_one(o, "tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
}

int init_load_module(const char *path)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC);

        if (fd < 0)
                return -errno;
        long r = syscall(SYS_finit_module, fd, "", 0);
        int e = errno;
        close(fd);
        if (r < 0 && e != EEXIST)
                return -e;
        return 0;
}

/* nftw has no user pointer: the search state lives here (init is
 * single-threaded). */
static const char *search_name;
static char *search_buf;
static unsigned search_size;

static bool same_module_name(const char *a, const char *b, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                char x = a[i] == '-' ? '_' : a[i], y = b[i] == '-' ? '_' : b[i];
                if (x != y)
                        return false;
        }
        return true;
}

static int search_cb(const char *path, const struct stat *st, int type, struct FTW *f)
{
        const char *base = path + f->base;
        size_t n = strlen(search_name);

        if (type != FTW_F || strlen(base) != n + 3 || strcmp(base + n, ".ko") != 0 ||
            !same_module_name(base, search_name, n))
                return 0;
        snprintf(search_buf, search_size, "%s", path);
        return 1;
}

int init_find_module(const char *entry, char *buf, unsigned size)
{
        struct utsname u;
        char dir[PATH_MAX];

        if (entry[0] == '/') {
                if ((unsigned)snprintf(buf, size, "%s", entry) >= size)
                        return -ENAMETOOLONG;
                return access(buf, R_OK) == 0 ? 0 : -errno;
        }
        if (strchr(entry, '/') || !*entry)
                return -EINVAL;
        if (uname(&u) < 0)
                return -errno;
        snprintf(dir, sizeof(dir), "/lib/modules/%s", u.release);
        search_name = entry;
        search_buf = buf;
        search_size = size;
        int r = nftw(dir, search_cb, 16, FTW_PHYS);
        return r == 1 ? 0 : -ENOENT;
}

static void load_modules(const struct init_options *o)
{
        char line[PATH_MAX], path[PATH_MAX];
        FILE *f = fopen(o->modules_file, "re");

        if (!f) {
                say(o, "modules %s: %s", o->modules_file, strerror(errno));
                return;
        }
        while (fgets(line, sizeof(line), f)) {
                char *s = line, *e;
                if ((e = strchr(s, '#')))
                        *e = 0;
                while (*s == ' ' || *s == '\t')
                        s++;
                e = s + strlen(s);
                while (e > s && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
                        *--e = 0;
                if (!*s)
                        continue;
                int r = init_find_module(s, path, sizeof(path));
                if (r < 0) {
                        say(o, "module %s: not found (built in?)", s);
                        continue;
                }
                r = init_load_module(path);
                if (r < 0)
                        say(o, "module %s: %s", path, strerror(-r));
        }
        fclose(f);
}

static int switch_root(const struct init_options *o)
{
        static const char *const moved[] = { "/proc", "/sys", "/dev", "/tmp" };
        const char *type = o->root_fstype ? o->root_fstype : "ext4";
        char dst[64];
        int r = -1;

        mkdir("/newroot", 0755);
        /* The disk appears when its driver has probed: give it a moment. */
        for (int i = 0; i < 100; i++) {
                r = mount(o->root_device, "/newroot", type, 0, NULL);
                if (r == 0 || (errno != ENOENT && errno != ENXIO && errno != ENODEV))
                        break;
                struct timespec ts = { 0, 50 * 1000 * 1000 };
                nanosleep(&ts, NULL);
        }
        if (r < 0) {
                r = -errno;
                say(o, "mount root %s (%s): %s", o->root_device, type, strerror(-r));
                return r;
        }
        for (size_t i = 0; i < sizeof(moved) / sizeof(moved[0]); i++) {
                snprintf(dst, sizeof(dst), "/newroot%s", moved[i]);
                mkdir(dst, 0755);
                if (mount(moved[i], dst, NULL, MS_MOVE, NULL) < 0)
                        say(o, "move %s: %s", moved[i], strerror(errno));
        }
        if (chdir("/newroot") < 0 || mount(".", "/", NULL, MS_MOVE, NULL) < 0 || chroot(".") < 0 ||
            chdir("/") < 0) {
                r = -errno;
                say(o, "switch root: %s", strerror(-r));
                return r;
        }
        return 0;
}

int init_set_page_reporting_order(const char *path, int order)
{
        char buf[8];
        if (order < 0 || order > INIT_PAGE_REPORTING_ORDER_MAX)
                return -EINVAL;
        int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        int len = snprintf(buf, sizeof(buf), "%d\n", order);
        ssize_t n = write(fd, buf, (size_t)len);
        int r = n == len ? 0 : n < 0 ? -errno : -EIO;
        close(fd);
        return r;
}

int init_setup(const struct init_options *o)
{
        mount_basics(o);
        if (o->modules_file)
                load_modules(o);
        /* Within the 2 s before the balloon's first reporting pass. */
        if (o->page_reporting_order >= 0) {
                int r = init_set_page_reporting_order(INIT_PAGE_REPORTING_ORDER_PATH, o->page_reporting_order);
                if (r < 0)
                        say(o, "page reporting order %d: %s: %s", o->page_reporting_order,
                            INIT_PAGE_REPORTING_ORDER_PATH, strerror(-r));
        }
        if (o->root_device)
                return switch_root(o);
        return 0;
}

int init_poweroff(void)
{
        struct timespec ts = { 0, 200 * 1000 * 1000 };

        /* kill(-1) from anything but PID 1 would hit the whole machine
         * (or the whole outer container). */
        if (getpid() != 1)
                return -EPERM;
        sync();
        kill(-1, SIGTERM);
        nanosleep(&ts, NULL);
        kill(-1, SIGKILL);
        while (waitpid(-1, NULL, WNOHANG) > 0)
                ;
        sync();
        if (reboot(RB_POWER_OFF) < 0)
                return -errno;
        return 0;
}
