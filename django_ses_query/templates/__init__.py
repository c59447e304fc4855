"""Amazon SES stored templates: messages with anymail's ``template_id``,
``merge_data``, ``merge_global_data`` and ``merge_metadata`` become
``SendTemplatedEmail`` or ``SendBulkTemplatedEmail`` requests (``message``),
each destination's answer is read back (``results``), and the templates
declared in ``SES_QUERY["TEMPLATES"]`` are read from the repository
(``declared``). Pure: no HTTP, no models. The pipeline (``sending/``) sends
the requests; ``manage.py ses_templates`` pushes the templates.

This directory also holds the admin's HTML templates (``admin/``), which
Django's template loaders find as before.
"""

from __future__ import annotations

from .results import RecipientStatus

__all__ = ["RecipientStatus"]
