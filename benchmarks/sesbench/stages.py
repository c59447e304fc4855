"""Wall-clock timers around the stages of our send, for ``--profile``.

``STAGES`` names each stage by where its function is defined: (module path,
attribute path, label). The timer replaces the function there and in every
loaded module of the same package that imported it under any name (``from
.params import build_request``), so a stage is found whichever module calls
it; methods are replaced on their class. Modules must already be imported
when the timers go in (the worker sends a warm-up batch first).

The package is free to move its functions around: a stage whose module or
attribute is not found is reported as ``n/a`` (with what was looked for)
instead of failing, and this table is the one place to update.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import sys
import time

#: (module path, attribute path, label), in the order they are printed.
STAGES = [
    ("django_ses_query.params", "build_request", "build_request (message to Query params)"),
    ("django_ses_query.signing", "sign", "sign (SigV4)"),
    ("django_ses_query.transport.endpoint", "Endpoint.request", "Endpoint.request (HTTP incl. endpoint)"),
    ("django_ses_query.responses", "parse_send_result", "parse_send_result (XML)"),
    ("django_ses_query.sending.sendlog", "log_row", "log_row (the EmailLog instance)"),
    ("django_ses_query.sending.logwriter", "insert_rows", "insert_rows (bulk insert + commit of a group)"),
    ("django_ses_query.sending.sendlog", "write_log", "write_log (EmailLog row + commit)"),
]

#: Stage labels are indented under the whole call in the printed table.
INDENT = "  "


def resolve(module_path: str, attribute: str):
    """(owner, name, raw attribute) for ``module_path`` + ``attribute``, or
    a string saying what is missing."""
    try:
        owner = importlib.import_module(module_path)
    except ImportError as error:
        return f"no module {module_path} ({error})"
    *parents, name = attribute.split(".")
    for part in parents:
        owner = getattr(owner, part, None)
        if owner is None:
            return f"no {part} in {module_path}"
    raw = inspect.getattr_static(owner, name, None)
    function = raw.__func__ if isinstance(raw, (staticmethod, classmethod)) else raw
    if not callable(function):
        return f"no function {attribute} in {module_path}"
    return owner, name, raw


class StageTimers:
    """Installed on creation; ``remove()`` puts the original functions back."""

    def __init__(self, stages=STAGES) -> None:
        self.totals: dict = {}  # label -> seconds (None: stage not found)
        self.calls: dict = {}
        self.missing: dict = {}  # label -> what was not found
        self._replaced: list = []  # (namespace, name, original)
        for module_path, attribute, label in stages:
            key = INDENT + label
            found = resolve(module_path, attribute)
            if isinstance(found, str):
                self.totals[key] = None
                self.missing[key] = found
                continue
            self.totals[key] = 0.0  # filled in this order
            self.calls[key] = 0
            self._install(*found, key)

    def _timer(self, function, key: str):
        totals, calls = self.totals, self.calls

        @functools.wraps(function)
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                totals[key] += time.perf_counter() - started
                calls[key] += 1

        return timed

    def _install(self, owner, name: str, raw, key: str) -> None:
        if isinstance(raw, (staticmethod, classmethod)):
            function = raw.__func__
            replacement = type(raw)(self._timer(function, key))
        else:
            function = raw
            replacement = self._timer(function, key)
        self._replace(owner, name, replacement)
        if inspect.isclass(owner):
            return  # every caller reaches it through the class
        package = owner.__name__.split(".")[0] + "."
        for module_name, module in list(sys.modules.items()):
            if module is owner or module is None or not module_name.startswith(package):
                continue
            for alias, value in list(vars(module).items()):
                if value is function:
                    self._replace(module, alias, replacement)

    def _replace(self, namespace, name: str, replacement) -> None:
        original = inspect.getattr_static(namespace, name)
        setattr(namespace, name, replacement)
        self._replaced.append((namespace, name, original))

    def remove(self) -> None:
        while self._replaced:
            namespace, name, original = self._replaced.pop()
            setattr(namespace, name, original)

    def per_message(self, n: int) -> dict:
        """Seconds per message by stage (None for a stage not found)."""
        return {key: None if seconds is None else seconds / n for key, seconds in self.totals.items()}


def time_stages(stages=STAGES) -> StageTimers:
    """Wrap the backend's stages with wall-clock timers (totals filled in as
    messages are sent)."""
    return StageTimers(stages)
