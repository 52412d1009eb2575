"""Settings for the test suite: the normal settings, fed a test environment.

Kept to environment defaults so the suite exercises the same settings code as production;
anything already set in the environment (DATABASE_URL, REDIS_URL for the scale-out run) wins.
"""

import os
from pathlib import Path

_base = Path(__file__).resolve().parent.parent
os.environ.setdefault("DJANGO_ENV", "test")
os.environ.setdefault("VAR_DIR", str(_base / "var" / "test"))

from viewerproject.settings import *  # noqa: E402,F403
