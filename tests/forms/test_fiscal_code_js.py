"""The browser's fiscal-code check (static/js/fiscal-code.js) agrees with the server's."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from common import fiscal_code

SCRIPT = Path(__file__).resolve().parents[2] / "static" / "js" / "fiscal-code.js"
CODES = [
    "RSSMRA80A01H501U", "PRVGNN90R10H501Q", "BNCLRA85M41E715O", "VRDGPP70C15G702S",
    "RSSMRA80A01H501X", "RSSMRA80A01H5LMU", "rssmra80a01h501u", "RSSMRA80A01H50", "1234567890123456",
]


def test_javascript_and_server_agree_on_every_code():
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is required (installed with npm by `make`)")
    program = (
        "global.window={};global.document={addEventListener(){}};"
        f"require({json.dumps(str(SCRIPT))});"
        f"console.log(JSON.stringify({json.dumps(CODES)}.map(window.procedoFiscalCodeValid)))"
    )
    browser = json.loads(subprocess.run([node, "-e", program], capture_output=True, text=True, check=True).stdout)
    server = [fiscal_code.is_valid(c.upper()) if len(c) == 16 else False for c in CODES]
    assert browser == server
    assert browser[:4] == [True, True, True, True] and browser[4] is False
