"""Benchmark the protection model: a 100k-user tenant under ~10 Conditional Access policies.

Builds a synthetic tenant in memory (members and guests, per-user states, registered methods, nested-group
and role membership already resolved, as a reader would hand it over) and ten policies shaped like the demo
tenant's (MFA for admins by role, for all users in report-only, for Sales by group excluding break-glass,
specific apps, a legacy-authentication block, risk and location conditions, an OR alternative…), then times:

- ``compile_and_evaluate_seconds``: ``lib.protection.evaluate`` end to end (policies compiled once, then
  every user), wall time, and ``compile_and_evaluate_cpu_seconds``, this process's CPU time for the same run
  (on a busy machine the wall time mostly measures waiting for a core);
- ``summarize_seconds``: ``lib.protection.summarize`` over the result.

Prints one JSON object with the figures and the counts; never passes or fails on time.
``python bench/protection.py [--users 100000] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lib.protection import ProtectionInputs, UserFacts, evaluate, resolve_membership, summarize  # noqa: E402
from tests.protection_support import ca_policy  # noqa: E402

GA = "62e90394-69f5-4237-9190-012177145e10"
SECURITY_ADMIN = "194ae4cb-b126-40b2-bd5b-6091b380977d"
SALES, BREAK_GLASS, PILOT = "group-sales", "group-break-glass", "group-pilot"
METHOD_SETS = [(), ("mobilePhone",), ("microsoftAuthenticatorPush",), ("microsoftAuthenticatorPush", "mobilePhone"),
               ("fido2",), ("windowsHelloForBusiness", "microsoftAuthenticatorPush"), ("email",),
               ("passKeyDeviceBound",), ("officePhone", "email"), ("microsoftAuthenticatorPasswordless",)]


def tenant(count: int, seed: int = 15) -> ProtectionInputs:
    """``count`` users and ten policies, with membership resolved once per referenced group and role."""
    rng = random.Random(seed)
    users = [UserFacts(id=f"user-{n:06d}", user_type="guest" if n % 20 == 0 else "member",
                       per_user_state=rng.choice(("disabled", "disabled", "enabled", "enforced")),
                       methods_registered=rng.choice(METHOD_SETS), is_mfa_registered=rng.random() < 0.7)
             for n in range(count)]
    ids = [u.id for u in users]
    groups = {SALES: rng.sample(ids, count // 5), BREAK_GLASS: ids[:2], PILOT: rng.sample(ids, count // 10)}
    roles = {GA: ids[:25], SECURITY_ADMIN: ids[25:60]}
    policies = [
        ca_policy(policy_id="p1", name="Require MFA for admins", users={"includeUsers": [],
                  "includeRoles": [GA, SECURITY_ADMIN], "excludeGroups": [BREAK_GLASS]}),
        ca_policy(policy_id="p2", name="Require MFA for all users", state="enabledForReportingButNotEnforced",
                  users={"excludeGroups": [BREAK_GLASS]}),
        ca_policy(policy_id="p3", name="Require MFA for Sales", users={"includeUsers": [], "includeGroups": [SALES],
                                                                       "excludeGroups": [BREAK_GLASS]}),
        ca_policy(policy_id="p4", name="MFA for the admin portals", users={"includeUsers": [],
                  "includeGroups": [PILOT]}, applications={"includeApplications": ["MicrosoftAdminPortals"]}),
        ca_policy(policy_id="p5", name="Block legacy authentication", grant={"builtInControls": ["block"]},
                  conditions={"clientAppTypes": ["exchangeActiveSync", "other"]}),
        ca_policy(policy_id="p6", name="MFA on risky sign-ins for the pilot", users={"includeUsers": [],
                  "includeGroups": [PILOT]}, conditions={"signInRiskLevels": ["high", "medium"]}),
        ca_policy(policy_id="p7", name="MFA for Sales outside trusted locations",
                  users={"includeUsers": [], "includeGroups": [SALES]},
                  conditions={"locations": {"includeLocations": ["All"], "excludeLocations": ["AllTrusted"]}}),
        ca_policy(policy_id="p8", name="MFA or compliant device for the pilot",
                  users={"includeUsers": [], "includeGroups": [PILOT]},
                  grant={"operator": "OR", "builtInControls": ["mfa", "compliantDevice"]}),
        ca_policy(policy_id="p9", name="MFA for guests", users={"includeUsers": ["GuestsOrExternalUsers"]}),
        ca_policy(policy_id="p10", name="Old pilot", state="disabled"),
    ]
    return ProtectionInputs(users, policies, security_defaults=False, membership=resolve_membership(groups, roles))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    args = parser.parse_args()
    inputs = tenant(args.users)
    evaluate_times, evaluate_cpu, summarize_times = [], [], []
    for _ in range(args.repeat):
        started, started_cpu = time.perf_counter(), time.process_time()
        evaluation = evaluate(inputs)
        evaluate_times.append(time.perf_counter() - started)
        evaluate_cpu.append(time.process_time() - started_cpu)
        started = time.perf_counter()
        summary = summarize(evaluation, datetime(2026, 12, 3, tzinfo=UTC))
        summarize_times.append(time.perf_counter() - started)
    print(json.dumps({
        "users": args.users,
        "policies": len(inputs.policies),
        "compile_and_evaluate_seconds": round(min(evaluate_times), 3),
        "compile_and_evaluate_cpu_seconds": round(min(evaluate_cpu), 3),
        "summarize_seconds": round(min(summarize_times), 3),
        "summary": summary.as_json(),
    }, indent=2))


if __name__ == "__main__":
    main()
