"""A local Spotzee Main API for tests, the demo and benchmarks.

`Sandbox` implements the contract in shared/spotzee-api.md strictly (it is a test double
that catches client mistakes), in process through httpx transports or served on
127.0.0.1 by uvicorn, with scriptable faults (`Faults`, `Sandbox.inject`).
`Sandbox(profile="parcelvoy")` plays a self-hosted Parcelvoy instead (see `PROFILES`).

    from spotzee_frames.sandbox import Sandbox, Faults

    sb = Sandbox(Faults(latency=0.02))
    with sb.serve() as server:
        ...  # point a client at server.base_url with any sk_... key

Run one from a shell with `python -m spotzee_frames.sandbox --port 8765` (add
`--profile parcelvoy` for the Parcelvoy one).
"""

from __future__ import annotations

from ._app import API_VERSION
from ._demo_data import DEMO_ENTRANCES
from ._faults import FAULT_KINDS, Faults
from ._profiles import PROFILES
from ._sandbox import Sandbox
from ._server import ServedSandbox
from ._wire import RequestRecord

__all__ = [
    "API_VERSION",
    "DEMO_ENTRANCES",
    "FAULT_KINDS",
    "PROFILES",
    "Faults",
    "RequestRecord",
    "Sandbox",
    "ServedSandbox",
]
