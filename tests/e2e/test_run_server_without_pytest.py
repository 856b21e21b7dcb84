"""``totpflow.testing.run_server()`` outside pytest, in an interpreter where pytest cannot be imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent(
    """
    import json, sys
    sys.modules["pytest"] = None  # any `import pytest` now fails, as where pytest is not installed
    from totpflow.testing import current_totp, run_server

    with run_server() as server:
        client = server.client()
        user = client.users.create(email="ada@example.com")
        totp = client.totps.create(user_id=user.user_id)
        login = client.totps.authenticate(user_id=user.user_id, totp_code=current_totp(totp.secret))
        answer = {"user_id": login.user_id, "created": user.user_id, "pytest": "_pytest" in sys.modules}
        print(json.dumps(answer))
    """
)


def test_run_server_works_where_pytest_cannot_be_imported(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOTPFLOW_")}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["user_id"] == answer["created"]
    assert answer["pytest"] is False
