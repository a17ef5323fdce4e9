"""A forward proxy that only tunnels (CONNECT), for tests/suite/tls.rs.

    python3 connect_proxy.py PORT_FILE LOG_FILE

Listens on a free loopback port, writes it to PORT_FILE, and appends one line per request to
LOG_FILE: the method, the target and whether a Proxy-Authorization header came (never its
value). CONNECT host:port is answered 200 and relayed both ways; anything else is refused.
"""
import socket
import sys
import threading

port_file, log_file = sys.argv[1], sys.argv[2]


def relay(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def handle(client):
    head = b""
    while b"\r\n\r\n" not in head:
        data = client.recv(4096)
        if not data:
            client.close()
            return
        head += data
    lines = head.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    method, target = lines[0].split(" ")[:2]
    auth = any(h.lower().startswith("proxy-authorization:") for h in lines[1:])
    with open(log_file, "a") as log:
        log.write(f"{method} {target} {'auth' if auth else 'no-auth'}\n")
    if method != "CONNECT":
        client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
        client.close()
        return
    host, port = target.rsplit(":", 1)
    upstream = socket.create_connection((host, int(port)))
    client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
    threading.Thread(target=relay, args=(client, upstream), daemon=True).start()
    relay(upstream, client)


server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", 0))
server.listen(32)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.getsockname()[1]))
import os

os.rename(port_file + ".tmp", port_file)
while True:
    conn, _ = server.accept()
    threading.Thread(target=handle, args=(conn,), daemon=True).start()
