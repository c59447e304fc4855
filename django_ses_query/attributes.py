"""Nested answers of SES's identity and configuration-set actions.

Reads the ``<{Action}Result>`` element :func:`.responses.parse_result`
already parsed safely (defusedxml). Trusts nothing in it: missing elements
give empty values, never an exception.

``GetIdentityVerificationAttributes``, ``GetIdentityDkimAttributes`` and
``GetIdentityNotificationAttributes`` answer with maps::

    <VerificationAttributes>
      <entry><key>example.com</key>
             <value><VerificationStatus>Success</VerificationStatus>...</value></entry>
    </VerificationAttributes>

which :func:`identity_map` turns into ``{"example.com": {"VerificationStatus":
"Success", ...}}`` (a nested list, such as ``DkimTokens``, becomes a list of
strings).
"""

from __future__ import annotations

from xml.etree.ElementTree import Element

from .responses import Result


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _child(element: Element | None, name: str) -> Element | None:
    if element is None:
        return None
    for child in element:
        if _local(child.tag) == name:
            return child
    return None


def _value(element: Element) -> str | list[str] | dict:
    if not len(element):
        return (element.text or "").strip()
    if all(_local(child.tag) == "member" for child in element):
        return [(child.text or "").strip() for child in element if not len(child)]
    return {_local(child.tag): _value(child) for child in element}


def identity_map(result: Result, name: str) -> dict[str, dict]:
    """The ``<name>`` map of ``result``: identity → its attributes."""
    found: dict[str, dict] = {}
    container = _child(result.node, name)
    if container is None:
        return found
    for entry in container:
        key = _child(entry, "key")
        value = _child(entry, "value")
        if key is None or not (key.text or "").strip():
            continue
        attributes = _value(value) if value is not None else {}
        found[(key.text or "").strip()] = attributes if isinstance(attributes, dict) else {}
    return found


def structure(result: Result, name: str) -> dict:
    """A nested structure of ``result`` (``<ConfigurationSet><Name>..``) as a dict."""
    element = _child(result.node, name)
    value = _value(element) if element is not None else {}
    return value if isinstance(value, dict) else {}


def members(result: Result, name: str) -> list[dict]:
    """A list of structures (``<EventDestinations><member>..``) as dicts."""
    element = _child(result.node, name)
    if element is None:
        return []
    return [
        value for value in (_value(member) for member in element if len(member)) if isinstance(value, dict)
    ]
