from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from accounts.models import ApiToken, User


class Command(BaseCommand):
    help = "Create an API token for a user and print only the token (for provisioning scripts)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", required=True, help="What the token is for.")
        parser.add_argument("--days", type=int, default=90, help="Days until it expires.")

    def handle(self, *args, username: str, name: str, days: int, **options) -> None:
        user = User.objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"No active user named {username!r}.")
        if not 1 <= days <= ApiToken.MAX_DAYS:
            raise CommandError(f"--days must be between 1 and {ApiToken.MAX_DAYS}.")
        if not name.strip() or len(name) > 100:
            raise CommandError("--name must be 1 to 100 characters.")
        _, raw = ApiToken.issue(user, name.strip(), days)
        self.stdout.write(raw)
