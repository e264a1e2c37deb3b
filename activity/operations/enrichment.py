"""What Export and Materialize share: the enrichment datastore they write into."""

from __future__ import annotations

import hashlib
import re

from django.core.exceptions import ValidationError

from activity.operations.base import OptionsForm

# PostgreSQL truncates identifiers at 63 bytes; stay well under it on every database.
MAX_NAME = 55


class EnrichmentOptions(OptionsForm):
    def clean(self):
        data = super().clean()
        if self.datastore.enrichment_id is None:
            raise missing(self.datastore)
        return data


def missing(datastore) -> ValidationError:
    return ValidationError(
        f"{datastore} has no enrichment datastore: link one in the admin to write into it."
    )


def destination(job):
    """The job's connection to its datastore's enrichment datastore (invalid options if none:
    the link may have been removed since the run was launched)."""
    enrichment = job.run.datastore.enrichment
    if enrichment is None:
        raise missing(job.run.datastore)
    return job.connect(enrichment, write=True)


def table_name(prefix: str, kind: str, name: str) -> str:
    """`<prefix>_<kind>_<name>`, a plain lowercase identifier on every database.

    A name that had to be changed (case, spaces, quotes, length) gets a digest of the original
    appended, so "Orders", "orders" and "or ders" never land in the same table.
    """
    safe = re.sub(r"[^a-z0-9_]+", "_", name.lower()).strip("_") or "table"
    full = f"{prefix}_{kind}_{safe}"
    if safe != name or len(full) > MAX_NAME:
        digest = hashlib.sha1(name.encode()).hexdigest()[:8]
        full = f"{full[: MAX_NAME - 9]}_{digest}"
    return full
