"""ASGI entry point: HTTP through Django, websockets through Channels.

``django.setup()`` runs first so the app registry is ready before any consumer module
(which imports models) is loaded. HTTP goes through ``http_handler.Handler``, Django's ASGI
handler with kept worker threads and single-thread serving of marked views.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "viewerproject.settings")

import django  # noqa: E402
from django.conf import settings  # noqa: E402

django.setup(set_prefix=False)  # as get_asgi_application() does

from viewerproject.http_handler import Handler  # noqa: E402
from viewerproject.static_files import StaticFiles  # noqa: E402

django_asgi_app = Handler()
# Static files are answered here, before Django's middleware, on the event loop (see
# static_files.py); a sync-only static middleware (WhiteNoise) forced a sync/async switch into
# every request, and Django's ASGIStaticFilesHandler served one file at a time in a thread.
http_app = StaticFiles(django_asgi_app) if settings.SERVE_STATIC else django_asgi_app

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from viewerproject.routing import websocket_urlpatterns  # noqa: E402
from viewerproject.websocket_session import SessionTimeoutMiddleware  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": http_app,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(SessionTimeoutMiddleware(URLRouter(websocket_urlpatterns)))
        ),
    }
)
