"""The staff header's menu links to the triage queue and the messages outbox for exactly the
roles whose pages let them in (each page's own gate: the triage queue is the practice's,
``role_info.practice_list``; the outbox is for direct care), and to neither for the roles
those pages refuse. Every link shown is followed and must open (200); every role the link
is hidden from must be refused by the page (403), so the menu and the gates cannot drift."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from wraparound.apps.demo import DEMO_USERS

pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("app")]

ROLES = [u[0] for u in DEMO_USERS]
LINKS = {"triage_queue": "Triage", "messages_outbox": "Messages"}


def _menu(html: str) -> str:
    found = re.search(r'<nav class="nhsuk-header__navigation".*?</nav>', html, re.S)
    assert found, "no staff menu"
    return found.group(0)


@pytest.mark.parametrize("username", ROLES)
def test_triage_and_messages_links_match_the_pages_gates(client, login, username):
    login(username)
    menu = _menu(client.get(reverse("home")).content.decode())
    for name, words in LINKS.items():
        url = reverse(name)
        link = f'href="{url}">{words}</a>'
        status = client.get(url).status_code
        if link in menu:
            assert status == 200, f"{username}: {name} linked but the page says {status}"
        else:
            assert status == 403, f"{username}: {name} not linked but the page says {status}"


def test_the_right_roles_see_the_links(client, login):
    login("gp")
    menu = _menu(client.get(reverse("home")).content.decode())
    assert f'href="{reverse("triage_queue")}">Triage</a>' in menu
    assert f'href="{reverse("messages_outbox")}">Messages</a>' in menu
    login("coordinator")  # direct care, not the practice's list: messages only
    menu = _menu(client.get(reverse("home")).content.decode())
    assert reverse("triage_queue") not in menu
    assert f'href="{reverse("messages_outbox")}">Messages</a>' in menu
    for refused in ("commissioner", "auditor"):
        login(refused)
        menu = _menu(client.get(reverse("home")).content.decode())
        assert reverse("triage_queue") not in menu and reverse("messages_outbox") not in menu
