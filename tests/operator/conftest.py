"""The evaluator's fixtures (a predictable simulator, two hot hosts), reused for the operator's day."""

from tests.evaluator.conftest import evaluator_settings, two_hot_hosts  # noqa: F401
