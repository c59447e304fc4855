"""Parsing the nested answers of SES's identity and configuration-set actions."""

from __future__ import annotations

from django_ses_query.attributes import identity_map, members, structure
from django_ses_query.responses import parse_result

NS = 'xmlns="http://ses.amazonaws.com/doc/2010-12-01/"'


def answer(action: str, result: str):
    body = (
        f"<{action}Response {NS}><{action}Result>{result}</{action}Result>"
        f"<ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata></{action}Response>"
    ).encode()
    return parse_result(action, body)


def test_identity_map_with_nested_list():
    result = answer(
        "GetIdentityDkimAttributes",
        "<DkimAttributes><entry><key>example.com</key><value><DkimEnabled>true</DkimEnabled>"
        "<DkimVerificationStatus>Success</DkimVerificationStatus>"
        "<DkimTokens><member>t1</member><member>t2</member></DkimTokens></value></entry>"
        "<entry><key>a@example.org</key><value><DkimEnabled>false</DkimEnabled></value></entry>"
        "</DkimAttributes>",
    )
    assert identity_map(result, "DkimAttributes") == {
        "example.com": {"DkimEnabled": "true", "DkimVerificationStatus": "Success", "DkimTokens": ["t1", "t2"]},
        "a@example.org": {"DkimEnabled": "false"},
    }


def test_missing_or_odd_parts_give_empty_values():
    result = answer(
        "GetIdentityVerificationAttributes",
        "<VerificationAttributes><entry><value><VerificationStatus>Success</VerificationStatus></value></entry>"
        "<entry><key>x@example.com</key></entry><entry><key> </key><value/></entry></VerificationAttributes>",
    )
    assert identity_map(result, "VerificationAttributes") == {"x@example.com": {}}
    assert identity_map(result, "NotificationAttributes") == {}
    assert identity_map(answer("GetSendQuota", ""), "VerificationAttributes") == {}


def test_configuration_set_and_event_destinations():
    result = answer(
        "DescribeConfigurationSet",
        "<ConfigurationSet><Name>tracked</Name></ConfigurationSet><EventDestinations><member>"
        "<Name>to-sns</Name><Enabled>true</Enabled><MatchingEventTypes><member>bounce</member>"
        "<member>complaint</member></MatchingEventTypes><SNSDestination><TopicARN>arn:aws:sns:us-east-1:1:t</TopicARN>"
        "</SNSDestination></member></EventDestinations>",
    )
    assert structure(result, "ConfigurationSet") == {"Name": "tracked"}
    assert members(result, "EventDestinations") == [
        {
            "Name": "to-sns", "Enabled": "true", "MatchingEventTypes": ["bounce", "complaint"],
            "SNSDestination": {"TopicARN": "arn:aws:sns:us-east-1:1:t"},
        }
    ]
    assert structure(result, "Nothing") == {} and members(result, "Nothing") == []
