#!/usr/bin/env python3
"""Prints COUNT (default 1) distinct free TCP ports on 127.0.0.1, one per line, for servers the environment
starts (and may restart on the same port).

They are chosen below the kernel's ephemeral range, so an outgoing connection can never take one between
choosing and binding, or while its server is stopped for an outage test. Ask for all the ports of one start
in one call: separate calls may return the same port, since nothing holds it until its server binds.
"""
import random
import socket
import sys

count = int(sys.argv[1]) if len(sys.argv) > 1 else 1
with open("/proc/sys/net/ipv4/ip_local_port_range") as ports:
    ephemeral_low = int(ports.read().split()[0])
chosen = []
for port in random.sample(range(10000, ephemeral_low), k=min(20 * count + 200, ephemeral_low - 10000)):
    if len(chosen) == count:
        break
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            continue
    chosen.append(port)
if len(chosen) < count:
    raise SystemExit(f"only {len(chosen)} of {count} free ports below the ephemeral range")
print("\n".join(map(str, chosen)))
