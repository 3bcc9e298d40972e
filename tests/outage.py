"""A loopback TCP proxy in front of a server that can go away: while it is down, nothing listens on
its port (a connection is refused, as from a host whose service stopped) and the connections it
carried are cut; up again, on the same port."""

from __future__ import annotations

import socket
import struct
import threading
from urllib.parse import urlsplit


class Outage:
    def __init__(self, upstream: str):
        target = urlsplit(upstream)
        self.upstream = (target.hostname, target.port)
        self.lock = threading.Lock()
        self.connections: list[socket.socket] = []
        self.listener: socket.socket | None = None
        self.port = 0
        self.outages = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Outage:
        self.up()
        return self

    def __exit__(self, *exc) -> None:
        self.down()

    def up(self) -> None:
        """Listen (again) on the proxy's port and carry connections to the upstream."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self, reset: bool = False) -> None:
        """Stop listening and cut every connection: calls are refused until ``up``. With ``reset``, each
        connection ends as a broken network ends it (TCP RST), not with a close (FIN)."""
        with self.lock:
            listener, self.listener = self.listener, None
            connections, self.connections = self.connections, []
        if listener is not None:
            self.outages += 1
            listener.close()
        if reset:  # closed with no lingering: the kernel sends RST
            for connection in connections:
                try:
                    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                except OSError:
                    pass
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)  # also wakes the pipe blocked reading it
            except OSError:
                pass
            connection.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed: down
            try:
                server = socket.create_connection(self.upstream, timeout=10)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self.lock:
                if self.listener is not listener:  # went down meanwhile
                    client.close()
                    server.close()
                    return
                self.connections += [client, server]
            for source, target in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(source, target), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:  # one side ended: end both; each pipe closes the socket it read
            for end in (source, target):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            source.close()
