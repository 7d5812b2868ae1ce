"""The scenario runner moved into product code (studio/scenarios.py) so the studio can run a draft's
scenarios in a sandbox; this module keeps the names the tests import."""

from studio.scenarios import *  # noqa: F403
from studio.scenarios import (  # noqa: F401
    DEFAULT_START,
    PROCESSES,
    Model,
    Runner,
    Scenario,
    ScenarioFileError,
    discover,
    load_model,
    load_scenarios,
)
