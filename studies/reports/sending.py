"""C-STORE one archived instance to a PACS node (PS3.4 B.2, Storage Service Class SCU)."""

from __future__ import annotations

from pydicom import dcmread
from pynetdicom.presentation import build_context

from studies.models import Instance, PacsNode
from studies.pacs import scu
from studies.rendering import instance_path


def send(instance: Instance, node: PacsNode) -> None:
    """Store ``instance`` on ``node`` in its stored transfer syntax; raise scu.PacsError."""
    ds = dcmread(instance_path(instance))
    context = build_context(instance.sop_class_uid, [instance.transfer_syntax_uid])
    with scu.associate(node, [context]) as assoc:
        status = assoc.send_c_store(ds)
        code = getattr(status, "Status", None)
        # PS3.4 B.2.3: 0000 success; B000, B007, B006 warnings (stored with coercion).
        if code is None or (code != 0x0000 and code not in (0xB000, 0xB006, 0xB007)):
            shown = "no answer" if code is None else f"status 0x{code:04X}"
            raise scu.PacsError(f"{node.name} did not store the instance ({shown})")
