"""Bulk changes of per-user MFA state: plan, execute (journaled, resumable), undo, waves, protections.

Typical use from a page (see each module for the details)::

    from lib import rollout

    protection = rollout.active_protection(store, tenant_id)
    fresh = rollout.with_current_states(gateway, frame, selected_ids)  # the snapshot may be stale
    preview = rollout.plan(fresh, "enforced", selected_ids, protected=protection, actor=admin)
    op_id = rollout.start_operation(store, gateway, preview, tenant_id=tenant_id, actor=admin)
    progress = rollout.operation_progress(store, op_id)        # poll: done, failed, remaining, rate, ETA
    rollout.cancel_operation(store, op_id, actor=admin)
    rollout.resume_operation(store, gateway, op_id, actor=admin)
    undo = rollout.undo_preview(store, gateway, op_id, frame=frame, actor=admin, protected=protection)
    undo_id = rollout.start_operation(store, gateway, undo, tenant_id=tenant_id, actor=admin)
"""

from lib.rollout.actor import MFA_WRITE_PERMISSION, Actor, AppActor, app_actor_from_token, require_writer
from lib.rollout.csv_import import (
    MAX_ROWS,
    ROW_ERROR_CODES,
    CsvImport,
    CsvRow,
    CsvRowError,
    parse_users_csv,
    plan_from_csv,
)
from lib.rollout.errors import (
    CsvImportError,
    OperationConflict,
    OperationNotFound,
    OperationStateError,
    PermissionDenied,
    ProtectionError,
    RolloutError,
    WaveError,
)
from lib.rollout.execute import (
    ExecuteOptions,
    OperationWorker,
    cancel_operation,
    operation_report,
    resume_operation,
    run_operation,
    running_here,
    start_operation,
    wait_operation,
)
from lib.rollout.journal import (
    EVENT_COLUMNS,
    ITEM_COLUMNS,
    LEASE_S,
    Operation,
    OperationProgress,
    get_operation,
    item_events,
    item_outcomes,
    list_operations,
    operation_items_frame,
    operation_progress,
    operations_frame,
)
from lib.rollout.observed import ObservedStates, observed_since
from lib.rollout.plan import (
    CHANGE_COLUMNS,
    NOTE_COLUMNS,
    SKIP_CODES,
    SKIP_COLUMNS,
    WARNING_CODES,
    LegacyUse,
    Plan,
    PlanWarning,
    expected_state,
    plan,
)
from lib.rollout.protected import (
    PROTECTED_COLUMNS,
    RISK_COLUMNS,
    SUGGESTION_COLUMNS,
    ProtectedAccount,
    Protection,
    active_protection,
    as_protection,
    list_protected,
    protect_account,
    protected_frame,
    protection_risks,
    suggest_protected,
    unprotect_account,
)
from lib.rollout.reregistration import awaiting_reregistration
from lib.rollout.states import with_current_states
from lib.rollout.undo import undo_preview
from lib.rollout.waves import (
    WAVE_PROGRESS_COLUMNS,
    Wave,
    get_wave,
    import_waves,
    list_waves,
    promotable_ids,
    promote_plan,
    wave_member_ids,
    wave_progress,
)

__all__ = [
    "CHANGE_COLUMNS",
    "EVENT_COLUMNS",
    "ITEM_COLUMNS",
    "LEASE_S",
    "MAX_ROWS",
    "MFA_WRITE_PERMISSION",
    "NOTE_COLUMNS",
    "PROTECTED_COLUMNS",
    "RISK_COLUMNS",
    "ROW_ERROR_CODES",
    "SKIP_CODES",
    "SKIP_COLUMNS",
    "SUGGESTION_COLUMNS",
    "WARNING_CODES",
    "WAVE_PROGRESS_COLUMNS",
    "Actor",
    "AppActor",
    "CsvImport",
    "CsvImportError",
    "CsvRow",
    "CsvRowError",
    "ExecuteOptions",
    "LegacyUse",
    "ObservedStates",
    "Operation",
    "OperationConflict",
    "OperationNotFound",
    "OperationProgress",
    "OperationStateError",
    "OperationWorker",
    "PermissionDenied",
    "Plan",
    "PlanWarning",
    "ProtectedAccount",
    "Protection",
    "ProtectionError",
    "RolloutError",
    "Wave",
    "WaveError",
    "active_protection",
    "app_actor_from_token",
    "as_protection",
    "awaiting_reregistration",
    "cancel_operation",
    "expected_state",
    "get_operation",
    "get_wave",
    "import_waves",
    "item_events",
    "item_outcomes",
    "list_operations",
    "list_protected",
    "list_waves",
    "observed_since",
    "operation_items_frame",
    "operation_progress",
    "operation_report",
    "operations_frame",
    "parse_users_csv",
    "plan",
    "plan_from_csv",
    "promotable_ids",
    "promote_plan",
    "protect_account",
    "protected_frame",
    "protection_risks",
    "require_writer",
    "resume_operation",
    "run_operation",
    "running_here",
    "start_operation",
    "suggest_protected",
    "undo_preview",
    "unprotect_account",
    "wait_operation",
    "wave_member_ids",
    "wave_progress",
    "with_current_states",
]
