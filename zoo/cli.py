"""The ``zoo`` command: list | info | plugins | train | resume | eval | sample | interpolate | render.

Listing commands print rich tables for people and ``--json`` for scripts. Errors the zoo knows about
(unknown names, bad recipes, missing data) print one clear message and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from zoo.errors import ZooError
from zoo.interfaces import KINDS

console = Console()
err_console = Console(stderr=True)


def _registry():
    from zoo.registry import get_registry

    return get_registry()


def _print_json(data) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


# ----------------------------------------------------------------------------------------------------
# list / info / plugins


def cmd_list(args: argparse.Namespace) -> None:
    entries = _registry().list(args.kind, args.pattern)
    if args.json:
        _print_json([
            {"kind": e.kind, "name": e.name, "summary": e.summary, "paper": e.paper, "plugin": e.plugin,
             "distribution": e.distribution, "version": e.version}
            for e in entries
        ])
        return
    if not entries:
        console.print(f"no components match kind={args.kind or 'any'} pattern={args.pattern!r}")
        return
    by_kind: dict[str, list] = {}
    for entry in entries:
        by_kind.setdefault(entry.kind, []).append(entry)
    for kind, group in by_kind.items():
        table = Table(title=f"{kind} ({len(group)})", title_justify="left", title_style="bold")
        table.add_column("name", style="cyan", no_wrap=True)
        table.add_column("summary")
        table.add_column("paper", style="dim", max_width=32, overflow="ellipsis", no_wrap=True)
        table.add_column("plugin", style="green", no_wrap=True)
        for e in group:
            table.add_row(e.name, e.summary, e.paper or "", e.plugin)
        console.print(table)
    broken = [p for p in _registry().plugins if p.status != "ok"]
    for p in broken:
        err_console.print(f"[yellow]plugin {p.name!r} is broken and was skipped: {p.error}[/] (zoo plugins --all)")


def _component_info(entry) -> dict:
    import inspect

    from zoo.recipes import describe_type, parameters, slots

    info = {"kind": entry.kind, "name": entry.name, "summary": entry.summary, "paper": entry.paper,
            "plugin": entry.plugin, "distribution": entry.distribution, "version": entry.version}
    if entry.kind == "recipe":
        info["recipe"] = entry.obj
        return info
    params, hints, _ = parameters(entry.obj)
    info["arguments"] = [
        {
            "name": n,
            "type": describe_type(hints.get(n, p.annotation)),
            "default": None if p.default is p.empty else p.default,
            "required": p.default is p.empty,
        }
        for n, p in params.items()
    ]
    info["doc"] = inspect.getdoc(getattr(entry.obj, "func", entry.obj)) or ""
    info["fits"] = slots(entry)
    return info


def cmd_info(args: argparse.Namespace) -> None:
    registry = _registry()
    entries = [registry.get(args.kind, args.name)] if args.kind else registry.find(args.name)
    if not entries:
        from zoo.registry import did_you_mean

        hint = did_you_mean(args.name, registry.names())
        raise ZooError(f"nothing is registered as {args.name!r}{hint}; see: zoo list")
    infos = [_component_info(e) for e in entries]
    if args.json:
        _print_json(infos if len(infos) > 1 else infos[0])
        return
    import yaml

    for info in infos:
        console.rule(f"[bold]{info['kind']} [cyan]{info['name']}")
        console.print(info["summary"])
        if info["paper"]:
            console.print(f"[dim]paper:[/] {info['paper']}")
        console.print(f"[dim]plugin:[/] {info['plugin']} ({info['distribution']} {info['version']})")
        if info["kind"] == "recipe":
            console.print(yaml.safe_dump(info["recipe"], sort_keys=False).rstrip())
            continue
        table = Table("argument", "type", "default", title="arguments", title_justify="left")
        for arg in info["arguments"]:
            default = "[red]required[/]" if arg["required"] else repr(arg["default"])
            table.add_row(arg["name"], arg["type"], default)
        console.print(table)
        if info["fits"]:
            console.print(f"[dim]fits:[/] {', '.join(info['fits'])}")
        if info["doc"]:
            console.print(f"\n{info['doc']}")


def cmd_plugins(args: argparse.Namespace) -> None:
    plugins = [p for p in _registry().plugins if args.all or not p.core]
    if args.json:
        _print_json([
            {"name": p.name, "module": p.module, "distribution": p.distribution, "version": p.version,
             "builtin": p.builtin, "hooks": p.hooks, "status": p.status, "error": p.error}
            for p in plugins
        ])
        return
    table = Table("name", "version", "distribution", "hooks", "status")
    for p in plugins:
        status = "[green]ok[/]" if p.status == "ok" else f"[red]broken[/]: {p.error}"
        table.add_row(p.name, p.version, p.distribution, ", ".join(p.hooks), status)
    console.print(table)


# ----------------------------------------------------------------------------------------------------
# train / resume / eval / sample / render


def cmd_train(args: argparse.Namespace) -> None:
    from zoo import recipes, training

    recipe = recipes.load_recipe(args.recipe, config=args.config, overrides=args.set)
    out = Path(args.out) if args.out else Path("runs") / recipe["name"]
    training.train(recipe, out, steps=args.steps, device=args.device)


def cmd_resume(args: argparse.Namespace) -> None:
    from zoo import training

    training.resume(args.run_dir, steps=args.steps)


def cmd_eval(args: argparse.Namespace) -> None:
    from zoo import training

    metrics = training.evaluate(args.run_dir, iwae_samples=args.iwae_samples)
    if args.json:
        _print_json(metrics)
        return
    table = Table("metric", "value", title=f"eval: {args.run_dir}", title_justify="left")
    for name, value in metrics.items():
        table.add_row(name, f"{value:.6g}" if isinstance(value, float) else str(value))
    console.print(table)


def cmd_sample(args: argparse.Namespace) -> None:
    from zoo import training

    path = training.sample(args.run_dir, args.n, args.out or Path(args.run_dir) / "samples.png", size=args.size,
                           temperature=args.temperature)
    console.print(f"wrote {path}")


def cmd_interpolate(args: argparse.Namespace) -> None:
    from zoo import training

    path = training.interpolate(args.run_dir, args.pairs, args.steps, args.out, size=args.size, seed=args.seed)
    console.print(f"wrote {path}")


def cmd_render(args: argparse.Namespace) -> None:
    from zoo import training

    path = training.render(args.run_dir, args.size, args.out or Path(args.run_dir) / f"render-{args.size}.png",
                        offset=args.offset)
    console.print(f"wrote {path}")


RUN_DIR_HELP = "a run directory written by `zoo train`"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zoo",
        description="genzoo: a plugin-based zoo of generative and implicit models.",
        epilog="Start with `zoo list`, then `zoo info NAME` and `zoo train RECIPE`.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("list", help="list registered components and recipes")
    p.add_argument("pattern", nargs="?", default="*", help="fnmatch pattern on names, e.g. 'vae-*'")
    p.add_argument("--kind", "-k", help=f"only this kind: {', '.join(KINDS)}")
    p.add_argument("--json", action="store_true", help="print JSON: one object per component")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("info", help="a component's or recipe's arguments, docs, paper and where it fits")
    p.add_argument("name", help="component or recipe name (see: zoo list)")
    p.add_argument("--kind", "-k", help="disambiguate when a name is registered under several kinds")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("plugins", help="loaded plugins: name, version, distribution, hooks, status")
    p.add_argument("--all", action="store_true", help="include the core's own modules (zoo.*)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_plugins)

    p = sub.add_parser("train", help="train a recipe (a registered name or a YAML file)")
    p.add_argument("recipe", help="recipe name (zoo list --kind recipe) or path to a YAML recipe")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a recipe value, e.g. --set decoder.field.hidden_dim=128 (repeatable)")
    p.add_argument("--config", help="a YAML file merged over the recipe")
    p.add_argument("--out", help="run directory (default: runs/RECIPE)")
    p.add_argument("--steps", type=int, help="total training steps (overrides train.steps)")
    p.add_argument("--device", help="cpu, cuda, cuda:1, mps (default: auto)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("resume", help="continue a run from its last checkpoint")
    p.add_argument("run_dir", help=RUN_DIR_HELP)
    p.add_argument("--steps", type=int, help="new total number of steps")
    p.set_defaults(func=cmd_resume)

    p = sub.add_parser("eval", help="evaluate a run's model on the held-out split")
    p.add_argument("run_dir", help=RUN_DIR_HELP)
    p.add_argument("--iwae-samples", type=int, default=1000,
                   help="importance samples for the test NLL of models with a likelihood (0: skip)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("sample", help="draw samples from a run's model into a PNG grid")
    p.add_argument("run_dir", help=RUN_DIR_HELP)
    p.add_argument("-n", type=int, default=64, help="number of samples")
    p.add_argument("--size", type=int, help="decode at this resolution (longest side) instead of the data's; "
                   "needs a resizable decoder, e.g. a field decoder")
    p.add_argument("--temperature", type=float, help="scale the prior's spread (below 1: smoother, more typical "
                   "samples); for models whose sample takes one, e.g. a vdvae")
    p.add_argument("--out", help="PNG path (default: RUN_DIR/samples.png)")
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("interpolate", help="decode the lines between the codes of held-out pairs into a PNG grid")
    p.add_argument("run_dir", help=RUN_DIR_HELP)
    p.add_argument("--pairs", type=int, default=8, help="number of held-out pairs (rows)")
    p.add_argument("--steps", type=int, default=10, help="points per line (columns), both ends included")
    p.add_argument("--size", type=int, help="decode at this resolution (longest side); needs a resizable decoder")
    p.add_argument("--seed", type=int, default=0, help="which held-out pairs are drawn")
    p.add_argument("--out", help="PNG path (default: RUN_DIR/interpolations.png)")
    p.set_defaults(func=cmd_interpolate)

    p = sub.add_parser("render", help="render a fitted implicit field at any resolution into a PNG")
    p.add_argument("run_dir", help=RUN_DIR_HELP)
    p.add_argument("--size", type=int, default=1024, help="output resolution (longest side)")
    p.add_argument("--offset", type=float, default=0.0, help="sub-pixel offset, as a fraction of a pixel")
    p.add_argument("--out", help="PNG path (default: RUN_DIR/render-SIZE.png)")
    p.set_defaults(func=cmd_render)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except ZooError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
