"""Hold every packet of an NFQUEUE for a fixed time, then let it go: netem's ``delay`` without sch_netem.

    ip netns exec HOST python3 scripts/link_delay.py --queue 7 --delay 0.2

Some kernels (the test machine's among them) ship without the ``sch_netem``
qdisc, and with none of tc's classifiers, so ``tc`` alone cannot delay a
link. Netfilter's queue can: an ``iptables ... -j NFQUEUE --queue-num 7``
rule hands each matching packet to this process, which gives its verdict
(accept) ``--delay`` seconds later, in arrival order, so nothing is
reordered. Loss needs no helper: ``-m statistic --mode random`` drops.

Speaks the nfnetlink_queue protocol over a raw netlink socket (no
libnetfilter_queue, nothing to compile); it asks for packet metadata only,
never the payload. The queue is bound fail-open: a packet that finds the
queue full is accepted rather than dropped, and ``--queue-bypass`` on the
rule lets packets through if this process is gone. SIGTERM or SIGINT lets
every held packet go before it exits.
"""

from __future__ import annotations

import argparse
import collections
import errno
import signal
import socket
import struct
import sys
import time

NETLINK_NETFILTER = 12
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET = 0
NFQNL_MSG_VERDICT = 1
NFQNL_MSG_CONFIG = 2
NFQA_PACKET_HDR = 1
NFQA_VERDICT_HDR = 2
NFQA_CFG_CMD = 1
NFQA_CFG_PARAMS = 2
NFQA_CFG_QUEUE_MAXLEN = 3
NFQA_CFG_MASK = 4
NFQA_CFG_FLAGS = 5
NFQNL_CFG_CMD_BIND = 1
NFQNL_COPY_META = 1
NFQA_CFG_F_FAIL_OPEN = 1
NF_ACCEPT = 1
NLM_F_REQUEST = 1
NLM_F_ACK = 4
NLMSG_ERROR = 2
QUEUE_MAXLEN = 20000
RECEIVE_BUFFER = 8 << 20


def attribute(kind: int, payload: bytes) -> bytes:
    """One netlink attribute, padded to 4 bytes."""
    raw = struct.pack("=HH", 4 + len(payload), kind) + payload
    return raw + b"\0" * (-len(raw) % 4)


def message(kind: int, queue: int, attributes: bytes, flags: int = NLM_F_REQUEST, seq: int = 0) -> bytes:
    """An nfnetlink message of the queue subsystem: netlink header, nfgenmsg, attributes."""
    body = struct.pack("!BBH", socket.AF_UNSPEC, 0, queue) + attributes
    return struct.pack("=IHHII", 16 + len(body), (NFNL_SUBSYS_QUEUE << 8) | kind, flags, seq, 0) + body


def attributes_of(raw: bytes) -> dict[int, bytes]:
    found = {}
    offset = 0
    while offset + 4 <= len(raw):
        length, kind = struct.unpack_from("=HH", raw, offset)
        if length < 4:
            break
        found[kind & 0x7FFF] = raw[offset + 4 : offset + length]
        offset += (length + 3) & ~3
    return found


class Queue:
    def __init__(self, number: int) -> None:
        self.number = number
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        self.sock.bind((0, 0))
        self.seq = 0

    def configure(self, attributes: bytes) -> None:
        """Send one config message and wait for the kernel's acknowledgement (an error raises)."""
        self.seq += 1
        self.sock.send(message(NFQNL_MSG_CONFIG, self.number, attributes, NLM_F_REQUEST | NLM_F_ACK, self.seq))
        while True:
            raw = self.sock.recv(65536)
            _length, kind, _flags, seq, _pid = struct.unpack_from("=IHHII", raw)
            if kind == NLMSG_ERROR and seq == self.seq:
                (code,) = struct.unpack_from("=i", raw, 16)
                if code:
                    raise OSError(-code, f"nfqueue {self.number} config: {errno.errorcode.get(-code, code)}")
                return

    def bind(self) -> None:
        self.configure(attribute(NFQA_CFG_CMD, struct.pack("!BxH", NFQNL_CFG_CMD_BIND, socket.AF_INET)))
        self.configure(attribute(NFQA_CFG_PARAMS, struct.pack("!IB", 0, NFQNL_COPY_META)))
        self.configure(attribute(NFQA_CFG_QUEUE_MAXLEN, struct.pack("!I", QUEUE_MAXLEN)))
        flags = struct.pack("!I", NFQA_CFG_F_FAIL_OPEN)
        self.configure(attribute(NFQA_CFG_FLAGS, flags) + attribute(NFQA_CFG_MASK, flags))

    def packet_ids(self, timeout: float | None) -> list[int]:
        """The ids of the packets queued since the last call; [] once ``timeout`` passes."""
        self.sock.settimeout(timeout)
        try:
            raw = self.sock.recv(262144)
        except TimeoutError:
            return []
        except OSError as exc:
            if exc.errno == errno.ENOBUFS:  # we fell behind: the kernel accepted those (fail-open)
                return []
            raise
        ids = []
        offset = 0
        while offset + 16 <= len(raw):
            length, kind, _flags, _seq, _pid = struct.unpack_from("=IHHII", raw, offset)
            if length < 16:
                break
            if kind == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
                header = attributes_of(raw[offset + 20 : offset + length]).get(NFQA_PACKET_HDR)
                if header:
                    ids.append(struct.unpack_from("!I", header)[0])
            offset += (length + 3) & ~3
        return ids

    def accept(self, packet_id: int) -> None:
        verdict = attribute(NFQA_VERDICT_HDR, struct.pack("!II", NF_ACCEPT, packet_id))
        self.sock.send(message(NFQNL_MSG_VERDICT, self.number, verdict))


def run(number: int, delay: float) -> None:
    queue = Queue(number)
    queue.bind()
    held: collections.deque[tuple[float, int]] = collections.deque()
    stopping = False

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"nfqueue {number}: holding every packet {delay * 1000:.0f} ms", flush=True)
    while not stopping:
        now = time.monotonic()
        while held and held[0][0] <= now:
            queue.accept(held.popleft()[1])
        wait = max(0.0, held[0][0] - now) if held else 0.5
        arrived = queue.packet_ids(wait)
        due = time.monotonic() + delay
        held.extend((due, packet_id) for packet_id in arrived)
    while held:
        queue.accept(held.popleft()[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--queue", type=int, required=True, help="the NFQUEUE number of the iptables rule")
    parser.add_argument("--delay", type=float, required=True, help="seconds each packet is held")
    args = parser.parse_args(argv)
    run(args.queue, args.delay)
    return 0


if __name__ == "__main__":
    sys.exit(main())
