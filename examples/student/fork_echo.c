/* The lab's fix: iterative_echo.c with one change, a child process per
 * client (fork() after accept()), so a second client is served while the
 * first is connected. `sockref check` then passes every echo rule.
 *
 *   cc -Wall -o fork_echo examples/student/fork_echo.c
 *   sockref check --server './fork_echo {port}' --service echo --proto tcp
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUFF_SIZE 1024

int main(int argc, char **argv)
{
    int server_socket, client_socket, option = 1;
    struct sockaddr_in server_addr;
    char buff[BUFF_SIZE];
    ssize_t n;

    if (argc != 2) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    /* Children that end are reaped by the kernel: no zombies to wait() for. */
    signal(SIGCHLD, SIG_IGN);

    server_socket = socket(PF_INET, SOCK_STREAM, 0);
    if (server_socket == -1) {
        perror("socket()");
        return 1;
    }
    setsockopt(server_socket, SOL_SOCKET, SO_REUSEADDR, &option, sizeof(option));
    memset(&server_addr, 0, sizeof(server_addr));
    server_addr.sin_family = AF_INET;
    server_addr.sin_port = htons(atoi(argv[1]));
    server_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(server_socket, (struct sockaddr *)&server_addr, sizeof(server_addr)) == -1) {
        perror("bind()");
        return 1;
    }
    if (listen(server_socket, 5) == -1) {
        perror("listen()");
        return 1;
    }
    for (;;) {
        client_socket = accept(server_socket, NULL, NULL);
        if (client_socket == -1) {
            perror("accept()");
            continue;
        }
        if (fork() == 0) {
            /* The child serves this client, then exits. */
            close(server_socket);
            while ((n = read(client_socket, buff, BUFF_SIZE)) > 0) {
                if (write(client_socket, buff, n) != n)
                    break;
            }
            close(client_socket);
            _exit(0);
        }
        /* The parent goes straight back to accept(). */
        close(client_socket);
    }
}
