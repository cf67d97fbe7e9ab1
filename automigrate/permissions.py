"""Who may do what: everyone logged in reads; staff or the operators group change."""

from rest_framework.permissions import SAFE_METHODS, BasePermission

OPERATORS_GROUP = "operators"


def is_operator(user) -> bool:
    if not (user and user.is_authenticated and user.is_active):
        return False
    return user.is_staff or user.is_superuser or user.groups.filter(name=OPERATORS_GROUP).exists()


class ReadAuthenticatedWriteOperator(BasePermission):
    message = "changing things needs staff or the operators group"

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        return request.method in SAFE_METHODS or is_operator(request.user)


class StaffOnly(BasePermission):
    """Webhook URLs and secrets: staff only, to read as well as to change."""

    message = "webhooks need a staff user"

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.is_staff)
