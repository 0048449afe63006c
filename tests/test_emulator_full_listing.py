"""`python -m lib.emulator --users 100000` serves a complete, consistent users listing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import msal
import pytest

from tests.conftest import GRAPH_SCOPE, msal_http_client

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_hundred_thousand_users_page_completely() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "lib.emulator", "--users", "100000", "--seed", "3"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready = json.loads(proc.stdout.readline())
        app = msal.ConfidentialClientApplication(
            ready["client_id"], client_credential=ready["client_secret"], authority=ready["authority"],
            http_client=msal_http_client(ready["ca_cert"]), instance_discovery=False)
        token = app.acquire_token_for_client([GRAPH_SCOPE])["access_token"]
        headers = {"Authorization": f"Bearer {token}", "ConsistencyLevel": "eventual"}
        url = f"{ready['graph']}/v1.0/users?$select=id,userPrincipalName&$top=999&$count=true"
        ids: list[str] = []
        upns: set[str] = set()
        pages = 0
        with httpx.Client(trust_env=False, timeout=30) as client:
            first = client.get(url, headers=headers).json()
            count = first["@odata.count"]
            page = first
            while True:
                pages += 1
                ids += [u["id"] for u in page["value"]]
                upns |= {u["userPrincipalName"].lower() for u in page["value"]}
                if "@odata.nextLink" not in page:
                    break
                assert "@odata.count" not in page or pages == 1
                page = client.get(page["@odata.nextLink"], headers={"Authorization": headers["Authorization"]}).json()
        assert count == 100_000
        assert len(ids) == len(set(ids)) == len(upns) == 100_000
        assert pages == 101
    finally:
        proc.terminate()
        proc.wait(timeout=30)
