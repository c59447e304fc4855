"""Amazon SES (Query API) email backend class."""

from __future__ import annotations

from typing import Any

import django
from django.core.exceptions import ImproperlyConfigured
from django.core.mail.backends.base import BaseEmailBackend

from ..conf import OPTION_NAMES, get_config
from .direct import send_messages
from .pipeline import Pipeline

# Django 6.1 passes these itself; Django 5.2's send_mail() passes its
# auth_user/auth_password as username/password (None unless given).
MAILERS = django.VERSION >= (6, 1)


class EmailBackend(BaseEmailBackend):
    """Sends each message as one signed SES ``SendEmail`` or ``SendRawEmail``.

    Options are the lower-case ``SES_QUERY`` keys (``region``,
    ``max_retries``...), which win over the setting.
    """

    def __init__(self, fail_silently: bool = False, *, alias: str | None = None, **kwargs: Any):
        options = {name: kwargs.pop(name) for name in list(kwargs) if name in OPTION_NAMES}
        if MAILERS:
            super().__init__(alias=alias, **kwargs)
        else:
            for name in ("username", "password"):
                if kwargs.get(name, "") is None:
                    del kwargs[name]
            if kwargs:
                names = ", ".join(repr(key) for key in kwargs)
                raise TypeError(f"{type(self).__name__}() got unknown options: {names}.")
            super().__init__()
        self.alias = alias
        self.fail_silently = fail_silently
        try:
            self.config = get_config(**options)
        except ImproperlyConfigured as error:
            if alias is not None and MAILERS:
                from django.core.mail import InvalidMailer

                raise InvalidMailer(str(error), alias=alias) from None
            raise
        #: The one send pipeline (see ``sending/pipeline.py``).
        self.pipeline = Pipeline(self.config, sender=type(self))

    @property
    def client(self):
        """The SES call (``client.SESClient``) this backend sends with."""
        return self.pipeline.client

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} alias={self.alias!r} region={self.config.region!r} "
            f"endpoint={self.config.endpoint_url!r}>"
        )

    def open(self) -> bool:
        """Open the keep-alive HTTP session; return True if it was new."""
        return self.pipeline.open()

    def close(self) -> None:
        self.pipeline.close()

    def send_messages(self, email_messages) -> int:
        """Send the messages; return how many SES accepted."""
        messages = [m for m in email_messages if m.recipients()]
        if not messages:
            return 0
        return send_messages(self.pipeline, messages, fail_silently=self.fail_silently)
