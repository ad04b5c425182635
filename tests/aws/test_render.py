"""Answers made safe: masking along the output shape, JSON types, and cursors that always make progress."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import botocore.session
import pytest

from warden_aws.classification import Classification
from warden_aws.render import Masker, decode_cursor, plain, take_page
from warden_core import Budget, InvalidArgument


def output_shape(service: str, operation: str) -> object:
    return botocore.session.get_session().get_service_model(service).operation_model(operation).output_shape


def test_reviewed_members_are_masked_even_when_the_model_does_not_mark_them() -> None:
    masker = Masker(Classification.load().masked_members("autoscaling"))
    answer = {
        "LaunchConfigurations": [
            {"LaunchConfigurationName": "web", "UserData": "IyEvYmluL3NoCmV4cG9ydCBQVz1odW50ZXIy"}
        ],
        "ResponseMetadata": {"RequestId": "abc"},
    }
    rendered = masker.render(answer, output_shape("autoscaling", "DescribeLaunchConfigurations"))
    assert rendered == {"LaunchConfigurations": [{"LaunchConfigurationName": "web", "UserData": "[sensitive]"}]}
    assert masker.masked == [".LaunchConfigurations[].UserData"]


def test_model_sensitive_members_are_masked_unless_the_operator_allowed_the_operation() -> None:
    shape = output_shape("lambda", "GetFunctionConfiguration")
    answer = {"FunctionName": "fn", "Environment": {"Variables": {"DB_PASSWORD": "hunter2"}}}
    assert Masker({}).render(answer, shape)["Environment"]["Variables"] == "[sensitive]"
    assert Masker({}, unmask=True).render(answer, shape)["Environment"]["Variables"] == {"DB_PASSWORD": "hunter2"}


def test_values_become_clean_json() -> None:
    when = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.UTC)
    assert plain({"t": when, "d": Decimal("1.50"), "b": b"\x00\x01", "s": "ok\u202e\u200b"}) == {
        "t": "2026-11-21T12:00:00+00:00",
        "d": "1.50",
        "b": "AAE=",
        "s": "ok",
    }


def test_a_cut_page_resumes_where_it_stopped_and_an_oversized_item_is_passed_over() -> None:
    items = [{"id": i, "pad": "x" * 40} for i in range(10)]
    kept, cut, cursor = take_page(items, kind="t", budget=Budget(200), skip=0, token="p1", next_token="p2")
    assert cut and 0 < len(kept) < 10 and cursor
    state = decode_cursor(cursor, "t")
    assert state["t"] == "p1" and state["s"] == len(kept)
    rest, _, _ = take_page(items, kind="t", budget=Budget(10_000), skip=state["s"], token="p1", next_token="p2")
    assert [i["id"] for i in kept + rest] == list(range(10))
    # One item larger than the whole budget: the cursor still moves on.
    huge = [{"id": 0, "pad": "x" * 500}, {"id": 1}]
    kept, cut, cursor = take_page(huge, kind="t", budget=Budget(100), skip=0, token=None, next_token=None)
    assert kept == [] and cut and cursor and decode_cursor(cursor, "t")["s"] == 1


@pytest.mark.parametrize("cursor", ["e30", "bm90IGpzb24", "eyJrIjoib3RoZXIiLCJzIjowfQ"])
def test_cursors_from_elsewhere_are_refused(cursor: str) -> None:
    with pytest.raises(InvalidArgument, match="cursor is not valid"):
        decode_cursor(cursor, "ec2:DescribeInstances")
