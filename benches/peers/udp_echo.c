/* udp_echo: one socket, one thread, recvfrom() -> sendto() forever: the
 * datagram baseline. Listens on 127.0.0.1:PORT.
 *
 *   usage: udp_echo PORT
 *   build: benches/peers/build.sh   (cc -O2 -pthread)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    struct sockaddr_in sa = { .sin_family = AF_INET };
    sa.sin_port = htons((uint16_t)atoi(argv[1]));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    int sock = socket(AF_INET, SOCK_DGRAM, 0);
    if (sock < 0 || bind(sock, (struct sockaddr *)&sa, sizeof sa) < 0) {
        perror("udp_echo: socket/bind");
        return 1;
    }

    static char buf[65536]; /* the largest datagram fits */
    for (;;) {
        struct sockaddr_storage from;
        socklen_t len = sizeof from;
        ssize_t n = recvfrom(sock, buf, sizeof buf, 0, (struct sockaddr *)&from, &len);
        if (n < 0) {
            if (errno != EINTR) perror("udp_echo: recvfrom");
            continue;
        }
        if (sendto(sock, buf, (size_t)n, 0, (struct sockaddr *)&from, len) < 0 && errno != EINTR)
            perror("udp_echo: sendto");
    }
}
