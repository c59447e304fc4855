"""Where bounces and complaints go: identity notification topics and the
configuration set's event destinations."""

from __future__ import annotations

from ..attributes import identity_map, members, structure
from ..exceptions import SESError
from .findings import ERROR, INFO, OK, WARNING, Finding, error_finding


def check_notifications(client, identities: list[str], topic_arns: tuple[str, ...], destinations: list[dict]) -> list[Finding]:
    """Where bounces and complaints go for each sending identity: SNS topics
    (which should be among ``EVENT_TOPIC_ARNS``), or email forwarding;
    ``destinations`` are the configuration set's SNS event destinations."""
    check = "Notifications"
    if not identities:
        return []
    try:
        result = client.call("GetIdentityNotificationAttributes", {"Identities": identities}).result
    except SESError as error:
        return [error_finding(check, "GetIdentityNotificationAttributes", error, permission="ses:GetIdentityNotificationAttributes")]
    attributes = {key.lower(): value for key, value in identity_map(result, "NotificationAttributes").items()}
    findings = []
    for identity in identities:
        value = attributes.get(identity.lower(), {})
        topics = {kind: value.get(f"{kind}Topic", "") for kind in ("Bounce", "Complaint")}
        forwarding = str(value.get("ForwardingEnabled", "")).lower() == "true"
        missing = [kind.lower() for kind, arn in topics.items() if not arn]
        if not missing:
            findings.append(Finding(OK, check, f"{identity}: bounces → {topics['Bounce']}, complaints → {topics['Complaint']}."))
        elif destinations:
            findings.append(Finding(INFO, check, f"{identity}: no {' or '.join(missing)} topic; the configuration set's event destinations carry them."))
        elif forwarding:
            findings.append(
                Finding(
                    WARNING, check,
                    f"{identity}: {' and '.join(missing)} notifications only by email (feedback forwarding): the send log's outcomes will not be updated.",
                    f"Set SNS topics for bounces and complaints (SES console → Identities → {identity} → Notifications) and subscribe this site's events endpoint.",
                )
            )
        else:
            findings.append(
                Finding(
                    WARNING, check, f"{identity}: bounce and complaint notifications are off.",
                    f"Set SNS topics (SES console → Identities → {identity} → Notifications), or turn feedback forwarding on.",
                )
            )
        for kind, arn in topics.items():
            if arn and topic_arns and arn not in topic_arns:
                findings.append(
                    Finding(
                        WARNING, check, f"{identity}: the {kind.lower()} topic {arn} is not in EVENT_TOPIC_ARNS: its notifications will be refused.",
                        f"Add {arn!r} to SES_QUERY['EVENT_TOPIC_ARNS'].",
                    )
                )
    for destination in destinations:
        arn = destination.get("SNSDestination", {}).get("TopicARN", "") if isinstance(destination.get("SNSDestination"), dict) else ""
        if arn and topic_arns and arn not in topic_arns:
            findings.append(
                Finding(
                    WARNING, check, f"Event destination {destination.get('Name', '?')}: topic {arn} is not in EVENT_TOPIC_ARNS.",
                    f"Add {arn!r} to SES_QUERY['EVENT_TOPIC_ARNS'].",
                )
            )
    return findings


# -- Configuration set --------------------------------------------------------


def check_configuration_set(client, name: str | None) -> tuple[list[Finding], list[dict]]:
    """Findings, and the set's SNS event destinations that are enabled."""
    check = "Configuration set"
    if not name:
        return [Finding(INFO, check, "None configured (CONFIGURATION_SET): SES uses the account's default, if any.")], []
    try:
        result = client.call(
            "DescribeConfigurationSet",
            {"ConfigurationSetName": name, "ConfigurationSetAttributeNames": ["eventDestinations"]},
        ).result
    except SESError as error:
        if (error.code or "").startswith("ConfigurationSetDoesNotExist"):
            return [
                Finding(
                    ERROR, check, f"{name!r} does not exist in {client.config.region}: SES refuses every send that names it.",
                    f"Create it (SES console → Configuration sets → Create set, named {name}), or change CONFIGURATION_SET.",
                )
            ], []
        return [error_finding(check, "DescribeConfigurationSet", error, permission="ses:DescribeConfigurationSet")], []
    found = structure(result, "ConfigurationSet").get("Name", name)
    destinations = [
        d for d in members(result, "EventDestinations")
        if isinstance(d.get("SNSDestination"), dict) and str(d.get("Enabled", "true")).lower() != "false"
    ]
    return [Finding(OK, check, f"{found} exists ({len(destinations)} SNS event destination{'s' if len(destinations) != 1 else ''}).")], destinations
