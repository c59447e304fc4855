import pytest
from django.core.mail import EmailMessage, EmailMultiAlternatives

pytestmark = pytest.mark.django_db(databases=["default", "sendlog"])


def test_send(backend, fake_ses):
    m = EmailMultiAlternatives("Hé", "body", "Jösé <from@exämple.com>", ["to@example.com"], bcc=["b@x.com"])
    m.attach_alternative("<p>x</p>", "text/html")
    assert backend.send_messages([m]) == 1
    r = fake_ses.sent[0]
    print(r.params)
    assert m.ses_message_id == r.message_id
    assert m.ses_log.status == "sent"


def test_raw(backend, fake_ses):
    m = EmailMessage("Hé", "body", "from@example.com", ["to@example.com"]*3, bcc=["b@x.com"])
    m.attach("a.txt", "héllo", "text/plain")
    assert backend.send_messages([m]) == 1
    print(fake_ses.sent[0].params)
