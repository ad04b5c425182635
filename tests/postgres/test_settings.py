"""Settings: named DSNs, validation that names the setting without echoing secrets, and redaction."""

from __future__ import annotations

import json

import pytest

from warden_core import SettingsError
from warden_core.redaction import redact
from warden_postgres.settings import Settings


def load(**values: object) -> Settings:
    return Settings.load(audit_sink="stderr", **values)


def test_one_dsn_is_main_and_more_come_as_json() -> None:
    settings = load(
        dsn="postgresql://app@db1/shop",
        databases=json.dumps({"sales": "postgresql://app@db2/sales", "hr": "postgres://app@db3/hr"}),
    )
    assert settings.database_names == ("main", "sales", "hr")
    assert settings.default_database_name == "main"
    assert load(databases=json.dumps({"sales": "postgresql://a@b/c"})).default_database_name == "sales"
    assert load().default_database_name is None


@pytest.mark.parametrize(
    ("values", "setting"),
    [
        ({"dsn": "mysql://root:hunter2hunter2@db/x"}, "WARDEN_POSTGRES_DSN"),
        ({"databases": "{not json hunter2hunter2"}, "WARDEN_POSTGRES_DATABASES"),
        ({"databases": json.dumps({"Bad Name": "postgresql://a:hunter2hunter2@b/c"})}, "WARDEN_POSTGRES_DATABASES"),
        ({"databases": json.dumps({"x": "http://a:hunter2hunter2@b/c"})}, "WARDEN_POSTGRES_DATABASES"),
        ({"databases": json.dumps([])}, "WARDEN_POSTGRES_DATABASES"),
        ({"schemas": ""}, "WARDEN_POSTGRES_SCHEMAS"),
        ({"max_rows": 0}, "WARDEN_POSTGRES_MAX_ROWS"),
    ],
)
def test_bad_values_name_the_setting_and_never_echo_it(values: dict[str, object], setting: str) -> None:
    with pytest.raises(SettingsError) as refused:
        load(**values)
    assert setting in str(refused.value)
    assert "hunter2hunter2" not in str(refused.value)


def test_main_cannot_be_redefined_and_the_default_must_exist() -> None:
    with pytest.raises(SettingsError, match="main"):
        load(dsn="postgresql://a@b/c", databases=json.dumps({"main": "postgresql://a@b/d"}))
    with pytest.raises(SettingsError, match="default_database"):
        load(dsn="postgresql://a@b/c", default_database="sales")


def test_every_dsn_password_is_masked_everywhere() -> None:
    load(
        dsn="postgresql://app:first-secret-1@db1/shop",
        databases=json.dumps({"sales": "postgresql://app@db2/sales?password=second-secret-2"}),
    )
    text = redact(
        "errors mention first-secret-1 and second-secret-2 and postgresql://app@db2/sales?password=second-secret-2"
    )
    assert "first-secret-1" not in text and "second-secret-2" not in text


def test_the_search_path_is_the_literal_allowlist() -> None:
    assert load(schemas="sales,public").search_path == ("sales", "public")
    assert load(schemas="*").search_path == ("public",)
    assert load(schemas="sales_*").search_path == ()


def test_allowed_functions_are_schema_qualified_patterns() -> None:
    allowlist = load(allowed_functions="public.normalize_email, analytics.*").function_allowlist
    assert allowlist.setting == "WARDEN_POSTGRES_ALLOWED_FUNCTIONS"
    assert allowlist.allows("public.normalize_email") and allowlist.allows("analytics.rollup")
    assert not allowlist.allows("public.other") and not load().function_allowlist.allows("public.anything")
    for bad, why in (("normalize_email", "schema.name"), ("pg_catalog.now", "reviewed list"), ("a.[bc]", "only")):
        with pytest.raises(SettingsError, match=why) as refused:
            load(allowed_functions=bad)
        assert "WARDEN_POSTGRES_ALLOWED_FUNCTIONS" in str(refused.value)


def test_a_superuser_is_refused_unless_the_operator_insists(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load().unsafe_allow_superuser is False
    monkeypatch.setenv("WARDEN_POSTGRES_UNSAFE_ALLOW_SUPERUSER", "true")
    assert Settings.load(audit_sink="stderr").unsafe_allow_superuser is True
