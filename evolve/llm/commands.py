"""`evolve fake-llm`: a local OpenAI-compatible server to dry-run a problem without spending money."""
from __future__ import annotations

from pathlib import Path

from rich.console import Console

from evolve.llm.fake_answers import load_script, perturber
from evolve.llm.fake_server import FakeLLMServer


def register(sub) -> None:
    p = sub.add_parser("fake-llm", help="serve fake LLM answers locally (dry-run a problem at no cost)",
                       description="Serve an OpenAI-compatible chat API on this machine. By default every "
                       "answer changes one constant inside the EVOLVE-BLOCK of the program in the prompt; "
                       "--script serves a JSON/YAML list of answers or steps instead.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="port (default: any free one)")
    p.add_argument("--script", type=Path, help="JSON or YAML list: answers (strings) or "
                   "{content, status, retry_after, delay, body, usage}")
    p.add_argument("--repeat", action="store_true", help="serve the script's last step forever once it runs out")
    p.add_argument("--delay", type=float, default=0.0, help="seconds before each perturbing answer")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_fake_llm)


def build_server(args) -> FakeLLMServer:
    if args.script is not None:
        try:
            script = load_script(args.script)
        except (OSError, ValueError) as exc:
            raise SystemExit(f"error: {exc}") from None
        return FakeLLMServer(script, port=args.port, host=args.host, repeat_last=args.repeat)
    return FakeLLMServer(perturber(args.seed, args.delay), port=args.port, host=args.host)


def cmd_fake_llm(args, console: Console) -> int:
    server = build_server(args)
    console.print(f"fake LLM server at [bold]{server.url}[/] (Ctrl-C stops it). In problem.yaml:\n")
    console.print(f"llm:\n  models:\n    - {{name: openai/fake, api_base: {server.url}}}\n", highlight=False)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    console.print(f"served {len(server.chat_requests)} chat request(s)")
    return 0
