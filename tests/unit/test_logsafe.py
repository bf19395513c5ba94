import logging

from warroom.logsafe import RedactSecrets, redact_url


def test_keys_in_urls_are_redacted() -> None:
    assert (
        redact_url("POST /api/v1/integrations/alertmanager?key=0123abcd&x=1 HTTP/1.1")
        == "POST /api/v1/integrations/alertmanager?key=[redacted]&x=1 HTTP/1.1"
    )
    assert redact_url("GET /api/v1/heartbeats/0123abcd") == "GET /api/v1/heartbeats/[redacted]"
    assert redact_url("GET /ack/abc.def?x=1") == "GET /ack/[redacted]?x=1"
    assert redact_url("GET /api/v1/incidents?status=open") == "GET /api/v1/incidents?status=open"


def test_the_access_log_filter_rewrites_record_arguments() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "POST", "/api/v1/integrations/grafana?key=s3cret", "1.1", 200),
        None,
    )
    assert RedactSecrets().filter(record)
    assert "s3cret" not in record.getMessage()
