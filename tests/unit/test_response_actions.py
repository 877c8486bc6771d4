"""Response actions against real HTTP servers on 127.0.0.1 answering the way Slack (errors as
`ok: false` in HTTP 200) and Shopify's GraphQL API (`errors[].extensions.code: "THROTTLED"` in HTTP
200) do: what a run gets — every record, or the error a user reads."""

from __future__ import annotations

import json

import pytest
from werkzeug.wrappers import Request, Response

from ingestion.contract.config import EntityConfig, cross_check
from ingestion.contract.errors import ApiError, AuthError, RetryableError
from ingestion.contract.schema import entity_schema, schema_errors
from ingestion.contract.sections import Choice, ResponseAction, with_defaults
from ingestion.model import Slice
from ingestion.run.decide import is_retryable
from ingestion.source.actions import Answer, ignores, matches
from ingestion.source.auth import AUTHENTICATORS
from ingestion.source.credentials import AuthContext
from ingestion.source.extract import extract_pages
from ingestion.source.fetch import Fetcher, open_session
from tests.support.configs import MINIMAL, entity_config
from tests.support.extraction import WINDOW, ids, make_entity, page_of
from utils.requests_api import HttpStatusError

SLACK_RULES = [
    {"path": "error", "equals": "ratelimited", "action": "retry", "message_path": "error"},
    {"path": "error", "equals": "invalid_auth", "action": "refresh_auth", "message_path": "error"},
    {"path": "ok", "equals": False, "action": "fail", "message_path": "error"},
]
SLACK_PAGING = {"type": "cursor", "cursor_path": "response_metadata.next_cursor", "cursor_param": "cursor",
                "has_more_path": "has_more"}
