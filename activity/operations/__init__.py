"""The operations a run can execute, by type. Each module holds one (SPEC §5)."""

from __future__ import annotations

from activity.operations.base import Operation
from activity.operations.export import Export
from activity.operations.external_scan import ExternalScan
from activity.operations.materialize import Materialize
from activity.operations.profile import Profile
from activity.operations.promote import Promote
from activity.operations.scan import Scan
from activity.operations.sync import Sync

OPERATIONS: dict[str, Operation] = {
    op.type: op
    for op in (Sync(), Profile(), Scan(), ExternalScan(), Export(), Materialize(), Promote())
}
