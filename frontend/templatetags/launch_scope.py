"""``{% if user|launched %}``: whether the page is shown to a launched (EMR link) session, so
the menus leave out what its scope closes (studies.launch.scope)."""

from __future__ import annotations

from django import template

from studies.access import is_launch_session

register = template.Library()


@register.filter
def launched(user) -> bool:
    return bool(is_launch_session(user))
