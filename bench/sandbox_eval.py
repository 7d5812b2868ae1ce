"""Cost of one BPMN expression evaluation / script execution in the sandbox (µs per call).

Conditions are evaluated on every engine step, so this is the sandbox's hot path. The
expressions are the shipped models' own, on task data shaped like a residence-change case.
Run it from a checkout's root; run it from an older checkout to compare before/after:

    .venv/bin/python bench/sandbox_eval.py
    (cd ../other-checkout && .venv/bin/python /path/to/bench/sandbox_eval.py)
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path.cwd()))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from engine.sandbox import RestrictedEnvironment  # noqa: E402
from engine.script_helpers import build_helpers  # noqa: E402

DATA = {
    "case_number": "2026/000123",
    "received_on": "2026-03-06",
    "tenant_name": "Comune di Capannori",
    "declaration_date": "2026-03-05",
    "declarants": [
        {"given_name": "Maria", "family_name": "Rossi", "fiscal_code": "RSSMRA80A41H501U"},
        {"given_name": "Luca", "family_name": "Rossi", "fiscal_code": "RSSLCU78B12H501X"},
    ],
    "new_address": {"street": "Via Roma", "house_number": "12", "municipality_istat": "046007"},
    "registration": {"origin": "other_municipality", "previous_municipality": "Lucca"},
    "police_verification": {"outcome": "positive"},
    "evaluate_reply": {"reply_accepted": True},
    **{f"field_{i}": i for i in range(30)},
}

EXPRESSIONS = {
    "condition": 'police_verification["outcome"] == "positive"',
    "helper call": "add_working_days(received_on, 2)",
    "get()": 'get(registration, "previous_municipality", "")',
    "string concat": '"Dichiarazione di residenza: motivi ostativi (pratica " + case_number + ")"',
    "dict + comprehension": (
        '{"pratica": {"numero": case_number, "data_dichiarazione": format_date(declaration_date)}, '
        '"componenti": [{"nome": d["given_name"], "cognome": d["family_name"]} for d in declarants], '
        '"provenienza_estero": registration["origin"] == "abroad"}'
    ),
}
SCRIPT = 'final_outcome = "accepted"'


def _time(call, n: int) -> float:
    rounds = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(n):
            call()
        rounds.append((time.perf_counter() - started) / n * 1e6)
    return min(rounds)  # the least disturbed round: the machine is shared


def main() -> None:
    env = RestrictedEnvironment(build_helpers(patron_day=None))
    print(f"sandbox: {env.__class__.__module__}.{env.__class__.__name__} from {Path.cwd()}")
    print(f"{'expression':<24} µs/eval")
    for label, source in EXPRESSIONS.items():
        if not hasattr(env, "functions"):  # the eval-based sandbox before the allow-list had no get()
            source = source.replace('get(registration, "previous_municipality", "")',
                                    'registration.get("previous_municipality", "")')
        env.evaluate(source, DATA)
        print(f"{label:<24} {_time(lambda s=source: env.evaluate(s, DATA), 5000):8.2f}")
    print(f"{'script (1 assignment)':<24} {_time(lambda: env.execute(SCRIPT, dict(DATA)), 5000):8.2f}")


if __name__ == "__main__":
    main()
