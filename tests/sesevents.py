"""SES event JSON as SES publishes it (both styles), for tests. Field names
and shapes follow the SES developer guide's examples."""

from __future__ import annotations


def mail(message_id: str, destination=("a@example.net",)) -> dict:
    return {
        "timestamp": "2026-01-02T03:04:00.000Z",
        "source": "sender@example.com",
        "sendingAccountId": "123456789012",
        "messageId": message_id,
        "destination": list(destination),
        "headersTruncated": False,
    }


def bounce(message_id: str, *recipients: str, bounce_type: str = "Permanent", style: str = "eventType") -> dict:
    return {
        style: "Bounce",
        "mail": mail(message_id, recipients),
        "bounce": {
            "bounceType": bounce_type,
            "bounceSubType": "General" if bounce_type == "Permanent" else "MailboxFull",
            "bouncedRecipients": [
                {"emailAddress": r, "action": "failed", "status": "5.1.1",
                 "diagnosticCode": f"smtp; 550 5.1.1 {r} user unknown"}
                for r in recipients
            ],
            "timestamp": "2026-01-02T03:04:05.000Z",
            "feedbackId": "0100000000000000-feedback-000000",
        },
    }


def complaint(message_id: str, *recipients: str, style: str = "eventType") -> dict:
    return {
        style: "Complaint",
        "mail": mail(message_id, recipients),
        "complaint": {
            "complainedRecipients": [{"emailAddress": r} for r in recipients],
            "complaintFeedbackType": "abuse",
            "timestamp": "2026-01-02T03:04:06.000Z",
            "feedbackId": "0100000000000000-feedback-000001",
        },
    }


def delivery(message_id: str, *recipients: str, style: str = "eventType") -> dict:
    return {
        style: "Delivery",
        "mail": mail(message_id, recipients),
        "delivery": {
            "timestamp": "2026-01-02T03:04:07.000Z",
            "processingTimeMillis": 546,
            "recipients": list(recipients),
            "smtpResponse": "250 ok: Message accepted",
            "reportingMTA": "a8-70.smtp-out.amazonses.com",
        },
    }


def delivery_delay(message_id: str, *recipients: str) -> dict:
    return {
        "eventType": "DeliveryDelay",
        "mail": mail(message_id, recipients),
        "deliveryDelay": {
            "timestamp": "2026-01-02T03:04:08.000Z",
            "delayType": "TransientCommunicationFailure",
            "expirationTime": "2026-01-03T03:04:08.000Z",
            "delayedRecipients": [
                {"emailAddress": r, "status": "4.4.1", "diagnosticCode": "smtp; 421 4.4.1 Unable to connect"}
                for r in recipients
            ],
        },
    }


def reject(message_id: str) -> dict:
    return {"eventType": "Reject", "mail": mail(message_id), "reject": {"reason": "Bad content"}}


def send(message_id: str) -> dict:
    return {"eventType": "Send", "mail": mail(message_id), "send": {}}


def open_(message_id: str) -> dict:
    return {"eventType": "Open", "mail": mail(message_id),
            "open": {"ipAddress": "192.0.2.1", "timestamp": "2026-01-02T04:00:00.000Z", "userAgent": "Mail"}}


def click(message_id: str) -> dict:
    return {"eventType": "Click", "mail": mail(message_id),
            "click": {"ipAddress": "192.0.2.1", "timestamp": "2026-01-02T04:01:00.000Z",
                      "link": "https://example.com/", "linkTags": {}, "userAgent": "Mail"}}


def rendering_failure(message_id: str) -> dict:
    return {"eventType": "Rendering Failure", "mail": mail(message_id),
            "failure": {"errorMessage": "Attribute 'name' is not present", "templateName": "t"}}


def subscription(message_id: str) -> dict:
    return {"eventType": "Subscription", "mail": mail(message_id),
            "subscription": {"contactList": "list", "timestamp": "2026-01-02T04:02:00.000Z",
                             "source": "UnsubscribeHeader", "newTopicPreferences": {}, "oldTopicPreferences": {}}}


def post(client, message, **extra):
    """POST an SNS message (a dict, or the body as text or bytes) to the webhook."""
    import json

    body = message if isinstance(message, (bytes, str)) else json.dumps(message)
    return client.post("/ses/events/", body, content_type="text/plain; charset=UTF-8", **extra)
