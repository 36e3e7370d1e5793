"""When did a client's bytes reach the emulator: the kernel's receive time stamp of a TCP socket.

A controller judges its RTDE watchdog by when each update arrives. The emulator is a Python process
on a shared machine: the thread that reads a package may run tens of milliseconds after the package
arrived. Reading the kernel's stamp (``SO_TIMESTAMPNS``, Linux) keeps that lag out of the watchdog,
so a trip means the client really fell silent. Where the kernel gives no stamp, the read time is
used (the emulator's lag then counts, as before).
"""

from __future__ import annotations

import contextlib
import socket
import struct
import time

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)   # Linux's value; Python 3.11 does not export it
_TIMESPEC = struct.Struct("@qq")                          # struct timespec: tv_sec, tv_nsec
_ANCILLARY_SPACE = socket.CMSG_SPACE(_TIMESPEC.size)


def enable(sock: socket.socket) -> bool:
    """Ask the kernel to stamp ``sock``'s received data; False where it cannot."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    except OSError:
        return False
    return True


def receive(sock: socket.socket, count: int) -> tuple[bytes, float, bool]:
    """Up to ``count`` bytes, when they arrived (``time.monotonic()`` clock), and whether that time is the
    kernel's stamp (False: the read time; the kernel starts stamping a moment after it is asked to)."""
    data, ancillary, _flags, _address = sock.recvmsg(count, _ANCILLARY_SPACE)
    read_at = time.monotonic()
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(payload) >= _TIMESPEC.size:
            seconds, nanoseconds = _TIMESPEC.unpack(payload[:_TIMESPEC.size])
            waited = time.time() - (seconds + nanoseconds * 1e-9)   # both on the real-time clock
            return data, read_at - max(0.0, waited), True
    return data, read_at, False


def has_unread_data(sock: socket.socket) -> bool:
    """Whether bytes from the peer wait in ``sock`` unread (not an end of stream, not an error)."""
    with contextlib.suppress(BlockingIOError, InterruptedError):
        try:
            return bool(sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
        except OSError:
            return False
    return False
