"""ASGI entry point: HTTP through Django, websockets through Channels.

``get_asgi_application()`` runs first so the app registry is ready before any consumer
module (which imports models) is loaded.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "viewerproject.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from viewerproject.routing import websocket_urlpatterns  # noqa: E402
from viewerproject.websocket_session import SessionTimeoutMiddleware  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(SessionTimeoutMiddleware(URLRouter(websocket_urlpatterns)))
        ),
    }
)
