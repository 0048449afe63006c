"""MFA Rollout Console: all logic lives here; pages only render."""
