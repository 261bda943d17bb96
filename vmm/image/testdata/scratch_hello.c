/* The one program of a FROM scratch test image (oci_vm_test): prints its
 * arguments, then what /etc/resolv.conf says (the guest's network setup
 * wrote it; the image had no /etc). Static: the image has no libc. */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv)
{
        char buf[256];
        printf("hello from scratch:");
        for (int i = 1; i < argc; i++)
                printf(" %s", argv[i]);
        printf("\n");
        int fd = open("/etc/resolv.conf", O_RDONLY | O_CLOEXEC);
        ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
        if (n < 0) {
                printf("no /etc/resolv.conf\n");
                return 1;
        }
        buf[n] = 0;
        printf("resolv.conf: %s", buf);
        return 0;
}
