"""Django's ASGI handler with fewer thread switches per request.

Django serves a sync view under ASGI by hopping between the event loop and a worker thread:
every ``MiddlewareMixin`` middleware runs ``process_request`` and ``process_response`` through
``sync_to_async``, the request signals once more each, the view once; about fifteen hops on
this project's stack. On top of that, each request gets a new worker thread (and so a new
database connection, which makes ``CONN_MAX_AGE`` useless) and a second thread to join it.
A warm WADO-RS rendered image spent most of its time there, not rendering. Three changes,
all keeping Django's own middleware and views as they are:

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
- **Lean GETs.** A GET of a marked view that is also marked ``lean_request`` (rendered
  images, thumbnails, metadata) is not resolved again (the match is remembered per path) and
  skips the middleware in ``LEAN_SKIPPED``, each for the reason written there, and runs those
  in ``LEAN_REPLACED`` in a cheaper form that sets the same headers; every other
  middleware of ``settings.MIDDLEWARE`` runs, in its order, so one added later runs on lean
  requests too unless someone writes down why it need not. The view is the route's own
  (authentication, launch scope, audit and error answers as on any request). The hop to the
  thread and back is a plain ``run_in_executor``: asgiref's per-call bookkeeping (thread
  context lookup, copying context variables back) cost about 0.1 ms a request.

A request that ends abnormally (cancelled, an error escaping the handler) may leave work
running in its thread; that executor is shut down rather than lent again.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.conf import settings
from django.core import signals
from django.core.exceptions import ImproperlyConfigured, MiddlewareNotUsed, RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.handlers.base import BaseHandler
from django.core.handlers.exception import convert_exception_to_response
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, ResolverMatch, resolve, set_script_prefix
from django.utils.module_loading import import_string

# Set to True on a view function by the app that owns it (``studies.dicomweb.urls.
# in_one_thread``), read here; like Django's ``csrf_exempt`` attribute.
MARK = "whole_request_in_thread"
# Set as well when the view's GETs may take the lean chain: the owner vouches that the view
# never asks for a CSRF token and never uses messages (see LEAN_SKIPPED).
LEAN = "lean_request"

# Middleware a lean GET does not pass through, and why that changes nothing for it.
LEAN_SKIPPED: dict[str, str] = {
    "django.middleware.csrf.CsrfViewMiddleware": (
        "checks only unsafe methods (a GET passes untouched) and sets its cookie only after "
        "a view asked for a token, which lean views never do"
    ),
    "django.contrib.messages.middleware.MessageMiddleware": (
        "stores messages only when a view added or read some, which lean views never do"
    ),
}

# Middleware a lean GET passes through in a cheaper form that answers the same.
LEAN_REPLACED: dict[str, str] = {
    # The same headers, their strings built once per settings object instead of per response.
    "csp.middleware.CSPMiddleware": "viewerproject.lean_csp.SettledCSPMiddleware",
}

_REMEMBERED_PATH_LENGTH = 512  # DICOMweb paths with three UIDs are under 300 characters


@functools.lru_cache(maxsize=4096)
def _route(urlconf: str, path: str) -> ResolverMatch | None:
    # Remembered per path: a window change or a repeated thumbnail asks the same path again,
    # and resolving costs about as much as the rest of the event loop's share of a request.
    try:
        match = resolve(path, urlconf)
    except Resolver404:
        return None
    return match if getattr(match.func, MARK, False) else None


def _marked(urlconf: str, path: str) -> bool:
    """Whether ``path`` is served with its whole request in one thread."""
    return _route(urlconf, path) is not None


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


class LeanChain(BaseHandler):
    """Django's synchronous request cycle for lean GETs: ``settings.MIDDLEWARE`` without
    ``LEAN_SKIPPED``, and the URL match the handler already has instead of resolving."""

    def load_middleware(self, is_async: bool = False) -> None:
        # BaseHandler.load_middleware for the sync case, over the kept middleware only.
        if is_async:
            raise ImproperlyConfigured("the lean chain runs in a worker thread, synchronously")
        self._view_middleware: list[Any] = []
        self._template_response_middleware: list[Any] = []
        self._exception_middleware: list[Any] = []
        self.middleware_paths = [path for path in settings.MIDDLEWARE if path not in LEAN_SKIPPED]
        handler = convert_exception_to_response(self._get_response)
        for path in reversed(self.middleware_paths):
            middleware = import_string(LEAN_REPLACED.get(path, path))
            if not getattr(middleware, "sync_capable", True):
                raise ImproperlyConfigured(f"{path} cannot run synchronously in the lean chain")
            try:
                instance = middleware(handler)
            except MiddlewareNotUsed:
                self.middleware_paths.remove(path)
                continue
            if instance is None:
                raise ImproperlyConfigured(f"Middleware factory {path} returned None.")
            if hasattr(instance, "process_view"):
                self._view_middleware.insert(0, instance.process_view)
            if hasattr(instance, "process_template_response"):
                self._template_response_middleware.append(instance.process_template_response)
            if hasattr(instance, "process_exception"):
                self._exception_middleware.append(instance.process_exception)
            handler = convert_exception_to_response(instance)
        self._middleware_chain = handler

    def resolve_request(self, request: HttpRequest) -> ResolverMatch:
        if hasattr(request, "urlconf"):  # a middleware chose another URLconf: resolve in it
            return super().resolve_request(request)
        return request.resolver_match  # set by Handler from its per-path memory


class Handler(ASGIHandler):
    """``get_asgi_application()`` for this project (see the module docstring)."""

    def __init__(self, idle_threads: int = 16) -> None:
        super().__init__()  # the async middleware chain, for everything not marked
        self._sync = BaseHandler()
        self._sync.load_middleware(is_async=False)
        self._lean = LeanChain()
        self._lean.load_middleware(is_async=False)
        self._threads = ThreadLease(idle_threads)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django serves HTTP only, not {scope['type']}")
        match = self._route(scope)
        if match is not None and scope["method"] == "GET" and getattr(match.func, LEAN, False):
            await self._handle_lean(scope, receive, send, match)
            return
        executor = self._threads.take()
        finished = False
        try:
            async with ThreadSensitiveContext(executor=executor):
                if match is not None:
                    await self._handle_in_thread(scope, receive, send)
                else:
                    await self.handle(scope, receive, send)
            finished = True
        finally:
            if finished:
                self._threads.give_back(executor)
            else:
                self._threads.discard(executor)

    def _route(self, scope: dict[str, Any]) -> ResolverMatch | None:
        root = scope.get("root_path", "")
        path = scope["path"].removeprefix(root) if root else scope["path"]
        if len(path) > _REMEMBERED_PATH_LENGTH:  # a long path is resolved, not remembered
            return _route.__wrapped__(settings.ROOT_URLCONF, path)
        return _route(settings.ROOT_URLCONF, path)

    async def _handle_in_thread(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        response = await sync_to_async(self._respond, thread_sensitive=True)(scope, body_file)
        try:
            await self._send(response, send)
        finally:
            if response.streaming:  # not expected of a marked view, but closed all the same
                await sync_to_async(response.close, thread_sensitive=True)()

    async def _handle_lean(
        self, scope: dict[str, Any], receive: Any, send: Any, match: ResolverMatch
    ) -> None:
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        executor = self._threads.take()
        loop = asyncio.get_running_loop()
        finished = False
        try:
            # The thread runs in a copy of this context, as sync_to_async would run it.
            run = contextvars.copy_context().run
            response = await loop.run_in_executor(
                executor, run, self._respond, scope, body_file, match
            )
            try:
                await self._send(response, send)
            finally:
                if response.streaming:  # not expected of a lean view, but closed all the same
                    await loop.run_in_executor(executor, response.close)
            finished = True
        finally:
            if finished:
                self._threads.give_back(executor)
            else:  # cancelled while the thread works: never lend that thread again
                self._threads.discard(executor)

    async def _send(self, response: HttpResponse, send: Any) -> None:
        try:
            await self.send_response(response, send)
        except asyncio.CancelledError:
            pass  # the client went away

    def _respond(
        self, scope: dict[str, Any], body_file: Any, lean: ResolverMatch | None = None
    ) -> HttpResponse:
        """Django's synchronous request cycle (as WSGIHandler), in the borrowed thread;
        through the lean chain with ``lean``, the remembered match of the path."""
        try:
            set_script_prefix(get_script_prefix(scope))
            signals.request_started.send(sender=self.__class__, scope=scope)
            request, response = self.create_request(scope, body_file)
            if request is not None:
                if lean is not None:
                    # A copy with its own kwargs: a process_view hook receives the dict and
                    # may change it, which must not carry over to the path's next request.
                    # (ResolverMatch refuses copy.copy: it forbids pickling.)
                    match = ResolverMatch.__new__(ResolverMatch)
                    match.__dict__.update(lean.__dict__, kwargs=dict(lean.kwargs))
                    request.resolver_match = match
                    response = self._lean.get_response(request)
                else:
                    response = self._sync.get_response(request)
            response._handler_class = self.__class__
            if not response.streaming:
                response.close()  # request_finished: close_old_connections, in this thread
            return response
        finally:
            body_file.close()
