"""Request-shape probes against a real ``serve`` process: the short path and the SDK answer alike (``arguments``
that are not an object, ``/mcp/``), the seed-style body keeps JSON-RPC's rules (``id``, ``Content-Type``),
and malformed or oversized bodies are refused without a 5xx."""

from __future__ import annotations

import json

import pytest

from security.conftest import SDK_PATH, SHORT_PATH, http_client, tools_call

NOT_OBJECTS = ["", False, 0, [], "x", 1.5]


@pytest.mark.parametrize("arguments", NOT_OBJECTS, ids=repr)
def test_arguments_that_are_not_an_object_get_invalid_params_on_both_paths(open_server, arguments):
    for headers in (SHORT_PATH, SDK_PATH):
        answer = http_client.post(f"{open_server.url}/mcp", json=tools_call("get_jump_events", arguments), headers=headers)
        assert answer.status_code == 200, headers
        assert answer.json()["error"]["code"] == -32602, (headers, answer.text)


def test_absent_or_null_arguments_mean_none_given_on_both_paths(open_server):
    for headers in (SHORT_PATH, SDK_PATH):
        for body in (tools_call("get_jump_events", None), {**tools_call("get_jump_events", {}), "params": {"name": "get_jump_events"}}):
            answer = http_client.post(f"{open_server.url}/mcp", json=body, headers=headers).json()
            assert answer["result"]["isError"] is False, answer


@pytest.mark.parametrize("body", [tools_call("get_jump_events", {"limit": 1}),
                                  {"method": "get_jump_events", "params": {"limit": 1}, "id": 1}], ids=["json-rpc", "seed"])
def test_a_trailing_slash_is_redirected_as_the_sdk_does(open_server, body):
    for headers in (SHORT_PATH, SDK_PATH):
        answer = http_client.post(f"{open_server.url}/mcp/", json=body, headers=headers)
        assert answer.status_code == 307 and answer.headers["location"].endswith("/mcp")


@pytest.mark.parametrize("request_id", [{"a": 1}, [1], True, False, None, 1.5], ids=repr)
@pytest.mark.parametrize("shape", ["seed", "json-rpc"])
def test_an_id_that_is_not_a_string_or_integer_is_an_invalid_request(open_server, request_id, shape):
    body = ({"method": "get_jump_events", "params": {"limit": 1}, "id": request_id} if shape == "seed"
            else tools_call("get_jump_events", {"limit": 1}, request_id))  # fmt: skip
    answer = http_client.post(f"{open_server.url}/mcp", json=body, headers=SHORT_PATH)
    assert answer.status_code == 400
    assert answer.json() == {"jsonrpc": "2.0", "id": None,
                             "error": {"code": -32600, "message": "Invalid Request: id must be a string or an integer"}}


@pytest.mark.parametrize("request_id", ["7", 7, 0, -3, ""], ids=repr)
def test_a_seed_body_keeps_its_string_or_integer_id(open_server, request_id):
    body = {"method": "get_jump_events", "params": {"limit": 1}, "id": request_id}
    answer = http_client.post(f"{open_server.url}/mcp", json=body).json()
    assert answer["id"] == request_id and answer["result"]["isError"] is False


def test_a_seed_body_without_id_is_answered_with_id_1(open_server):
    answer = http_client.post(f"{open_server.url}/mcp", json={"method": "get_jump_events", "params": {"limit": 1}}).json()
    assert answer["id"] == 1 and answer["result"]["isError"] is False


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None, "multipart/form-data"])
def test_a_body_that_is_not_json_is_refused_like_the_sdk_refuses_it(open_server, content_type):
    headers = {} if content_type is None else {"Content-Type": content_type}
    seed = json.dumps({"method": "get_jump_events", "params": {"limit": 1}, "id": 1})
    plain = json.dumps(tools_call("get_jump_events", {"limit": 1}))
    statuses = {http_client.post(f"{open_server.url}/mcp", content=body, headers={**headers, "Accept": "application/json"}).status_code
                for body in (seed, plain)}  # fmt: skip
    assert statuses == {400}


@pytest.mark.parametrize("params", ["", False, 0, [], "AAPL"], ids=repr)
def test_seed_params_that_are_not_an_object_get_invalid_params(open_server, params):
    answer = http_client.post(f"{open_server.url}/mcp", json={"method": "get_jump_events", "params": params, "id": 3}).json()
    assert answer["id"] == 3 and answer["error"]["code"] == -32602


MALFORMED = {
    "not json": b"nope",
    "truncated json": b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":',
    "empty": b"",
    "invalid utf-8": b'{"method":"get_jump_events","id":"\xff\xfe"}',
    "deep nesting": b"[" * 100_000 + b"]" * 100_000,
    "huge integer id": b'{"method":"get_jump_events","params":{},"id":' + b"9" * 5000 + b"}",
    "nul bytes": b'{"method":"get_jump_events\x00","id":1}',
    "batch": json.dumps([tools_call("get_jump_events", {"limit": 1}, i) for i in range(200)]).encode(),
    "empty batch": b"[]",
    "scalar": b"42",
}


@pytest.mark.parametrize("probe", MALFORMED)
def test_a_malformed_body_is_refused_with_a_4xx_and_the_server_keeps_answering(open_server, probe):
    for headers in (SHORT_PATH, SDK_PATH):
        answer = http_client.post(f"{open_server.url}/mcp", content=MALFORMED[probe], headers=headers, timeout=60)
        assert 400 <= answer.status_code < 500 or answer.json().get("error"), (headers, answer.status_code, answer.text[:300])
    assert http_client.get(f"{open_server.url}/health").status_code == 200


@pytest.mark.parametrize("path", ["/mcp", "/api/v1/sql"])
def test_a_body_over_one_mebibyte_is_refused_with_413(open_server, path):
    body = b'{"sql": "' + b" " * (2 << 20) + b'"}'
    assert http_client.post(f"{open_server.url}{path}", content=body, headers=SHORT_PATH).status_code == 413

    def chunks():  # no Content-Length: the limit counts what arrives
        yield b'{"sql": "'
        for _ in range(40):
            yield b" " * 65536
        yield b'"}'

    assert http_client.post(f"{open_server.url}{path}", content=chunks(), headers=SHORT_PATH).status_code == 413
