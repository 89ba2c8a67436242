"""Which addresses a partner endpoint may point at: the webhook API checks a URL's host when it is
set (service/webhooks.py), the delivery checks every address it connects to (DNS rebinding)."""

from __future__ import annotations

import ipaddress


def private_address(address: str) -> bool:
    """True for addresses a server must not be made to call for a stranger: private, loopback,
    link-local, unspecified, multicast or reserved ranges, also inside IPv6 (mapped, 6to4,
    Teredo)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        # an IPv4 address carried in IPv6 (mapped, 6to4, Teredo's client) is judged as IPv4
        carried = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if carried is not None and private_address(str(carried)):
            return True
    return (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_unspecified
            or ip.is_multicast or ip.is_reserved or not ip.is_global)


def literal_address(host: str) -> str | None:
    """The host as an IP address if it is one (`[::1]` included), else None."""
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return None
