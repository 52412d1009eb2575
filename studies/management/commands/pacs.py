"""Manage PACS nodes and known senders: add, list, echo, remove, allow, disallow."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from studies.models import KnownSender, PacsNode
from studies.pacs import scu
from studies.pacs.nodes import UnknownNode, get_node


def _errors(exc: ValidationError) -> str:
    return "; ".join(
        f"{field}: {' '.join(messages)}" for field, messages in exc.message_dict.items()
    )


class Command(BaseCommand):
    help = "PACS nodes we query and retrieve from, and the AE titles allowed to store to us."

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        add = sub.add_parser("add", help="add or update a PACS node")
        add.add_argument("name", help="short name (letters, digits, - and _)")
        add.add_argument("--aet", required=True, help="the PACS's AE title")
        add.add_argument("--host", required=True)
        add.add_argument("--port", type=int, required=True)
        add.add_argument("--method", choices=["move", "get"], default="move")
        add.add_argument("--local-aet", default="", help="our AE title towards it")
        add.add_argument(
            "--no-store", action="store_true", help="do not accept C-STORE from this node"
        )
        sub.add_parser("list", help="list PACS nodes and known senders")
        echo = sub.add_parser("echo", help="C-ECHO a PACS node")
        echo.add_argument("name")
        remove = sub.add_parser("remove", help="remove a PACS node without jobs")
        remove.add_argument("name")
        allow = sub.add_parser("allow", help="let an AE title store to our listener")
        allow.add_argument("aet")
        allow.add_argument("--host", default="", help="only from this address")
        allow.add_argument("--description", default="")
        disallow = sub.add_parser("disallow", help="remove a known sender")
        disallow.add_argument("aet")

    def handle(self, *args, action: str, **options) -> None:
        getattr(self, f"_{action}")(**options)

    def _add(self, name, aet, host, port, method, local_aet, no_store, **_) -> None:
        node = PacsNode.objects.filter(name=name).first() or PacsNode(name=name)
        node.ae_title, node.host, node.port = aet.strip(), host.strip(), port
        node.retrieve_method, node.local_ae_title = method, local_aet.strip()
        node.may_store = not no_store
        try:
            node.full_clean()
        except ValidationError as exc:
            raise CommandError(_errors(exc))
        created = node.pk is None
        node.save()
        self.stdout.write(f"{'added' if created else 'updated'} {node}")

    def _list(self, **_) -> None:
        nodes = PacsNode.objects.all()
        if not nodes:
            self.stdout.write("no PACS nodes (add one: manage.py pacs add NAME --aet ...)")
        for node in nodes:
            echo = "never tested"
            if node.last_echo_at:
                outcome = "ok" if node.last_echo_ok else "FAILED"
                echo = f"echo {outcome} {timezone.localtime(node.last_echo_at):%Y-%m-%d %H:%M}"
            self.stdout.write(
                f"{node.name}\t{node.ae_title}@{node.host}:{node.port}\t"
                f"{node.retrieve_method}\tcalling as {node.calling_ae_title}\t"
                f"{'enabled' if node.enabled else 'disabled'}\t{echo}"
            )
        for sender in KnownSender.objects.all():
            where = f" from {sender.host}" if sender.host else " from any address"
            state = "" if sender.enabled else " (disabled)"
            self.stdout.write(f"sender\t{sender.ae_title}{where}{state}")

    def _echo(self, name, **_) -> None:
        try:
            node = get_node(name)
        except UnknownNode as exc:
            raise CommandError(str(exc))
        result = scu.echo(node)
        PacsNode.objects.filter(pk=node.pk).update(
            last_echo_at=timezone.now(),
            last_echo_ok=result.ok,
            last_echo_message=result.message[:300],
        )
        if not result.ok:
            raise CommandError(f"{node.name}: {result.message}")
        self.stdout.write(f"{node.name}: {result.message}")

    def _remove(self, name, **_) -> None:
        try:
            node = get_node(name)
        except UnknownNode as exc:
            raise CommandError(str(exc))
        if node.retrieve_jobs.exists():
            raise CommandError(f"{name} has retrieve jobs; disable it in the admin instead")
        node.delete()
        self.stdout.write(f"removed {name}")

    def _allow(self, aet, host, description, **_) -> None:
        sender = KnownSender.objects.filter(ae_title=aet.strip()).first() or KnownSender()
        sender.ae_title, sender.host = aet.strip(), host.strip()
        sender.description, sender.enabled = description, True
        try:
            sender.full_clean()
        except ValidationError as exc:
            raise CommandError(_errors(exc))
        sender.save()
        self.stdout.write(f"{sender.ae_title} may store" + (f" from {host}" if host else ""))

    def _disallow(self, aet, **_) -> None:
        deleted, _ = KnownSender.objects.filter(ae_title=aet.strip()).delete()
        if not deleted:
            raise CommandError(f"{aet!r} is not a known sender")
        self.stdout.write(f"{aet} may no longer store")
