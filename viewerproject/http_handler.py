"""Django's ASGI handler with fewer thread switches per request.

Django serves a sync view under ASGI by hopping between the event loop and a worker thread:
every ``MiddlewareMixin`` middleware runs ``process_request`` and ``process_response`` through
``sync_to_async``, the request signals once more each, the view once; about fifteen hops on
this project's stack. On top of that, each request gets a new worker thread (and so a new
database connection, which makes ``CONN_MAX_AGE`` useless) and a second thread to join it.
A warm WADO-RS rendered image spent most of its time there, not rendering. Two changes,
both keeping Django's own middleware and views as they are:

- **Kept threads.** A request borrows a single-thread executor from a small idle list
  (``asgiref.ThreadSensitiveContext(executor=...)``) instead of creating one, so threads and
  their database connections live on between requests. ``request_started`` and
  ``request_finished`` run in that same thread, so ``close_old_connections`` still enforces
  ``CONN_MAX_AGE`` and the health checks on exactly the connections it used.
- **Whole request in one thread.** A sync view marked ``whole_request_in_thread`` (small,
  bounded answers: WADO-RS rendered and thumbnail) is served by Django's *synchronous*
  handler chain (the same middleware, loaded a second time in sync mode, as under WSGI and
  in the test client) inside the borrowed thread: one hop there and back instead of fifteen.
  Everything else (streaming answers, async views, uploads) takes Django's usual async path.

A request that ends abnormally (cancelled, an error escaping the handler) may leave work
running in its thread; that executor is shut down rather than lent again.
"""

from __future__ import annotations

import asyncio
import functools
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.conf import settings
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.handlers.base import BaseHandler
from django.http import HttpResponse
from django.urls import Resolver404, resolve, set_script_prefix

# Set to True on a view function by the app that owns it (``studies.dicomweb.http.
# in_one_thread``), read here; like Django's ``csrf_exempt`` attribute.
MARK = "whole_request_in_thread"


_REMEMBERED_PATH_LENGTH = 512  # DICOMweb paths with three UIDs are under 300 characters


@functools.lru_cache(maxsize=4096)
def _marked(urlconf: str, path: str) -> bool:
    # Remembered per path: a window change or a repeated thumbnail asks the same path again,
    # and resolving costs about as much as the rest of the event loop's share of a request.
    try:
        match = resolve(path, urlconf)
    except Resolver404:
        return False
    return getattr(match.func, MARK, False)


class ThreadLease:
    """Single-thread executors kept between requests, at most ``keep`` of them idle."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self._idle: list[ThreadPoolExecutor] = []

    def take(self) -> ThreadPoolExecutor:
        # Only the event loop's thread calls take and give_back: no lock needed.
        if self._idle:
            return self._idle.pop()
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="django-request")

    def give_back(self, executor: ThreadPoolExecutor) -> None:
        if len(self._idle) < self.keep:
            self._idle.append(executor)
        else:
            executor.shutdown(wait=False)

    def discard(self, executor: ThreadPoolExecutor) -> None:
        executor.shutdown(wait=False)


class Handler(ASGIHandler):
    """``get_asgi_application()`` for this project (see the module docstring)."""

    def __init__(self, idle_threads: int = 16) -> None:
        super().__init__()  # the async middleware chain, for everything not marked
        self._sync = BaseHandler()
        self._sync.load_middleware(is_async=False)
        self._threads = ThreadLease(idle_threads)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django serves HTTP only, not {scope['type']}")
        executor = self._threads.take()
        finished = False
        try:
            async with ThreadSensitiveContext(executor=executor):
                if self._in_one_thread(scope):
                    await self._handle_in_thread(scope, receive, send)
                else:
                    await self.handle(scope, receive, send)
            finished = True
        finally:
            if finished:
                self._threads.give_back(executor)
            else:
                self._threads.discard(executor)

    def _in_one_thread(self, scope: dict[str, Any]) -> bool:
        root = scope.get("root_path", "")
        path = scope["path"].removeprefix(root) if root else scope["path"]
        if len(path) > _REMEMBERED_PATH_LENGTH:  # a long path is resolved, not remembered
            return _marked.__wrapped__(settings.ROOT_URLCONF, path)
        return _marked(settings.ROOT_URLCONF, path)

    async def _handle_in_thread(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        response = await sync_to_async(self._respond, thread_sensitive=True)(scope, body_file)
        try:
            await self.send_response(response, send)
        except asyncio.CancelledError:
            pass  # the client went away
        finally:
            if response.streaming:  # not expected of a marked view, but closed all the same
                await sync_to_async(response.close, thread_sensitive=True)()

    def _respond(self, scope: dict[str, Any], body_file: Any) -> HttpResponse:
        """Django's synchronous request cycle (as WSGIHandler), in the borrowed thread."""
        try:
            set_script_prefix(get_script_prefix(scope))
            signals.request_started.send(sender=self.__class__, scope=scope)
            request, response = self.create_request(scope, body_file)
            if request is not None:
                response = self._sync.get_response(request)
            response._handler_class = self.__class__
            if not response.streaming:
                response.close()  # request_finished: close_old_connections, in this thread
            return response
        finally:
            body_file.close()
