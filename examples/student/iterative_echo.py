#!/usr/bin/env python3
"""The lab "write the server yourself, then check it", in Python: the same
iterative TCP echo server as iterative_echo.c, call for call. It serves one
client at a time; `sockref check` says so (docs/check.md).

    sockref check --server 'python3 examples/student/iterative_echo.py {port}' --service echo --proto tcp
"""

import socket
import sys


def main():
    port = int(sys.argv[1])
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))  # bind()
    server.listen(5)  # listen()
    while True:
        client, _ = server.accept()  # accept()
        # Serve this client until it is done; the next one waits meanwhile.
        try:
            while True:
                data = client.recv(1024)  # read()
                if not data:
                    break
                client.sendall(data)  # write()
        except OSError:
            pass  # the client reset the connection: it is gone, serve the next
        client.close()  # close()


if __name__ == "__main__":
    main()
