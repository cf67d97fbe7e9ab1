"""Production settings: refused without a secret, clean under check --deploy."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_manage(*args, env_overrides):
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG", "ALLOWED_HOSTS")}
    env.update(env_overrides)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_production_refuses_to_start_without_a_secret_key():
    result = run_manage("check", env_overrides={"DEBUG": "0"})
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_check_deploy_is_clean_in_production():
    result = run_manage(
        "check", "--deploy", "--fail-level", "WARNING",
        env_overrides={"DEBUG": "0", "SECRET_KEY": "x" * 60 + "-production-like-secret-key-Zq8",
                       "ALLOWED_HOSTS": "automigrate.example.org"},
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_bad_boolean_in_the_environment_names_the_variable():
    result = run_manage("check", env_overrides={"DEBUG": "maybe"})
    assert result.returncode != 0
    assert "DEBUG='maybe'" in result.stderr


def test_every_api_view_uses_the_projects_filter_backends_from_settings():
    from django.urls import get_resolver
    from rest_framework.settings import api_settings

    from automigrate.api.filters import StableOrderingFilter, StrictSearchFilter
    from automigrate.api.urls import router

    assert StrictSearchFilter in api_settings.DEFAULT_FILTER_BACKENDS
    assert StableOrderingFilter in api_settings.DEFAULT_FILTER_BACKENDS
    get_resolver()  # loads every URLconf, as serving does
    for _, viewset, _ in router.registry:
        assert viewset.filter_backends == api_settings.DEFAULT_FILTER_BACKENDS, viewset.__name__


def test_no_redoc_settings_without_a_redoc_page(settings):
    from django.urls import NoReverseMatch, reverse

    assert "REDOC_DIST" not in settings.SPECTACULAR_SETTINGS
    with pytest.raises(NoReverseMatch):
        reverse("api-redoc")
