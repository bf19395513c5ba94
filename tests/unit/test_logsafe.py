import logging

from warroom import logsafe
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


def test_every_kind_of_secret_in_a_url_is_redacted() -> None:
    # One example per pattern: the quick check that skips the patterns for ordinary lines
    # must let each of them through.
    examples = {
        "GET /x?token=s3cret": "GET /x?token=[redacted]",
        "GET /x?a=1&key=s3cret": "GET /x?a=1&key=[redacted]",
        "POST /api/v1/heartbeats/s3cret/ping": "POST /api/v1/heartbeats/[redacted]/ping",
        "GET /ack/s3cret": "GET /ack/[redacted]",
        "GET /calendars/s3cret.ics": "GET /calendars/[redacted]",
        "GET /status/subscriptions/confirm/s3cret": "GET /status/subscriptions/confirm/[redacted]",
        "GET /status/subscriptions/unsubscribe/s3cret": (
            "GET /status/subscriptions/unsubscribe/[redacted]"
        ),
    }
    for text, redacted in examples.items():
        assert redact_url(text) == redacted
    assert len({p.pattern for p, _ in logsafe._SECRET_IN_URL}) == 5  # one example each above


def _access_record(args: tuple[object, ...]) -> logging.LogRecord:
    msg = '%s - "%s %s HTTP/%s" %d'
    return logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, msg, args, None)


def test_the_access_line_is_uvicorns_line() -> None:
    """`AccessLine` writes the text uvicorn's `AccessFormatter` writes, for every status
    (a phrase, none for an unknown code), address and path, with and without colours."""
    from uvicorn.config import LOGGING_CONFIG
    from uvicorn.logging import AccessFormatter

    fmt = LOGGING_CONFIG["formatters"]["access"]["fmt"]
    records = [
        ("127.0.0.1:5000", "POST", "/v2/enqueue", "1.1", 202),
        ("[::1]:61000", "GET", "/status?x=%20&y=ü", "2", 599),
        ("10.0.0.9:1", "DELETE", "/api/v1/tokens/3", "1.0", 404),
        ("c", "GET", "/healthz", "1.1", 200),
    ]
    for colours in (False, True):
        theirs = AccessFormatter(fmt, use_colors=colours)
        ours = logsafe.AccessLine(fmt, use_colors=colours)
        for args in records:
            assert ours.format(_access_record(args)) == theirs.format(_access_record(args))


def test_serve_writes_the_access_log_with_the_access_line() -> None:
    import logging.config

    from warroom.cli.admin import log_config

    logging.config.dictConfig(log_config())
    try:
        (handler,) = logging.getLogger("uvicorn.access").handlers
        assert isinstance(handler.formatter, logsafe.AccessLine)
        assert any(isinstance(f, RedactSecrets) for f in handler.filters)
    finally:
        logging.getLogger("uvicorn.access").handlers.clear()


def test_no_log_line_of_serve_shows_what_lean_records_leave_out() -> None:
    from warroom.cli.admin import UNRECORDED, log_config

    formats = [f.get("fmt", "") for f in log_config()["formatters"].values()]
    assert formats and all(formats)
    for fmt in formats:
        assert not any(f"%({name})" in fmt for name in UNRECORDED), fmt
