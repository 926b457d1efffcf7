/* thread_echo: the blocking baseline sockref is measured against. One
 * detached POSIX thread per accepted TCP connection, each looping
 * read() -> write() until the client closes. Listens on 127.0.0.1:PORT.
 *
 *   usage: thread_echo PORT
 *   build: benches/peers/build.sh   (cc -O2 -pthread)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* BACKLOG: sockref's, which std's TcpListener::bind fixes at 128; every TCP
 * peer uses it, so that no server gets a longer queue for a burst of
 * connect()s than the others. */
enum { CHUNK = 16 * 1024, BACKLOG = 128 };

/* Echo everything the client sends, then close(). */
static void *echo_conn(void *arg)
{
    int conn = (int)(intptr_t)arg;
    char buf[CHUNK];
    ssize_t got;
    while ((got = read(conn, buf, sizeof buf)) != 0) {
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) break;
        for (ssize_t sent = 0; sent < got;) {
            ssize_t n = write(conn, buf + sent, (size_t)(got - sent));
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) goto out;
            sent += n;
        }
    }
out:
    close(conn);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN); /* a client gone mid-write is an EPIPE, not a death */

    struct sockaddr_in sa = { .sin_family = AF_INET };
    sa.sin_port = htons((uint16_t)atoi(argv[1]));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    int on = 1;
    int lsock = socket(AF_INET, SOCK_STREAM, 0);
    if (lsock < 0 || setsockopt(lsock, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) < 0 ||
        bind(lsock, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lsock, BACKLOG) < 0) {
        perror("thread_echo: socket/bind/listen");
        return 1;
    }

    pthread_attr_t detached;
    pthread_attr_init(&detached);
    pthread_attr_setdetachstate(&detached, PTHREAD_CREATE_DETACHED);
    for (;;) {
        int conn = accept(lsock, NULL, NULL);
        if (conn < 0) {
            if (errno != EINTR && errno != ECONNABORTED) {
                perror("thread_echo: accept");
                usleep(1000); /* EMFILE and friends: pause rather than spin */
            }
            continue;
        }
        pthread_t t;
        int err = pthread_create(&t, &detached, echo_conn, (void *)(intptr_t)conn);
        if (err) {
            fprintf(stderr, "thread_echo: pthread_create: %s\n", strerror(err));
            close(conn);
        }
    }
}
