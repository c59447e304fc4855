"""Templated requests byte for byte against botocore's Query serializer, and
valid against its SES model; joining queued one-destination requests."""

from __future__ import annotations

import datetime
import json
from urllib.parse import parse_qsl

import pytest
from botocore.validate import validate_parameters
from django.core.mail import EmailMessage

from django_ses_query.templates.message import BulkSend, build_templated, join_bulk_bodies
from tests.test_query import AWKWARD, SES_MODEL, botocore_body


def message(to, **attributes):
    result = EmailMessage(from_email="Jösé <from@example.com>", to=to, cc=attributes.pop("cc", None),
                          bcc=attributes.pop("bcc", None), reply_to=["reply@example.com"])
    result.template_id = "welcome-2_x"
    for name, value in attributes.items():
        setattr(result, name, value)
    return result


def assert_botocore_exact(request):
    validate_parameters(request.params, SES_MODEL.operation_model(request.action).input_shape)
    assert request.body == botocore_body(request.action, request.params)


def test_send_templated_email_is_botocore_exact():
    request = build_templated(
        message(["a@example.com", "B <b@example.com>"], cc=["c@example.com"], bcc=["d@example.com"],
                merge_global_data={"text": AWKWARD, "when": datetime.date(2025, 1, 2)}),
        default_configuration_set="set-1", default_tags={"app": "web"},
    )
    assert request.action == "SendTemplatedEmail"
    assert json.loads(request.params["TemplateData"]) == {"text": AWKWARD, "when": "2025-01-02"}
    assert_botocore_exact(request)


def test_send_bulk_templated_email_is_botocore_exact():
    bulk = build_templated(
        message(
            [f"r{i}@example.com" for i in range(60)], cc=["cc@example.com"],
            merge_data={"r0@example.com": {"name": AWKWARD}, "R59@EXAMPLE.COM": {"n": 59}},
            merge_global_data={"site": "S"}, merge_metadata={"r1@example.com": {"user": "u-1"}},
        ),
        default_configuration_set="set-1", default_tags={"app": "web"},
    )
    assert isinstance(bulk, BulkSend)
    requests = bulk.requests()
    assert [len(r.destinations) for r in requests] == [25, 25, 10]  # with the Cc: at most 50 recipients
    first = requests[0]
    for request in requests:
        assert request.action == "SendBulkTemplatedEmail"
        assert_botocore_exact(request)
    assert first.params["Destinations"][1]["ReplacementTags"] == [
        {"Name": "app", "Value": "web"}, {"Name": "user", "Value": "u-1"}]


def test_without_cc_120_destinations_are_50_50_20():
    bulk = build_templated(message([f"r{i}@example.com" for i in range(120)], merge_data={}))
    assert [len(r.destinations) for r in bulk.requests()] == [50, 50, 20]
    assert all(d["ReplacementTemplateData"] == "{}" for d in bulk.requests()[0].params["Destinations"])
    assert bulk.requests()[0].params["DefaultTemplateData"] == "{}"


def test_a_To_address_twice_is_one_destination():
    bulk = build_templated(message(["a@example.com", "A <A@example.com>"], merge_data={}))
    assert [d.address for d in bulk.destinations] == ["a@example.com"]


def test_queued_one_destination_requests_join_into_the_chunk_request():
    bulk = build_templated(message([f"r{i}@example.com" for i in range(3)], cc=["c@example.com", "x@example.com"],
                                   merge_data={"r1@example.com": {"n": 1}}))
    (request,) = bulk.requests()
    singles = [bulk.request_for([d]).body for d in bulk.destinations]
    assert join_bulk_bodies(singles) == request.body
    without_x = join_bulk_bodies(singles, lambda address: address != "x@example.com")
    pairs = dict(parse_qsl(without_x.decode()))
    assert pairs["Destinations.member.3.Destination.CcAddresses.member.1"] == "c@example.com"
    assert "Destinations.member.3.Destination.CcAddresses.member.2" not in pairs


@pytest.mark.parametrize("value", [{"a": {1, 2}}, {"a": object()}])
def test_merge_global_data_that_json_cannot_hold_names_the_key(value):
    from django_ses_query.exceptions import SESInvalidMessageError

    with pytest.raises(SESInvalidMessageError, match=r"merge_global_data\['a'\]"):
        build_templated(message(["a@example.com"], merge_global_data=value))


def test_anymail_unset_attributes_are_not_set():
    class UNSET:
        pass

    plain = EmailMessage(from_email="f@example.com", to=["a@example.com"], body="Hi")
    plain.template_id = plain.merge_data = plain.merge_global_data = plain.merge_metadata = UNSET
    from django_ses_query.templates.message import is_templated

    assert not is_templated(plain)
