"""``{% module_preloads "frontend/js/viewer" ... %}``: a modulepreload link per ES module.

Without it the browser discovers the viewer's modules one import level at a time, a
waterfall of round trips before the socket even opens; with it, all are fetched at once.
"""

from __future__ import annotations

import functools
from pathlib import Path

from django import template
from django.contrib.staticfiles import finders
from django.templatetags.static import static
from django.utils.html import format_html_join

register = template.Library()


@functools.lru_cache(maxsize=16)
def _modules(folder: str) -> tuple[str, ...]:
    found = finders.find(folder)
    if not found:
        return ()
    root = Path(found)
    return tuple(
        f"{folder}/{path.relative_to(root).as_posix()}" for path in sorted(root.rglob("*.js"))
    )


@register.simple_tag
def module_preloads(*folders: str) -> str:
    paths = [path for folder in folders for path in _modules(folder)]
    return format_html_join(
        "", '<link rel="modulepreload" href="{}">', ((static(path),) for path in paths)
    )
