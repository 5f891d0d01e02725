"""``{% load scorecard %}``: whether to show the Scorecard link in the menu."""

from django import template

from wraparound.apps.scorecard import access

register = template.Library()


@register.filter
def can_view_scorecard(user) -> bool:
    return access.can_view(user)
