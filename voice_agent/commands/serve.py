"""`voice-agent serve`: the talking web page and its websocket gateway."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

from ..transports.phone import add_phone_args
from .common import add_model_args, model_config


def register(sub: Any) -> None:
    """Add the `serve` parser."""
    p = sub.add_parser("serve", help="serve the web page: click once and talk with the agent")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="another page origin allowed to open the websocket, e.g. https://voice.example.lan (repeatable)",
    )
    p.add_argument("--token", default=os.environ.get("VOICE_AGENT_TOKEN"), help="shared secret required on the "
                   "websocket (?token=...); default: $VOICE_AGENT_TOKEN")  # fmt: skip
    p.add_argument("--max-sessions", type=int, default=4, help="concurrent conversations (default 4)")
    p.add_argument("--idle-timeout", type=float, default=120.0, help="close a silent connection after S seconds")
    p.add_argument("--web-dir", type=Path, help="serve the page from this folder (default: the bundled web/)")
    p.add_argument("--persona", type=Path, help="persona TOML: name, background, speaking style (default: built-in)")
    add_phone_args(p)
    add_model_args(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Load the models once, then serve until interrupted."""
    from ..transports.gateway import GatewayConfig

    config = GatewayConfig(
        host=args.host,
        port=args.port,
        allow_origins=list(args.allow_origin),
        token=args.token or None,
        max_sessions=args.max_sessions,
        idle_timeout_s=args.idle_timeout,
    )
    if args.web_dir:
        config.web_dir = args.web_dir
    if not (config.web_dir / "index.html").is_file():
        print(f"voice-agent serve: no index.html in {config.web_dir} (use --web-dir)", file=sys.stderr)
        return 2
    if args.host not in ("127.0.0.1", "localhost", "::1") and not config.token:
        print("voice-agent serve: warning: listening beyond this machine without --token", file=sys.stderr)
    return asyncio.run(_serve(args, config))


async def _serve(args: argparse.Namespace, config: Any) -> int:
    from ..models import load_models
    from ..persona import load_persona
    from ..transports.gateway import Gateway, run_gateway
    from ..transports.phone import mount_phone_routes, phone_config
    from ..transports.phone.webhook import WebhookServer

    config.session.system_prompt = load_persona(args.persona).system_prompt()
    print("loading models ...", file=sys.stderr, flush=True)
    models = await asyncio.to_thread(load_models, model_config(args), config.session.system_prompt)
    webhooks: list[WebhookServer] = []

    def ready(gateway: Gateway) -> None:
        routes = mount_phone_routes(gateway, phone_config(args))
        gateway.http_hook = routes.twiml_http_response
        if args.webhook_port:
            hook = WebhookServer(routes.config, lambda: gateway.config.token)
            webhooks.append(hook)
            asyncio.ensure_future(hook.start())
        token = f"?token={config.token}" if config.token else ""
        print(f"voice-agent: open http://{config.host}:{gateway.port}/{token}  (Ctrl-C stops)", flush=True)

    task = asyncio.ensure_future(run_gateway(models, config, ready))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    try:
        await task
    except asyncio.CancelledError:
        pass
    finally:
        for hook in webhooks:
            await hook.close()
        models.close()
    return 0
