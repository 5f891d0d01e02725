"""What every browser test does on a page: sign in through the form, check the page with
axe-core against WCAG 2.2 AA, and keep a screenshot for people to look at.

axe is evaluated through Playwright (the DevTools protocol), not added as a ``<script>``: the
app's Content Security Policy allows scripts from its own origin only, and that is exactly
what these tests should leave untouched.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from playwright.sync_api import expect

from wraparound.apps.demo import DEMO_PASSWORD

AXE = Path(settings.NODE_MODULES) / "axe-core" / "axe.min.js"
AXE_SOURCE = AXE.read_text()  # read once per process, evaluated into each page checked
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
SCREENSHOTS = Path(settings.REPO_ROOT) / "var" / "screenshots"

# The page has loaded (its stylesheets, deferred and module scripts) and htmx is not fetching,
# swapping or settling anything (an ``hx-trigger="load"`` fragment is part of the page), for
# three looks 50 ms apart. Playwright's "networkidle" waited a fixed 500 ms after the last
# request on every page checked, which was most of a check on a small page.
SETTLED = """() => new Promise(resolve => {
  let quiet = 0;
  const look = () => {
    const busy = document.readyState !== "complete"
      || document.querySelector(".htmx-request, .htmx-swapping, .htmx-settling") !== null;
    quiet = busy ? 0 : quiet + 1;
    if (quiet >= 3) resolve(true); else setTimeout(look, 50);
  };
  look();
})"""

# Every rule of the tags runs, as before; only the violations' nodes are gathered in full
# (axe's resultTypes: a passing rule is still listed, with one node), and only the rule
# count of the passes and the violations come back over the DevTools protocol.
AXE_RUN = """tags => axe.run(document, {
  runOnly: {type: "tag", values: tags}, resultTypes: ["violations"],
}).then(r => ({passes: r.passes.length, violations: r.violations.map(v => ({
  id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => ({target: n.target})),
}))}))"""


# The cookies of each user's last sign-in through the form (one site per process, the
# ``site`` fixture's; the portal signs in through its own provider): a later test signing in
# as the same user starts from that session (which the server still checks on every request)
# rather than paying the form and an Argon2 check again. A session the user signed out of,
# or that ended, sends the browser to the sign-in page, and the form is used there.
_SESSIONS: dict[str, list] = {}


def sign_in(page, username: str) -> None:
    """Sign ``username`` in: through the form the first time in this process (and whenever
    the session has ended), otherwise by the session cookies that form sign-in gave."""
    saved = _SESSIONS.get(username)
    if saved:
        page.context.add_cookies(saved)
        page.goto("/")  # where the form's sign-in lands
        if "/login/" in page.url:  # signed out or ended: the sign-in page, fill it in
            del _SESSIONS[username]
    else:
        page.goto("/login/")
    through_form = "/login/" in page.url
    if through_form:
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    if through_form:
        _SESSIONS[username] = page.context.cookies(page.evaluate("() => location.origin"))


def check_page(page, name: str) -> Path:
    """Fail on any axe violation of the WCAG 2.2 AA rules, then save a full-page screenshot
    as ``var/screenshots/<name>.png`` (its path is printed)."""
    page.wait_for_load_state("load")
    page.wait_for_function(SETTLED)
    styled = page.evaluate(
        "() => getComputedStyle(document.querySelector('.nhsuk-header')).backgroundColor"
    )
    assert styled == "rgb(0, 94, 184)", f"{name}: NHS.UK stylesheet not applied ({styled})"
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(AXE_SOURCE)
    result = page.evaluate(AXE_RUN, AXE_TAGS)
    assert result["passes"] > 10, f"axe checked almost nothing on {name}"
    problems = [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + "; ".join(" ".join(n["target"]) for n in v["nodes"][:5])
        for v in result["violations"]
    ]
    assert not problems, f"axe found problems on {name} ({page.url}):\n" + "\n".join(problems)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path
