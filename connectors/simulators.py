"""Start every platform simulator found under connectors/, each on its demo port.

Convention: `connectors/<platform>/simulator.py` exposes `create_app()` returning
a WSGI app; the platform's port comes from `connectors.base.config.DEFAULT_PORTS`
(the same table the clients use as their demo default, so they find each other).
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from .base.config import DEFAULT_PORTS
from .base.simulator import SimulatorServer

logger = logging.getLogger(__name__)


def simulator_factories() -> dict[str, Callable[[], Any]]:
    """platform -> create_app, for every connectors/<platform>/simulator.py that follows the convention."""
    found: dict[str, Callable[[], Any]] = {}
    root = Path(__file__).parent
    for info in sorted(pkgutil.iter_modules([str(root)]), key=lambda i: i.name):
        if not info.ispkg or not (root / info.name / "simulator.py").exists():
            continue
        module = importlib.import_module(f"connectors.{info.name}.simulator")
        factory = getattr(module, "create_app", None)
        if callable(factory):
            found[info.name] = factory
    return found


def start_all(host: str = "127.0.0.1", ports: Mapping[str, int] = DEFAULT_PORTS, *,
              only: Iterable[str] | None = None) -> list[SimulatorServer]:
    """Start the simulators (all, or `only` these platforms). On a failure, the ones started are stopped."""
    wanted = set(only) if only else None
    servers: list[SimulatorServer] = []
    try:
        for platform, factory in simulator_factories().items():
            if wanted is not None and platform not in wanted:
                continue
            if platform not in ports:
                logger.warning("simulator %s has no port in the table; not started", platform)
                continue
            server = SimulatorServer(factory(), host=host, port=ports[platform])
            try:
                server.start()
            except OSError as exc:
                raise OSError(f"cannot start the {platform} simulator on {host}:{ports[platform]}: {exc}") from exc
            server.platform = platform  # type: ignore[attr-defined]
            servers.append(server)
    except Exception:
        stop_all(servers)
        raise
    return servers


def stop_all(servers: Iterable[SimulatorServer]) -> None:
    for server in servers:
        server.stop()
