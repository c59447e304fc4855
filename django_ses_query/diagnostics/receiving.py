"""Where received mail goes: the active receipt rule set
(``DescribeActiveReceiptRuleSet``), one line per rule.

Never an ERROR: receiving is optional. No active rule set, or a region
without receiving, is INFO; a refusal is DENIED. Each SNS topic a rule
publishes to is OK when it is in ``EVENT_TOPIC_ARNS`` (else its receipts
would be refused); a KMS key on an S3 action is a WARNING (the object is
client-side encrypted, which is never decrypted here).
"""

from __future__ import annotations

from xml.etree.ElementTree import Element

from ..exceptions import SESError
from .findings import ACCESS_DENIED, DENIED, INFO, OK, WARNING, Finding

CHECK = "Receiving"


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _read(element: Element):
    """An element as text, a list (``<member>`` children) or a dict."""
    children = list(element)
    if not children:
        return (element.text or "").strip()
    if all(_local(child.tag) == "member" for child in children):
        return [_read(child) for child in children]
    return {_local(child.tag): _read(child) for child in children}


def _dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value) -> list:
    return value if isinstance(value, list) else []


def _action(kind: str, action: dict, topic_arns: tuple[str, ...], findings: list[Finding], rule: str) -> str:
    """One action in words; topic and KMS findings appended."""
    words = [kind.removesuffix("Action")]
    topic = action.get("TopicArn", "")
    if kind == "SNSAction":
        words.append(f"topic {topic or '-'}, encoding {action.get('Encoding') or 'UTF-8'}")
    elif kind == "S3Action":
        words.append(f"bucket {action.get('BucketName') or '-'}, prefix {action.get('ObjectKeyPrefix') or '-'}")
        if topic:
            words.append(f"topic {topic}")
        kms = action.get("KmsKeyArn", "")
        if kms:
            words.append(f"KMS key {kms}")
            findings.append(Finding(
                WARNING, CHECK,
                f"rule {rule}: the S3 action encrypts with KMS key {kms}: the objects are client-side "
                "encrypted, which django-ses-query does not decrypt; its receipts will be refused.",
                f"Remove the KMS key from rule {rule}'s S3 action (S3's default encryption still applies).",
            ))
    elif topic:
        words.append(f"topic {topic}")
    if topic and kind in ("SNSAction", "S3Action"):
        if topic in topic_arns:
            findings.append(Finding(OK, CHECK, f"rule {rule}: topic {topic} is in EVENT_TOPIC_ARNS."))
        else:
            findings.append(Finding(
                WARNING, CHECK, f"rule {rule}: topic {topic} is not in EVENT_TOPIC_ARNS: its receipts will be refused.",
                f"Add {topic!r} to SES_QUERY['EVENT_TOPIC_ARNS'].",
            ))
    return " ".join(words[:1]) + (" (" + "; ".join(words[1:]) + ")" if len(words) > 1 else "")


def check_receiving(client, topic_arns: tuple[str, ...]) -> list[Finding]:
    try:
        result = client.call("DescribeActiveReceiptRuleSet", {}).result
    except SESError as error:
        if (error.code or "") in ACCESS_DENIED:
            return [Finding(
                DENIED, CHECK, "DescribeActiveReceiptRuleSet: AccessDenied: this key may not call it.",
                "Allow ses:DescribeActiveReceiptRuleSet in the key's IAM policy to check receiving.",
            )]
        detail = " ".join(str(error).split())
        return [Finding(INFO, CHECK, f"No receiving here (DescribeActiveReceiptRuleSet: {detail}).")]
    answer = _dict(_read(result.node)) if result.node is not None else {}
    name = _dict(answer.get("Metadata")).get("Name", "")
    if not name:
        return [Finding(INFO, CHECK, f"No active receipt rule set in {client.config.region}: no mail is received.")]
    findings = [Finding(INFO, CHECK, f"Active receipt rule set {name}.")]
    for rule in _list(answer.get("Rules")):
        rule = _dict(rule)
        rule_name = rule.get("Name", "?")
        details: list[Finding] = []
        actions = []
        for member in _list(rule.get("Actions")):
            for kind, action in _dict(member).items():
                actions.append(_action(kind, _dict(action), topic_arns, details, rule_name))
        recipients = ", ".join(str(r) for r in _list(rule.get("Recipients"))) or "all verified domains"
        enabled = "" if rule.get("Enabled", "true") == "true" else " (disabled)"
        scanning = "on" if rule.get("ScanEnabled") == "true" else "off"
        findings.append(Finding(
            INFO, CHECK,
            f"rule {rule_name}{enabled}: recipients {recipients}; scanning {scanning}; "
            f"actions: {', '.join(actions) or 'none'}.",
        ))
        findings += details
    return findings
