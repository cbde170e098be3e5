#!/usr/bin/env python3
"""dns-query.py SERVER NAME: asks SERVER (UDP port 53) for NAME's A records; prints them, one per line, and
exits 1 when there is none (NXDOMAIN, refused, or no answer within 2 s). For the local environment's checks
of cluster DNS, where no dig is installed."""

import random
import socket
import struct
import sys


def query(server, name):
    ident = random.randrange(1 << 16)
    question = b"".join(bytes([len(label)]) + label.encode() for label in name.rstrip(".").split(".")) + b"\0"
    packet = struct.pack(">HHHHHH", ident, 0x0100, 1, 0, 0, 0) + question + struct.pack(">HH", 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2)
        sock.sendto(packet, (server, 53))
        reply, _ = sock.recvfrom(4096)
    answer_id, flags, _, answers, _, _ = struct.unpack(">HHHHHH", reply[:12])
    if answer_id != ident or flags & 0xF:
        return []
    offset = 12 + len(question) + 4
    addresses = []
    for _ in range(answers):
        # Names in answers are compressed pointers (2 bytes) or labels ending in a zero byte.
        while reply[offset] not in (0,) and reply[offset] & 0xC0 != 0xC0:
            offset += reply[offset] + 1
        offset += 2 if reply[offset] & 0xC0 == 0xC0 else 1
        kind, _, _, length = struct.unpack(">HHIH", reply[offset:offset + 10])
        offset += 10
        if kind == 1 and length == 4:
            addresses.append(socket.inet_ntoa(reply[offset:offset + 4]))
        offset += length
    return addresses


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    try:
        addresses = query(sys.argv[1], sys.argv[2])
    except OSError as error:
        sys.exit(f"{sys.argv[2]}: {error}")
    if not addresses:
        sys.exit(f"{sys.argv[2]}: no A record from {sys.argv[1]}")
    print("\n".join(addresses))


if __name__ == "__main__":
    main()
