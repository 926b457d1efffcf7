#!/usr/bin/env python3
"""The lab's fix in Python: iterative_echo.py with one change, a thread per
client, so a second client is served while the first is connected.

    sockref check --server 'python3 examples/student/threaded_echo.py {port}' --service echo --proto tcp
"""

import socket
import sys
import threading


def serve(client):
    try:
        while True:
            data = client.recv(1024)  # read()
            if not data:
                break
            client.sendall(data)  # write()
    except OSError:
        pass  # the client reset the connection: it is gone
    client.close()  # close()


def main():
    port = int(sys.argv[1])
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))  # bind()
    server.listen(5)  # listen()
    while True:
        client, _ = server.accept()  # accept()
        # The thread serves this client; the loop goes straight back to accept().
        threading.Thread(target=serve, args=(client,), daemon=True).start()


if __name__ == "__main__":
    main()
