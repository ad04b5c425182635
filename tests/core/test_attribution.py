"""What a backend is told about the caller: the request id and principal, in plain characters only."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from warden_core import attribution
from warden_core.audit import AuditRecord, _current


@contextmanager
def handling(request_id: str, principal: str) -> Iterator[AuditRecord]:
    record = AuditRecord(request_id=request_id, server="warden-test", transport="http", principal=principal)
    token = _current.set(record)
    try:
        yield record
    finally:
        _current.reset(token)


def test_outside_a_request_there_is_nothing_to_tell() -> None:
    assert attribution.application_name("warden-postgres") is None
    assert attribution.user_agent("warden-github/0.1") == "warden-github/0.1"
    assert attribution.audit_id() is None


def test_inside_a_request_the_backend_learns_its_id_and_principal() -> None:
    with handling("9f2c4e", "apikey/alice"):
        assert attribution.application_name("warden-postgres") == "warden-postgres/9f2c4e/apikey/alice"
        assert (
            attribution.user_agent("warden-github/0.1") == "warden-github/0.1 (request=9f2c4e; principal=apikey/alice)"
        )
        first, second = attribution.audit_id(), attribution.audit_id()
    assert first and second and first != second and first.startswith("9f2c4e-")


def test_caller_chosen_text_cannot_break_out_of_a_literal_or_a_header() -> None:
    hostile = "x'); DROP TABLE t; --\r\nX-Injected: 1 (é)"
    with handling(hostile, hostile):
        name = attribution.application_name("warden-postgres")
        who = attribution.caller()
    assert name is not None and len(name.encode()) <= attribution.APPLICATION_NAME_BYTES
    assert who is not None
    for text in (name, who.request_id, who.principal):
        assert not set(text) & set("'\";\r\n ()é"), text
