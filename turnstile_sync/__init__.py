"""turnstile-sync: Cloudflare Turnstile widgets as code.

The library API, for automation that embeds the tool::

    from turnstile_sync import TurnstileClient, Credentials, load_spec, plan, apply

Names are imported on first use, so ``turnstile-sync --help`` does not pay for pydantic,
httpx and the emulator.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

_EXPORTS = {
    "load_spec": "turnstile_sync.spec",
    "load_spec_text": "turnstile_sync.spec",
    "LoadedSpec": "turnstile_sync.spec",
    "Spec": "turnstile_sync.models",
    "WidgetSpec": "turnstile_sync.models",
    "LiveWidget": "turnstile_sync.models",
    "plan": "turnstile_sync.planner",
    "Plan": "turnstile_sync.actions",
    "Action": "turnstile_sync.actions",
    "ActionKind": "turnstile_sync.actions",
    "apply": "turnstile_sync.applier",
    "ApplyReport": "turnstile_sync.applier",
    "TurnstileClient": "turnstile_sync.client",
    "Credentials": "turnstile_sync.client",
    "emulator_transport": "turnstile_sync.emulator",
    "TurnstileSyncError": "turnstile_sync.errors",
}

__all__ = [
    "Action",
    "ActionKind",
    "ApplyReport",
    "Credentials",
    "LiveWidget",
    "LoadedSpec",
    "Plan",
    "Spec",
    "TurnstileClient",
    "TurnstileSyncError",
    "WidgetSpec",
    "__version__",
    "apply",
    "emulator_transport",
    "load_spec",
    "load_spec_text",
    "plan",
]

if TYPE_CHECKING:
    from turnstile_sync.actions import Action, ActionKind, Plan
    from turnstile_sync.applier import ApplyReport, apply
    from turnstile_sync.client import Credentials, TurnstileClient
    from turnstile_sync.emulator import emulator_transport
    from turnstile_sync.errors import TurnstileSyncError
    from turnstile_sync.models import LiveWidget, Spec, WidgetSpec
    from turnstile_sync.planner import plan
    from turnstile_sync.spec import LoadedSpec, load_spec, load_spec_text


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'turnstile_sync' has no attribute {name!r}")
    return getattr(import_module(module), name)
