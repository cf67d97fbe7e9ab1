"""The inventory: hypervisor hosts and the guests (VMs) running on them."""

from django.db import models

from automigrate.engine.model import PINNED_LABELS
from automigrate.models.bounds import MoreThanZero


class Host(models.Model):
    class Status(models.TextChoices):
        ONLINE = "online"
        OFFLINE = "offline"
        MAINTENANCE = "maintenance"

    name = models.CharField(max_length=200, unique=True)
    external_id = models.CharField(max_length=200, blank=True, db_index=True)
    cpu_count = models.PositiveIntegerField(validators=[MoreThanZero("a host's CPU count")])
    mem_total = models.PositiveBigIntegerField(help_text="bytes", validators=[MoreThanZero("a host's memory size")])
    host_type = models.CharField(max_length=40, default="kvm")
    cpu_arch = models.CharField(max_length=40, default="x86_64")
    enabled = models.BooleanField(default=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ONLINE)
    labels = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=models.Q(cpu_count__gt=0), name="host_cpu_count_positive",
                                   violation_error_message="a host's CPU count must be more than 0"),
            models.CheckConstraint(condition=models.Q(mem_total__gt=0), name="host_mem_total_positive",
                                   violation_error_message="a host's memory size must be more than 0"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def accepts_guests(self) -> bool:
        return self.would_accept_guests(self.enabled, self.status)

    @classmethod
    def would_accept_guests(cls, enabled: bool, status: str) -> bool:
        """The rule of ``accepts_guests`` for a row read as values (no model object per host)."""
        return enabled and status == cls.Status.ONLINE


class Guest(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running"
        MIGRATING = "migrating"
        STOPPED = "stopped"
        UNKNOWN = "unknown"
        # No longer reported by the platform; kept so its history stays readable.
        GONE = "gone"

    name = models.CharField(max_length=200, unique=True)
    external_id = models.CharField(max_length=200, blank=True, db_index=True)
    host = models.ForeignKey(Host, on_delete=models.PROTECT, related_name="guests")
    vcpu_count = models.PositiveIntegerField(validators=[MoreThanZero("a guest's vCPU count")])
    vmem_size = models.PositiveIntegerField(
        help_text="MB, as the reference", validators=[MoreThanZero("a guest's memory size")]
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RUNNING)
    labels = models.JSONField(default=list, blank=True, help_text='e.g. ["pinned"] or ["never-migrate"]')
    last_migrated_at = models.DateTimeField(null=True, blank=True)
    last_migrated_from = models.ForeignKey(
        Host, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Simulated cluster only: the guest's load shape, e.g. {"shape": "wave", "level": 30}.
    # Kept in the database because web, worker and beat are separate processes.
    workload = models.JSONField(
        default=dict, blank=True, help_text="simulator only: load shape (steady, wave, bursty, stress, idle)"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=models.Q(vcpu_count__gt=0), name="guest_vcpu_count_positive",
                                   violation_error_message="a guest's vCPU count must be more than 0"),
            models.CheckConstraint(condition=models.Q(vmem_size__gt=0), name="guest_vmem_size_positive",
                                   violation_error_message="a guest's memory size must be more than 0"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_pinned(self) -> bool:
        return bool(PINNED_LABELS.intersection(self.labels or []))

    @property
    def vmem_bytes(self) -> int:
        return self.vmem_size * 1024 * 1024
