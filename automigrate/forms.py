"""The rule form used by Django admin: human units in, one validator for all."""

from django import forms
from django.core.exceptions import ValidationError

from automigrate.engine.model import MEM
from automigrate.models import MigrationRule
from automigrate.services.rules import clean_rule_input
from automigrate.units import format_period


def _threshold_initial(rule: MigrationRule) -> str:
    if rule.metric == MEM:
        for unit, size in (("T", 1024**4), ("G", 1024**3), ("M", 1024**2)):
            if rule.threshold % size == 0:
                return f"{int(rule.threshold // size)}{unit}"
        return f"{rule.threshold:.0f}"
    return f"{rule.threshold:g}"


class MigrationRuleForm(forms.ModelForm):
    threshold = forms.CharField(
        help_text="cpu.usage_active: a percent, 0 < t <= 100. mem.available: bytes, or 8G / 512M",
    )
    period = forms.CharField(
        initial="5m", help_text="check interval and averaging window: 30s, 2m, 1h (at least 10s)"
    )

    class Meta:
        model = MigrationRule
        fields = ["name", "metric", "threshold", "period", "mode", "enabled", "allowed_windows",
                  "source_hosts", "target_hosts", "source_guests"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["threshold"] = _threshold_initial(self.instance)
            self.initial["period"] = format_period(self.instance.period_seconds)

    def clean(self):
        data = dict(self.cleaned_data)
        if self.errors:
            return self.cleaned_data
        try:
            cleaned = clean_rule_input(data, instance=self.instance if self.instance.pk else None)
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                self.add_error(field if field in self.fields else None, messages)
            return self.cleaned_data
        self.cleaned_data["threshold"] = cleaned["threshold"]
        self.instance.period_seconds = cleaned["period_seconds"]
        return self.cleaned_data
