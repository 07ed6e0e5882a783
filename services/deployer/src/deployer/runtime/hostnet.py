"""Host network: pin a container network's bridge MAC address so it stops following its ports.

A Linux bridge whose address was never set takes the lowest MAC of its ports, so it changes whenever a
container joins or leaves (Podman/netavark leaves it unset; Docker sets it). Every other container still
sends to the old gateway MAC, and its replies are dropped until its neighbour entry is re-resolved: seconds
during which established connections stall. Setting the bridge's address (to the one it has) fixes it.
Needs CAP_NET_ADMIN on the engine's host; elsewhere (remote or rootless engine) it is a no-op.
"""

from __future__ import annotations

import fcntl
import logging
import socket
import struct
from pathlib import Path

log = logging.getLogger(__name__)

SIOCGIFADDR = 0x8915
SIOCSIFHWADDR = 0x8924
ARPHRD_ETHER = 1
NET_ADDR_SET = "3"  # /sys/class/net/<if>/addr_assign_type once an address was set explicitly
SYS = Path("/sys/class/net")


def interface_with_address(ip: str) -> str | None:
    """The host interface carrying IPv4 `ip` (a network's gateway is its bridge), None when there is none."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _, name in socket.if_nameindex():
            try:
                answer = fcntl.ioctl(s.fileno(), SIOCGIFADDR, struct.pack("256s", name.encode()[:15]))
            except OSError:
                continue  # no IPv4 address
            if socket.inet_ntoa(answer[20:24]) == ip:
                return name
    return None


def is_pinned(interface: str) -> bool:
    return (SYS / interface / "addr_assign_type").read_text().strip() == NET_ADDR_SET


def pin_mac(interface: str) -> bool:
    """Set `interface`'s MAC to its current value (no change on the wire); True when it is pinned now."""
    if is_pinned(interface):
        return True
    mac = bytes.fromhex((SYS / interface / "address").read_text().strip().replace(":", ""))
    request = struct.pack("16sH6s8x", interface.encode()[:15], ARPHRD_ETHER, mac)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        fcntl.ioctl(s.fileno(), SIOCSIFHWADDR, request)
    return is_pinned(interface)


def pin_bridge(gateway: str) -> str | None:
    """Pin the bridge carrying `gateway`; its name, or None when there is none here or it cannot be pinned."""
    interface = interface_with_address(gateway)
    if interface is None or not (SYS / interface / "bridge").exists():
        return None  # no bridge yet (Podman creates it with the first container) or not on this host
    try:
        return interface if pin_mac(interface) else None
    except OSError as exc:  # no CAP_NET_ADMIN
        log.warning("cannot pin the MAC address of bridge %s (%s): rollouts may stall other containers", interface, exc)
        return None
