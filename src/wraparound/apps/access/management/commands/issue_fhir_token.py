"""Issue a FHIR API bearer token for an organisation; prints it once (only its digest is
kept). ``python -m django issue_fhir_token P81001 "Dene Park Surgery EMIS"``; ``--revoke ID``
ends one."""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from wraparound.apps.access import tokens
from wraparound.apps.access.models import ApiToken
from wraparound.apps.records.models import Organisation


class Command(BaseCommand):
    help = "Issue (or revoke) a bearer token for the access FHIR API"

    def add_arguments(self, parser):
        parser.add_argument("organisation", nargs="?", help="ODS code of the organisation")
        parser.add_argument("name", nargs="?", help="what the token is for")
        parser.add_argument("--revoke", type=int, help="revoke the token with this id")

    def handle(self, organisation=None, name=None, revoke=None, **options):
        if revoke is not None:
            if not ApiToken.objects.filter(pk=revoke).update(revoked_at=timezone.now()):
                raise CommandError(f"no token {revoke}")
            self.stdout.write(f"token {revoke} revoked")
            return
        if not organisation or not name:
            raise CommandError("give the organisation's ODS code and a name for the token")
        org = Organisation.objects.filter(pk=organisation).first()
        if org is None:
            raise CommandError(f"no organisation {organisation!r}")
        record, token = tokens.issue(org, name)
        self.stdout.write(f"token {record.pk} for {org} ({org.pk}): {token}")
