"""Small unsigned HTTP calls to the link-local credential services (container
endpoint, instance metadata): no proxy, no ``.netrc``, a short timeout and a
fixed number of attempts."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Answer:
    status: int
    body: bytes


class Unreachable(Exception):
    """No answer: refused, timed out, reset. ``str()`` says which."""


def request(method: str, url: str, *, headers: dict[str, str], timeout: float, attempts: int) -> Answer:
    """One answer, trying up to ``attempts`` times on no answer or a 5xx."""
    import requests

    last: Exception | None = None
    answer: Answer | None = None
    with requests.Session() as session:
        # A proxy cannot reach a link-local address; loopback must not go to one.
        session.trust_env = False
        for _ in range(max(attempts, 1)):
            try:
                response = session.request(
                    method, url, headers=headers, timeout=timeout, allow_redirects=False
                )
                answer = Answer(response.status_code, response.content)
            except requests.Timeout:
                last, answer = Unreachable(f"no answer within {timeout:g} s"), None
                continue
            except requests.RequestException as error:
                last, answer = Unreachable(_why(error)), None
                continue
            if answer.status < 500:
                return answer
    if answer is not None:
        return answer
    assert last is not None
    raise last


def _why(error: Exception) -> str:
    text = str(error)
    if "refused" in text.lower():
        return "connection refused"
    return f"{type(error).__name__}"
