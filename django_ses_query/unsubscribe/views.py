"""The one-click unsubscribe endpoint: ``unsubscribe/<token>/``.

Trusts nothing in the request: the token is checked (``topics.read_token``:
signature and shape) before anything else, and a bad one is a 400 that
shows neither the token nor an address. The endpoint is public: no CSRF
token, no login, no session, no cookie. GET and HEAD answer a confirmation
page and change nothing (mail scanners fetch links); POST (RFC 8058's
``List-Unsubscribe=One-Click``, or the page's forms) answers 200 once the
unsubscribe is committed; ``scope=all`` unsubscribes from every topic. A
failure of our own (settings, the database) is a 500, logged.
"""

from __future__ import annotations

import logging

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.template.loader import render_to_string
from django.views.decorators.csrf import csrf_exempt

from ..conf import get_config
from ..models import Suppression
from ..topics import read_token
from .store import unsubscribe as store_unsubscribe

logger = logging.getLogger("django_ses_query")

ALLOWED = ["GET", "HEAD", "POST"]


def _page(template: str, context: dict, status: int = 200) -> HttpResponse:
    # Rendered without the request: no context processor may read the
    # session or set the CSRF cookie.
    response = HttpResponse(render_to_string(template, context), status=status)
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"  # the URL holds the token
    response["X-Robots-Tag"] = "noindex"
    return response


def masked(address: str) -> str:
    """``j…@example.com``: enough to recognise, not to harvest."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}…@{domain}"


@csrf_exempt
@login_not_required
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    if request.method not in ALLOWED:
        return HttpResponseNotAllowed(ALLOWED)
    found = read_token(token)
    if found is None:
        return _page("django_ses_query/unsubscribe/invalid.html", {}, status=400)
    address, topic = found
    context = {"address": masked(address), "topic": topic}
    if request.method != "POST":
        return _page("django_ses_query/unsubscribe/confirm.html", context)
    try:
        everything = request.POST.get("scope") == "all"
    except Exception:  # an unreadable body: still RFC 8058's one click
        everything = False
    chosen = Suppression.ALL_TOPICS if everything else topic
    try:
        store_unsubscribe(address, chosen, get_config().log_database)
    except Exception:
        logger.exception("Could not store an unsubscribe from %r.", chosen)
        return HttpResponse("Server error: the unsubscribe was not stored.\n", status=500,
                            content_type="text/plain; charset=utf-8")
    return _page("django_ses_query/unsubscribe/done.html", {**context, "all_topics": everything})
