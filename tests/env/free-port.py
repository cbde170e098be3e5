#!/usr/bin/env python3
"""Prints a free TCP port on 127.0.0.1 for a server the environment starts (and may restart on the same port).

Chosen below the kernel's ephemeral range, so an outgoing connection can never take it between choosing and
binding, or while its server is stopped for an outage test.
"""
import random
import socket

with open("/proc/sys/net/ipv4/ip_local_port_range") as ports:
    ephemeral_low = int(ports.read().split()[0])
for _ in range(200):
    port = random.randrange(10000, ephemeral_low)
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            continue
    print(port)
    break
else:
    raise SystemExit("no free port below the ephemeral range")
