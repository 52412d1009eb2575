"""Who may store to us, and the PACS nodes we query.

AE titles are free text any peer can claim, so an entry may pin the peer's address too.
A PACS node whose AE title delivers C-MOVE results to us is allowed from its own host.
"""

from __future__ import annotations

import ipaddress
import socket

from studies.models import KnownSender, PacsNode


class UnknownNode(LookupError):
    pass


def get_node(name: str) -> PacsNode:
    try:
        return PacsNode.objects.get(name=name)
    except PacsNode.DoesNotExist:
        known = ", ".join(PacsNode.objects.values_list("name", flat=True)) or "none configured"
        raise UnknownNode(f"no PACS node named {name!r} (known: {known})")


def _normalise(address: str) -> str:
    try:
        ip = ipaddress.ip_address(address.strip().strip("[]"))
    except ValueError:
        return address.strip().lower()
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return str(ip)


def host_matches(configured: str, peer_address: str) -> bool:
    """True when the peer's IP is the configured IP, or one the configured name resolves to."""
    configured = configured.strip()
    peer = _normalise(peer_address)
    if _normalise(configured) == peer:
        return True
    try:
        ipaddress.ip_address(configured.strip("[]"))
        return False  # a literal address that did not match
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(configured, None, proto=socket.IPPROTO_TCP)
    except OSError:
        return False
    return any(_normalise(str(info[4][0])) == peer for info in infos)


def refusal_reason(calling_ae_title: str, peer_address: str) -> str:
    """Why ``calling_ae_title`` connecting from ``peer_address`` may not store; "" if it may."""
    title = calling_ae_title.strip()
    senders = list(KnownSender.objects.filter(ae_title=title, enabled=True))
    nodes = list(PacsNode.objects.filter(ae_title=title, enabled=True, may_store=True))
    if not senders and not nodes:
        return f"calling AE title {title!r} is not a known sender"
    for sender in senders:
        if not sender.host or host_matches(sender.host, peer_address):
            return ""
    for node in nodes:
        if host_matches(node.host, peer_address):
            return ""
    return f"calling AE title {title!r} is known, but not from address {peer_address}"
