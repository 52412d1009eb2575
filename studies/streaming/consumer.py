"""The viewer's websocket (PROTOCOL.md): thin, every request parsed, authorised and answered.

The consumer authenticates in ``connect``, parses each message with ``protocol``, and hands
the work to a task: views to ``Viewports`` (latest wins per viewport), everything else to a
bounded set of request tasks. Database work runs in ``database_sync_to_async``, pixels in
render threads; the event loop only routes messages. All output goes through the socket's
``Outbox``, which bounds what a slow client can make the server hold.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from studies import audit, events
from studies.imaging.errors import (
    DecodeError,
    ImageTooLarge,
    ImagingError,
    InvalidImage,
    InvalidRequest,
    NoPixelData,
    UnsupportedImage,
)
from studies.rendering import get_renderer

from . import protocol
from .access_cache import AccessCache
from .lookup import Target
from .measurements import measure
from .outbox import DEFAULT_MAX_BYTES, DEFAULT_MAX_MESSAGES, Outbox, OutboxOverflow
from .previews import first_instances, preview_store
from .progressive import PrefetchLane, Session, stream_view
from .protocol import Code, ProtocolError
from .reads import read_async
from .scheduler import RenderSlots, Viewports, render_pool
from .stack_lane import StackLane
from .study_outline import load_study_text

log = logging.getLogger(__name__)

# Close code when the client stops reading its messages (RFC 6455 7.4.1: policy violation).
CLOSE_NOT_READING = 1008


class ViewerConsumer(AsyncWebsocketConsumer):
    # Per socket. Class attributes so a deployment (or a test) can subclass and tune them.
    send_buffer_bytes = DEFAULT_MAX_BYTES
    send_buffer_messages = DEFAULT_MAX_MESSAGES
    render_slots = 2  # render threads one socket may occupy at a time
    max_pending = 32  # frame_info / measure / open_study requests in flight
    max_open_studies = 16
    # How long a confirmed right to see a study is trusted before it is checked again
    # (access_cache: the trade-off is explained there and in PROTOCOL.md).
    access_recheck_seconds = 5.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.outbox: Outbox | None = None
        self.viewports: Viewports | None = None
        self._sender: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[None]] = set()
        self._audits: set[asyncio.Task[Any]] = set()
        self._studies: set[str] = set()
        self._lanes: dict[int, PrefetchLane] = {}
        self._stacks: dict[int, StackLane] = {}

    # ------------------------------------------------------------------- lifecycle

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_active:
            await self.close()  # before accept: the handshake is refused (HTTP 403)
            return
        self.user = user
        self.outbox = Outbox(
            self._transmit,
            max_bytes=self.send_buffer_bytes,
            max_messages=self.send_buffer_messages,
        )
        self.viewports = Viewports(self.outbox.supersede)
        self.access = AccessCache(user, recheck_seconds=self.access_recheck_seconds)
        self.session = Session(
            renderer=get_renderer(),
            slots=RenderSlots(render_pool(settings.IMAGING_WORKERS), self.render_slots),
            outbox=self.outbox,
            find_target=self.access.target,
            find_targets=self.access.targets,
            previews=preview_store(),
        )
        # A study named in the socket's address is opened as by a first `open_study`
        # (PROTOCOL.md "Opening with the handshake"); its access is checked before the
        # handshake completes, so its first picture can leave the moment it does.
        opening, refusal = _open_from_query(self.scope.get("query_string", b""))
        checked = opening is not None and await self.access.check_study(opening.study)
        await self.accept()
        self._sender = asyncio.get_running_loop().create_task(self._send_loop())
        if refusal is not None:
            self._error(refusal)
        elif opening is not None:
            self._spawn(opening.request, self._open_study(opening, checked=checked))

    async def disconnect(self, code: int) -> None:
        await self._stop()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # Also when the server cancels the consumer without a disconnect message
            # (shutdown): no task of this socket may outlive it.
            await self._stop()

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Channels' dispatch without its ``aclose_old_connections`` per message.

        Channels closes stale connections of its one shared database thread before every
        handler, a hop to that thread for each websocket message and channel event: every
        ``view`` waited behind whatever that thread was doing (another socket's audit
        write). Nothing here uses that thread's connection unguarded: reads run on the
        read pool and writes through ``database_sync_to_async``, both of which close stale
        connections themselves.
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def _stop(self) -> None:
        if self.viewports is not None:
            await self.viewports.close()
        for lane in self._lanes.values():
            await lane.close()
        for stack in self._stacks.values():
            await stack.close()
        for task in list(self._pending):
            task.cancel()
        await asyncio.gather(*self._pending, return_exceptions=True)
        await asyncio.gather(*self._audits, return_exceptions=True)
        if self.outbox is not None:
            self.outbox.close()
        if self._sender is not None:
            self._sender.cancel()
            await asyncio.gather(self._sender, return_exceptions=True)

    async def _send_loop(self) -> None:
        assert self.outbox is not None
        try:
            await self.outbox.run()
        except Exception:  # the client went away mid-send; disconnect cleans up
            log.info("viewer socket send failed", exc_info=True)

    async def _transmit(self, data: str | bytes) -> None:
        if isinstance(data, str):
            await self.send(text_data=data)
        else:
            await self.send(bytes_data=data)

    # -------------------------------------------------------------------- requests

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is None:
            self._error(ProtocolError(Code.BAD_REQUEST, "requests are JSON text messages"))
            return
        try:
            request = protocol.parse(text_data)
        except ProtocolError as error:
            self._error(error)
            return
        match request:
            case protocol.Ping():
                self._reply({"type": "pong"})
            case protocol.View():
                arrived = asyncio.get_running_loop().time()
                assert self.viewports is not None
                self.viewports.start(
                    request.viewport,
                    lambda generation: self._view(request, generation, arrived),
                )
            case protocol.Cancel():
                assert self.viewports is not None
                self.viewports.cancel(request.viewport)
                if request.viewport in self._lanes:
                    self._lanes[request.viewport].stop()
                if request.viewport in self._stacks:
                    self._stacks[request.viewport].stop()
            case protocol.Previews():
                stack = self._stacks.get(request.viewport)
                if stack is None:
                    viewport = request.viewport
                    stack = self._stacks[viewport] = StackLane(
                        self.session,
                        viewport,
                        self._lane(viewport),
                        lambda: self.viewports.wait_idle(viewport),  # type: ignore[union-attr]
                    )
                stack.aim(request)
            case protocol.OpenStudy():
                self._spawn(request.request, self._open_study(request))
            case protocol.FrameInfoRequest():
                self._spawn(request.request, self._frame_info(request))
            case protocol.Measure():
                self._spawn(request.request, self._measure(request))

    async def _view(self, view: protocol.View, generation: int, arrived: float) -> None:
        try:
            await stream_view(self.session, view, generation, arrived, self._lane(view.viewport))
        except asyncio.CancelledError:
            raise
        except Exception as error:
            failure = _as_protocol_error(error, view.request, view.viewport)
            self._reply(protocol.error_message(failure), view.viewport, generation)

    def _lane(self, viewport: int) -> PrefetchLane:
        lane = self._lanes.get(viewport)
        if lane is None:
            lane = self._lanes[viewport] = PrefetchLane(self.session, viewport)
        return lane

    async def _open_study(self, request: protocol.OpenStudy, *, checked: bool = False) -> None:
        uid = request.study
        first_open = uid not in self._studies
        wants_picture = request.preview is not None and request.request is not None
        # Checked before anything (PROTOCOL.md: an open_study is always checked at once),
        # through the socket's access cache, so a refresh also renews its confirmation;
        # the outline then reads the study without asking again.
        if not checked:
            if not await self.access.check_study(uid):
                raise ProtocolError(Code.NOT_FOUND, f"no study {uid} that you may view")
            checked = True
        if first_open:
            if len(self._studies) >= self.max_open_studies:
                raise ProtocolError(
                    Code.BAD_REQUEST, f"a socket opens at most {self.max_open_studies} studies"
                )
            # Join before reading the outline: an instance stored in between is announced
            # (perhaps before the outline arrives) rather than missed.
            group = events.study_group(uid)
            await self.channel_layer.group_add(group, self.channel_name)
            self.groups.append(group)  # the base class leaves the groups on disconnect
            self._studies.add(uid)
        checked_at = self.access.now()
        store = self.session.previews
        sent_first = False
        known = first_instances.get(uid) if wants_picture and store is not None else None
        if known:
            # This process has opened the study before and kept its first picture: it goes
            # now, before the outline is read (PROTOCOL.md ``first_picture``).
            early = _pick_first(known, request.preview)
            if store is not None and store.remembered(early.path, 0):
                self.access.remember([early], checked_at)
                sent_first = await self._push_first(request, early)
        loaded = await read_async(_outline_text)(self.user, uid, request.request, checked)
        if loaded is None:
            self.access.forget_checks()
            raise ProtocolError(Code.NOT_FOUND, f"no study {uid} that you may view")
        outline, targets, firsts, patient = loaded
        # The outline read every instance of the study, access included: the views that
        # follow find their files in memory.
        self.access.remember(targets, checked_at)
        by_uid = {target.sop_instance_uid: target for target in targets}
        first_targets = {series: by_uid[instance] for series, instance in firsts.items()}
        first_instances.remember(uid, first_targets)
        first = _pick_first(first_targets, request.preview) if wants_picture and firsts else None
        if first is not None and not sent_first:
            if store is not None and store.remembered(first.path, 0):
                # Ready in memory: it goes before the outline (tens of KB on a slow line),
                # which the browser reads while it decodes the picture.
                await self._push_first(request, first)
                first = None
        self.outbox.put_text(outline)  # type: ignore[union-attr]
        if first is not None and not sent_first:
            await self._push_first(request, first)
        if first_open:
            # One image session per study and socket: an outline refresh is not another.
            # Its own task, awaited (never cancelled) when the socket stops: the outline
            # has gone, so the access happened even if the client leaves at once.
            record = database_sync_to_async(audit.record)(
                audit.Kind.IMAGE_SESSION,
                request=self.scope,
                user=self.user,
                study_uid=uid,
                patient_id=patient["id"] or "",
                patient_name=patient["name"] or "",
            )
            task = asyncio.get_running_loop().create_task(record)
            self._audits.add(task)
            task.add_done_callback(self._audits.discard)

    async def _push_first(self, request: protocol.OpenStudy, target: Target) -> bool:
        """The first picture: a ``first_picture`` naming it, then the pixels."""
        assert request.request is not None
        self._reply(
            {
                "type": "first_picture",
                "request": request.request,
                "study": request.study,
                "instance": target.sop_instance_uid,
                "frame": 0,
            }
        )
        try:
            await self._lane(0).push(request.request, target)
        except ImagingError as error:  # the view of that frame will report it
            log.info("no first preview for study %s: %s", request.study, error)
            return False
        return True

    async def _frame_info(self, request: protocol.FrameInfoRequest) -> None:
        target = await self.session.find_target(request.instance)
        if target is None:
            raise ProtocolError(Code.NOT_FOUND, f"no instance {request.instance} that you may view")
        info = await self.session.slots.run(
            self.session.renderer.frame_info, target.path, request.frame
        )
        self._reply({"type": "frame_info", "request": request.request, **info.as_dict()})

    async def _measure(self, request: protocol.Measure) -> None:
        target = await self.session.find_target(request.instance)
        if target is None:
            raise ProtocolError(Code.NOT_FOUND, f"no instance {request.instance} that you may view")
        answer = await self.session.slots.run(measure, self.session.renderer, target.path, request)
        self._reply(answer)

    # ------------------------------------------------------------------ live events

    async def instance_stored(self, event: dict[str, Any]) -> None:
        """Channel layer ``instance.stored`` (studies.events): tell the viewer."""
        if event.get("study_uid") in self._studies:
            self._reply(
                {
                    "type": "instance_stored",
                    "study": event["study_uid"],
                    "series": event.get("series_uid"),
                    "instance": event.get("sop_instance_uid"),
                }
            )

    # -------------------------------------------------------------------- plumbing

    def _spawn(self, request: int | None, work: Awaitable[None]) -> None:
        if len(self._pending) >= self.max_pending:
            work.close()  # type: ignore[attr-defined]
            self._error(
                ProtocolError(
                    Code.BAD_REQUEST,
                    f"at most {self.max_pending} requests may be in flight",
                    request=request,
                )
            )
            return

        async def guarded() -> None:
            try:
                await work
            except asyncio.CancelledError:
                raise
            except Exception as error:
                self._error(_as_protocol_error(error, request, None))

        task = asyncio.get_running_loop().create_task(guarded())
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    def _error(self, error: ProtocolError) -> None:
        self._reply(protocol.error_message(error))

    def _reply(
        self, message: dict[str, Any], viewport: int | None = None, generation: int = 0
    ) -> None:
        if self.outbox is None:
            return
        try:
            self.outbox.put_text(protocol.dumps(message), viewport, generation)
        except OutboxOverflow:
            log.warning("viewer socket closed: the client stopped reading")
            asyncio.get_running_loop().create_task(self.close(code=CLOSE_NOT_READING))


def _outline_text(
    user: Any, study_uid: str, request: int | None, checked: bool = False
) -> tuple[str, list[Target], dict[str, str], dict[str, Any]] | None:
    """The ``study`` message as JSON text, built in a read thread (it can be large), the
    lookup facts of the study's instances, the first instance of each series with
    images (in the outline's order), and the patient. ``checked``: the user's access to
    the study was confirmed just before (the outline need not ask again)."""
    return load_study_text(user, study_uid, request, access_checked=checked)


def _open_from_query(
    query: bytes,
) -> tuple[protocol.OpenStudy | None, ProtocolError | None]:
    """``?open=<study>&request=<n>&preview=<series or true>`` as an ``open_study``."""
    try:
        fields = parse_qs(query.decode("latin-1"), max_num_fields=8)
    except ValueError:
        return None, ProtocolError(Code.BAD_REQUEST, "the socket address has too many fields")
    if "open" not in fields:
        return None, None
    message: dict[str, Any] = {"type": "open_study", "study": fields["open"][0]}
    if "request" in fields:
        text = fields["request"][0]
        message["request"] = int(text) if text.isdigit() and len(text) < 11 else text
    if "preview" in fields:
        preview = fields["preview"][0]
        message["preview"] = True if preview == "true" else preview
    try:
        request = protocol.parse(protocol.dumps(message))
    except ProtocolError as error:
        return None, error
    assert isinstance(request, protocol.OpenStudy)
    return request, None


def _pick_first(firsts: dict[str, Target], preview: str | bool | None) -> Target:
    """The first instance of the series ``preview`` names, else of the first series."""
    named = firsts.get(preview) if isinstance(preview, str) else None
    return named or next(iter(firsts.values()))


def _as_protocol_error(
    error: Exception, request: int | None, viewport: int | None
) -> ProtocolError:
    if isinstance(error, ProtocolError):
        error.request = error.request if error.request is not None else request
        error.viewport = error.viewport if error.viewport is not None else viewport
        return error
    if isinstance(error, ImagingError):
        return ProtocolError(
            _imaging_code(error), error.message, request=request, viewport=viewport
        )
    log.exception("viewer request %s failed", request, exc_info=error)
    return ProtocolError(
        Code.SERVER_ERROR,
        "the server failed on this request; the error was logged",
        request=request,
        viewport=viewport,
    )


def _imaging_code(error: ImagingError) -> Code:
    if isinstance(error, ImageTooLarge):
        return Code.TOO_LARGE
    if isinstance(error, DecodeError | InvalidImage | UnsupportedImage):
        return Code.DECODE_ERROR
    if isinstance(error, InvalidRequest | NoPixelData):
        return Code.BAD_REQUEST
    return Code.SERVER_ERROR
