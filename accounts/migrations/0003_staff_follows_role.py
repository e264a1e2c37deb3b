from __future__ import annotations

from django.db import migrations
from django.db.models import Q

# The roles that work in the Django admin, as User.save() says (see accounts/models.py).
STAFF = Q(is_superuser=True) | Q(role__in=["admin", "manager"])


def staff_follows_role(apps, schema_editor) -> None:
    """Users saved before is_staff followed the role: demoted admins still had the admin."""
    User = apps.get_model("accounts", "User")
    User.objects.filter(STAFF).update(is_staff=True)
    User.objects.exclude(STAFF).update(is_staff=False)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_initial")]

    operations = [migrations.RunPython(staff_follows_role, migrations.RunPython.noop)]