RATELIMITED = {"ok": False, "error": "ratelimited"}
SHOPIFY_RULES = [
    {"path": "errors[*].extensions.code", "contains": "THROTTLED", "action": "retry",
     "message_path": "errors[0].message"},
    {"path": "errors", "exists": True, "action": "fail", "message_path": "errors[0].message"},
]
THROTTLED = {"errors": [{"message": "Throttled", "extensions": {
    "code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}}],
    "extensions": {"cost": {"requestedQueryCost": 752, "actualQueryCost": None, "throttleStatus": {
        "maximumAvailable": 2000.0, "currentlyAvailable": 40, "restoreRate": 100.0}}}}


def walk(entity: EntityConfig, auth_spec: dict | None = None, secret: dict | None = None) -> list:
    """Every page of the entity's walk, through the production fetcher with the entity's rules."""
    auth = Choice.parse(with_defaults({"auth": auth_spec or {"type": "none"}}, entity_schema())["auth"])
    with open_session(entity.http) as session:
        ctx = AuthContext("local-project", secret or {}, session=session, base_url=entity.base_url)
        authenticator = AUTHENTICATORS.build(auth.type, ctx, **auth.options)
        fetcher = Fetcher(entity.source, entity.http, entity.records, session, authenticator,
                          entity.response_actions)
        return list(extract_pages(entity, [Slice(None, WINDOW)], fetcher))


def slack(httpserver, **overrides) -> EntityConfig:
    return make_entity(httpserver, records={"path": "messages"}, pagination=SLACK_PAGING,
                       response_actions=SLACK_RULES, **overrides)


def history(first: int, count: int, cursor: str = "") -> dict:
    return {"ok": True, "messages": page_of(first, count), "has_more": bool(cursor),
            "response_metadata": {"next_cursor": cursor}}


def test_a_ratelimited_answer_in_http_200_is_retried_and_every_record_arrives(httpserver):
    httpserver.expect_ordered_request("/api/items").respond_with_json(history(1, 2, "bmV4dA=="))
    httpserver.expect_ordered_request("/api/items").respond_with_json(RATELIMITED)
    httpserver.expect_ordered_request("/api/items").respond_with_json(history(3, 1))

    assert ids(walk(slack(httpserver))) == [1, 2, 3]
    sent = [request.args.get("cursor") for request, _ in httpserver.log]
    assert sent == [None, "bmV4dA==", "bmV4dA=="]  # the same page asked again


def test_a_runs_fetcher_applies_the_entitys_rules(httpserver):
    from ingestion.contract.settings import Settings
    from ingestion.run.pipeline import connect

    httpserver.expect_ordered_request("/api/items").respond_with_json(RATELIMITED)
    httpserver.expect_ordered_request("/api/items").respond_with_json(history(1, 1))
    entity = slack(httpserver)
    with open_session(entity.http) as session:
        fetcher = connect(entity, Settings(project="local-project", bucket="unused"), session)
        assert ids(extract_pages(entity, [Slice(None, WINDOW)], fetcher)) == [1]


def test_a_retry_honours_the_answers_retry_after(httpserver, mocker):
    slept = mocker.patch("ingestion.source.actions.time.sleep")
    wait = {"Retry-After": "7"}
    httpserver.expect_ordered_request("/api/items").respond_with_json(RATELIMITED, headers=wait)
    httpserver.expect_ordered_request("/api/items").respond_with_json(history(1, 1))
    assert ids(walk(slack(httpserver))) == [1]
    slept.assert_called_once_with(7.0)


def test_retries_run_out_in_a_retryable_error_naming_the_url_and_the_message(httpserver):
    httpserver.expect_request("/api/items").respond_with_json(RATELIMITED)
    token = "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy"
    auth = {"type": "api_key", "secret": "slack-bot", "in": "query", "name": "token", "value_key": "token"}
    with pytest.raises(RetryableError) as error:
        walk(slack(httpserver, http={"max_retries": 2}), auth, {"token": token})
    assert is_retryable(error.value)  # Pub/Sub redelivers later
    assert len(httpserver.log) == 3  # the first try and max_retries more
    message = str(error.value)
    assert "/api/items?token=REDACTED" in message and token not in message
    assert "'ratelimited'" in message and "after 2 retries" in message


def test_a_retry_wait_beyond_the_budget_fails_at_once(httpserver, mocker):
    slept = mocker.patch("ingestion.source.actions.time.sleep")
    httpserver.expect_request("/api/items").respond_with_json(RATELIMITED, headers={"Retry-After": "3600"})
    with pytest.raises(RetryableError, match="'ratelimited'"):
        walk(slack(httpserver, http={"max_retry_wait_seconds": 30}))
    assert len(httpserver.log) == 1 and not slept.called


def test_an_error_in_http_200_fails_permanently_quoting_the_apis_message(httpserver):
    httpserver.expect_request("/api/items").respond_with_json({"ok": False, "error": "channel_not_found"})
    with pytest.raises(ApiError) as error:
        walk(slack(httpserver))
    assert not is_retryable(error.value) and len(httpserver.log) == 1
    assert str(error.value) == (f"HTTP 200 from {httpserver.url_for('/api/items')}: 'channel_not_found' "
                                "(response_actions[2]: fail)")


def test_a_message_that_echoes_a_credential_is_redacted(httpserver):
    httpserver.expect_request("/api/items").respond_with_json(
        {"ok": False, "error": "token_revoked: Bearer xoxb-17653672481-19874698323"})
    with pytest.raises(ApiError) as error:
        walk(slack(httpserver))
    assert "19874698323" not in str(error.value) and "token_revoked" in str(error.value)


def test_refresh_auth_rereads_a_rotated_token_once_then_refuses(httpserver, monkeypatch):
    from ingestion.source import credentials

    tokens = {"old": "xoxb-old-0123456789", "new": "xoxb-new-9876543210"}
    latest = {"token": tokens["new"]}
    monkeypatch.setattr(credentials.secret_manager_helper, "access_secret_version",
                        lambda project, secret: (json.dumps(latest), "v9"))

    def api(request: Request) -> Response:
        if request.headers.get("Authorization") != f"Bearer {tokens['new']}":
            body = {"ok": False, "error": "invalid_auth"}
        else:
            body = history(1, 2)
        return Response(json.dumps(body), content_type="application/json")

    httpserver.expect_request("/api/items").respond_with_handler(api)
    auth = {"type": "bearer", "secret": "slack-bot"}
    assert ids(walk(slack(httpserver), auth, {"token": tokens["old"]})) == [1, 2]
    assert [r.headers["Authorization"] for r, _ in httpserver.log] == [f"Bearer {t}" for t in tokens.values()]

    latest["token"] = "xoxb-also-revoked-000"  # the refresh gives no working token either
    with pytest.raises(AuthError) as error:
        walk(slack(httpserver), auth, {"token": tokens["old"]})
    assert not is_retryable(error.value)
    assert "'invalid_auth'" in str(error.value) and "secret 'slack-bot'" in str(error.value)
    assert "even after re-reading its latest version" in str(error.value)


def test_refresh_auth_without_credentials_to_refresh_refuses_at_once(httpserver):
    httpserver.expect_request("/api/items").respond_with_json({"ok": False, "error": "invalid_auth"})
    with pytest.raises(AuthError, match="cannot refresh them"):
        walk(slack(httpserver))
    assert len(httpserver.log) == 1


def graphql(httpserver) -> EntityConfig:
    return make_entity(httpserver, request={"path": "/graphql.json", "method": "POST",
                                            "body": {"query": "{ orders(first: 2) { nodes { id } } }"}},
                       records={"path": "data.orders.nodes"}, pagination={"type": "single"},
                       response_actions=SHOPIFY_RULES)


def test_a_throttled_graphql_query_is_retried(httpserver):
    httpserver.expect_ordered_request("/api/graphql.json", method="POST").respond_with_json(THROTTLED)
    httpserver.expect_ordered_request("/api/graphql.json", method="POST").respond_with_json(
        {"data": {"orders": {"nodes": page_of(1, 2)}}, "extensions": THROTTLED["extensions"]})
    assert ids(walk(graphql(httpserver))) == [1, 2]
    assert len(httpserver.log) == 2


def test_other_graphql_errors_fail_with_their_message(httpserver):
    httpserver.expect_request("/api/graphql.json", method="POST").respond_with_json(
        {"errors": [{"message": "Field 'nodez' doesn't exist on type 'OrderConnection'",
                     "extensions": {"code": "undefinedField"}}]})
    with pytest.raises(ApiError, match=r"HTTP 200 .*: \"Field 'nodez' doesn't exist on type "
                                       r"'OrderConnection'\" \(response_actions\[1\]: fail\)"):
        walk(graphql(httpserver))


def test_ignore_turns_a_no_data_error_status_into_an_empty_page_that_ends_the_walk(httpserver):
    rules = [{"status": [400], "text_contains": "no data for", "action": "ignore"}]
    httpserver.expect_ordered_request("/api/items").respond_with_json({"data": page_of(1, 2)})
    httpserver.expect_ordered_request("/api/items").respond_with_json(
        {"message": "no data for the requested range"}, status=400)
    pages = walk(make_entity(httpserver, response_actions=rules))
    assert ids(pages) == [1, 2] and len(httpserver.log) == 2  # a full page 1, so page 2 was asked
    assert pages[-1].records == [] and pages[-1].response.final and pages[-1].response.status == 400


def test_a_replay_can_tell_an_ignored_page_from_data():
    rules = entity_config({"response_actions": [
        {"status": [400], "text_contains": "no data for", "action": "ignore"},
        {"path": "ok", "equals": False, "action": "fail"}]}).response_actions
    assert ignores(rules, 400, b'{"message": "no data for the requested range"}')
    assert not ignores(rules, 200, b'{"ok": false}') and not ignores(rules, 200, b'{"data": []}')


def test_an_error_status_no_rule_matches_takes_its_usual_course(httpserver):
    rules = [{"status": [400], "text_contains": "no data for", "action": "ignore"}]
    httpserver.expect_request("/api/items").respond_with_json({"message": "bad 'since'"}, status=400)
    with pytest.raises(HttpStatusError, match="HTTP 400"):
        walk(make_entity(httpserver, response_actions=rules))


def test_a_body_no_rule_matches_without_the_record_path_stays_an_error(httpserver):
    httpserver.expect_request("/api/items").respond_with_json({"ok": True, "warning": "superfluous_charset"})
    with pytest.raises(ApiError, match=r"path 'messages' not found"):
        walk(slack(httpserver))


def test_an_error_object_where_the_records_were_expected_fails(httpserver):
    # records.path "" takes a lone object for one record: a rule tells the error object apart
    rules = [{"path": "error", "exists": True, "action": "fail", "message_path": "error.message"}]
    httpserver.expect_request("/api/items").respond_with_json(
        {"error": {"code": 190, "message": "Error validating access token"}})
    entity = make_entity(httpserver, records={"path": ""}, pagination={"type": "single"},
                         response_actions=rules)
    with pytest.raises(ApiError, match="'Error validating access token'"):
        walk(entity)


def test_report_job_calls_see_the_rules_too(httpserver):
    job = {"create": {"path": "/jobs"}, "poll": {"path": "/jobs/{job_id}"}, "job_id_path": "id",
           "status_path": "status", "done_values": ["done"], "poll_interval_seconds": 0.01}
    httpserver.expect_ordered_request("/api/jobs", method="POST").respond_with_json(RATELIMITED)
    httpserver.expect_ordered_request("/api/jobs", method="POST").respond_with_json({"ok": True, "id": "j1"})
    httpserver.expect_ordered_request("/api/jobs/j1").respond_with_json({"ok": True, "status": "done"})
    httpserver.expect_ordered_request("/api/jobs/j1/rows").respond_with_json(
        {"ok": True, "data": page_of(1, 1)})
    entity = make_entity(httpserver, async_job=job, request={"path": "/jobs/{job_id}/rows"},
                         pagination={"type": "single"}, response_actions=SLACK_RULES)
    assert ids(walk(entity)) == [1]


def rule(**conditions) -> ResponseAction:
    return ResponseAction(action="fail", **conditions)


@pytest.mark.parametrize("conditions,body,expected", [
    ({"path": "ok", "equals": False}, {"ok": False}, True),
    ({"path": "ok", "equals": False}, {"ok": 0}, False),  # JSON equality: false is not 0
    ({"path": "n", "equals": 1}, {"n": True}, False),
    ({"path": "error", "equals": None}, {"error": None}, True),
    ({"path": "error", "equals": None}, {}, False),
    ({"path": "error", "contains": "limit"}, {"error": "ratelimited"}, True),
    ({"path": "codes", "contains": 7}, {"codes": [3, 7]}, True),
    ({"path": "errors[*].code", "contains": "THROTTLED"}, {"errors": [{"code": "X"}, {"code": "THROTTLED"}]},
     True),
    ({"path": "errors[*].code", "contains": "THROTTLED"}, {"data": {}}, False),
    ({"path": "errors", "exists": True}, {"errors": None}, False),  # a null is no value
    ({"path": "errors", "exists": False}, {"data": {}}, True),
    ({"path": "errors[*].code", "exists": True}, {"errors": []}, False),
    ({"status": (400, 404), "text_contains": "no data"}, {"m": "no data for range"}, False),  # a 200
    ({"path": "ok", "equals": False}, "<html>502 Bad Gateway</html>", False),  # not JSON: no path
    ({"text_contains": "Bad Gateway"}, "<html>502 Bad Gateway</html>", True),
])
def test_conditions(conditions, body, expected):
    content = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    assert matches(rule(**conditions), Answer(200, content, {}, "https://api.example.com/x")) is expected


def test_a_rule_needs_a_condition_and_a_path_exactly_one_test():
    def errors(*rules):
        return schema_errors("resolved", {**MINIMAL, "response_actions": list(rules)})

    assert errors(*SLACK_RULES, *SHOPIFY_RULES, {"status": 404, "action": "ignore"}) == []
    assert errors({"action": "retry"})  # no condition
    assert errors({"path": "ok", "action": "fail"})  # a path without equals / contains / exists
    assert errors({"path": "ok", "equals": False, "exists": True, "action": "fail"})
    assert errors({"equals": False, "action": "fail"})  # equals without a path
    assert errors({"status": 200, "action": "wait"})
    malformed = {"path": "errors[*.code", "exists": True, "action": "fail"}
    problems = " ".join(cross_check(entity_config({"response_actions": [malformed]})))
    assert "response_actions[0].path: malformed path" in problems
    many = {"status": 400, "action": "fail", "message_path": "errors[*].message"}
    problems = " ".join(cross_check(entity_config({"response_actions": [many]})))
    assert "response_actions[0].message_path: 'errors[*].message' has [*]" in problems
