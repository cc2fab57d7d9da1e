import logging

from sealedreg.logs import Redactor
from sealedreg.registry.policy import NamespacePolicy, Policy

POLICY = Policy({"example.com": NamespacePolicy("example.com", ("secret-*",)),
                 "acme": NamespacePolicy("acme", ("*",))})
D = "sha256:" + "ab" * 32


def test_private_names_references_and_digests_are_redacted():
    r = Redactor(POLICY.is_private, key=b"k" * 16)
    line = r.redact(f"GET /v2/example.com/secret-app/manifests/v1-internal HTTP/1.1 "
                    f"scope repository:example.com/secret-app:pull digest {D} other {'cd' * 32}")
    for secret in ("secret-app", "v1-internal", "ab" * 32, "cd" * 32):
        assert secret not in line
    assert line.count("<r:") == 5
    assert "ab" * 32 not in r.redact(f"PUT /v2/x/blobs/uploads/1?digest=sha256%3A{'ab' * 32} HTTP/1.1")
    # the same input gives the same token within one key (correlatable), another key another
    assert r.redact(D) == r.redact(D) != Redactor(POLICY.is_private, key=b"x" * 16).redact(D)


def test_public_names_stay_readable():
    r = Redactor(POLICY.is_private)
    line = r.redact("PUT /v2/example.com/public/manifests/1.0 and repository:other.org/app:push")
    assert "example.com/public/manifests/1.0" in line and "other.org/app" in line


def test_filter_rewrites_records_and_tracebacks():
    r = Redactor(POLICY.is_private)
    try:
        raise ValueError(f"bad {D} in example.com/secret-x")
    except ValueError as exc:
        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "failed %s", ("example.com/secret-x",),
                                   (type(exc), exc, exc.__traceback__))
    assert r.filter(record)
    text = record.getMessage() + (record.exc_text or "")
    assert "secret-x" not in text and "ab" * 32 not in text and "ValueError" in text


def test_encoded_queries_scopes_and_single_component_names():
    r = Redactor(POLICY.is_private)
    lines = [
        "POST /v2/example.com/other/blobs/uploads/?mount=sha256%3A" + "ab" * 32 + "&from=example.com%2Fsecret-app",
        "GET /token?scope=repository%3Aexample.com%2Fsecret-app%3Apull&service=x HTTP/1.1",
        "GET /v2/example.com/secret-app/tags/list?n=10&last=v9-launch HTTP/1.1",
        "token issued to bob: repository:acme:pull",
    ]
    for line in lines:
        out = r.redact(line)
        for secret in ("secret-app", "v9-launch", "ab" * 32, "repository:acme:"):
            assert secret not in out, (line, out)


def _emit(log_format: str, *records: logging.LogRecord) -> list[str]:
    import io

    from sealedreg.logs import handler

    stream = io.StringIO()
    out = handler(Redactor(POLICY.is_private, key=b"k" * 16), log_format, stream)
    for record in records:
        out.handle(record)
    return stream.getvalue().splitlines()


def _record(msg: str, *args, fields: dict | None = None, exc_info=None) -> logging.LogRecord:
    record = logging.LogRecord("sealedreg.test", logging.WARNING, __file__, 1, msg, args, exc_info)
    if fields is not None:
        record.fields = fields
    return record


def test_json_lines_are_one_object_per_record_with_every_field():
    import json

    try:
        raise ValueError("in example.com/secret-x\nsecond line")
    except ValueError as exc:
        failed = _record("failed %s", "x", exc_info=(type(exc), exc, exc.__traceback__))
    out = _emit("json", _record("pushed %s", "example.com/public"), failed,
                _record("GET /v2/{name}/blobs/{digest} 200", fields={
                    "route": "/v2/{name}/blobs/{digest}", "status": 200, "user": "alice", "request_id": "r-1",
                    "note": f"example.com/secret-app {D}"}))
    assert len(out) == 3  # a traceback's newlines are escaped: still one line
    docs = [json.loads(line) for line in out]
    for doc in docs:
        assert {"time", "level", "logger", "message"} <= set(doc) and doc["level"] == "WARNING"
        assert doc["time"].endswith("+00:00") and doc["logger"] == "sealedreg.test"
    assert docs[0]["message"] == "pushed example.com/public"
    assert "ValueError" in docs[1]["exception"] and "secret-x" not in docs[1]["exception"]
    request = docs[2]
    assert request["route"] == "/v2/{name}/blobs/{digest}" and request["status"] == 200
    assert request["user"] == "alice" and request["request_id"] == "r-1"
    assert "secret-app" not in request["note"] and "ab" * 32 not in request["note"]


def test_text_lines_are_unchanged_and_redacted():
    out = _emit("text", _record("GET /v2/example.com/secret-app/manifests/1 and %s", D))
    assert len(out) == 1 and " WARNING sealedreg.test: GET /v2/<r:" in out[0]
    assert "secret-app" not in out[0] and "ab" * 32 not in out[0]
