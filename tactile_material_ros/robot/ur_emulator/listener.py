"""A TCP listener that serves each client in its own thread; the three protocol servers build on it."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from abc import ABC, abstractmethod

log = logging.getLogger(__name__)


class ClientSession(ABC):
    """One accepted connection. Subclasses implement ``serve`` (return or raise ``OSError`` to end it)."""

    def __init__(self, sock: socket.socket, address: tuple[str, int]) -> None:
        self.sock = sock
        self.peer = f"{address[0]}:{address[1]}"
        self._send_lock = threading.Lock()
        self._closed = threading.Event()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    @abstractmethod
    def serve(self) -> None:
        """Serve the client until it leaves (the protocol's own loop)."""

    def read_exact(self, count: int) -> bytes | None:
        """``count`` bytes, or None when the client closed the connection."""
        data = bytearray()
        while len(data) < count:
            chunk = self.sock.recv(count - len(data))
            if not chunk:
                return None
            data.extend(chunk)
        return bytes(data)

    def send(self, data: bytes) -> bool:
        """Send all of ``data``; False when the connection is gone."""
        try:
            with self._send_lock:
                self.sock.sendall(data)
            return True
        except OSError as exc:
            log.debug("send to %s failed: %s", self.peer, exc)
            self.close()
            return False

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        with contextlib.suppress(OSError):   # the peer may already have gone
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


class Listener(ABC):
    """Accepts clients on ``host``:``port`` and runs ``make_session(...).serve()`` for each in a thread."""

    def __init__(self, name: str, host: str, port: int) -> None:
        self.name = name
        self.host = host
        self.port = port
        self._sock: socket.socket | None = None
        self._sessions: list[ClientSession] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @abstractmethod
    def make_session(self, sock: socket.socket, address: tuple[str, int]) -> ClientSession:
        """The protocol's session for one accepted connection."""

    def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            raise OSError(f"{self.name} server cannot listen on {self.host}:{self.port}: {exc}; is another emulator "
                          "or a controller already using that address? Pick another loopback address, e.g. "
                          "--host 127.0.0.2") from exc
        sock.listen(8)
        self._sock = sock
        self._thread = threading.Thread(target=self._accept, name=f"{self.name}-accept", daemon=True)
        self._thread.start()
        log.info("%s server listening on %s:%d", self.name, self.host, self.port)

    def _accept(self) -> None:
        assert self._sock is not None
        while True:
            try:
                client, address = self._sock.accept()
            except OSError:
                return                                   # the listener was closed
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            session = self.make_session(client, address)
            with self._lock:
                self._sessions = [s for s in self._sessions if not s.closed] + [session]
            log.info("%s client connected from %s", self.name, session.peer)
            threading.Thread(target=self._serve, args=(session,), name=f"{self.name}-{session.peer}",
                             daemon=True).start()

    def _serve(self, session: ClientSession) -> None:
        try:
            session.serve()
        except OSError as exc:
            log.info("%s client %s: connection ended (%s)", self.name, session.peer, exc)
        finally:
            session.close()
            log.info("%s client %s disconnected", self.name, session.peer)

    @property
    def clients(self) -> int:
        with self._lock:
            return sum(not s.closed for s in self._sessions)

    def drop_clients(self) -> None:
        """Close every client connection (a dropped link); new clients are still accepted."""
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()

    def close(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):   # a listening socket has no peer to shut down
                self._sock.shutdown(socket.SHUT_RDWR)
            self._sock.close()
            self._sock = None
        self.drop_clients()
