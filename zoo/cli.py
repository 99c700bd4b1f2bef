"""The ``zoo`` command: list | info | plugins | new-plugin | train | resume | eval | sample | interpolate | render.

Listing commands print rich tables for people and ``--json`` for scripts. Text that comes from plugins
(summaries, docs, papers, errors) or from users (paths) is escaped: rich must not read ``[log p]`` as markup.

Exit status: 0 when the command did its job; 2 with one clear message for the errors the zoo knows about
(unknown names, bad recipes or settings, missing data, files that can't be written); 128 + N when training
was stopped by signal N (after saving a checkpoint): 130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP, as a
shell reports a command stopped by that signal.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import textwrap
import warnings
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from zoo.errors import TrainingAborted, TrainingInterrupted, ZooError, ZooWarning
from zoo.interfaces import KINDS

console = Console()
err_console = Console(stderr=True)

# From this width `zoo list` adds the paper and plugin columns and the summary still gets about as many
# columns as at 80 without them; below it, one line per entry: name and summary, cut with an ellipsis.
LIST_WIDE = 160
INTERRUPTED = 130  # 128 + SIGINT: what a shell reports for a command stopped by Ctrl-C


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
        console.print(f"no components match kind={args.kind or 'any'} pattern={args.pattern!r}", markup=False)
        return
    by_kind: dict[str, list] = {}
    for entry in entries:
        by_kind.setdefault(entry.kind, []).append(entry)
    long = args.long or console.width >= LIST_WIDE
    for i, (kind, group) in enumerate(by_kind.items()):
        # no borders: a table's frame costs 4 columns and 4 lines per kind, and rich would wrap the summary
        table = Table(title=f"{kind} ({len(group)})", title_justify="left", title_style="bold", box=None,
                      show_header=long, header_style="dim", pad_edge=False)
        widths = {"name": max(len(e.name) for e in group), "paper": 40, "plugin": max(len(e.plugin) for e in group)}
        shown = ("name", "paper", "plugin") if long else ("name",)
        rest = console.width - sum(widths[c] + 2 for c in shown)  # 2: the gap between two columns
        table.add_column("name", style="cyan", no_wrap=True, min_width=widths["name"])
        # one line per entry, cut with an ellipsis (rich would crop a no_wrap column without one); with
        # --long on a narrow terminal the summary and paper wrap instead
        table.add_column("summary", no_wrap=not args.long, overflow="ellipsis",
                         max_width=None if args.long else max(rest, 10))
        if long:
            table.add_column("paper", style="dim", no_wrap=not args.long, overflow="ellipsis",
                             max_width=widths["paper"])
            table.add_column("plugin", style="green", no_wrap=True)
        for e in group:
            row = (e.name, e.summary, e.paper or "", e.plugin) if long else (e.name, e.summary)
            table.add_row(*map(escape, row))
        if i:
            console.print()
        console.print(table)
    broken = [p for p in _registry().plugins if p.status != "ok"]
    for p in broken:
        problem = escape(f"plugin {p.name!r} is broken and was skipped: {p.error}")
        err_console.print(f"[yellow]{problem}[/] (zoo plugins --all)", soft_wrap=True)


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


def _contract_info(kind: str) -> dict:
    """What every component of ``kind`` must do: its interface's docstring, abstract methods and sizes."""
    import inspect

    from zoo.interfaces import SIZES

    interface = KINDS[kind]
    methods = []
    for name in vars(interface):  # in the order the interface defines them
        if name in interface.__abstractmethods__:
            method = getattr(interface, name)
            sig = inspect.signature(method)  # shown without annotations: the docstring gives the shapes
            params = [p.replace(annotation=p.empty) for p in sig.parameters.values() if p.name != "self"]
            call = f"{name}{sig.replace(parameters=params, return_annotation=sig.empty)}"
            methods.append({"name": name, "call": call, "doc": inspect.getdoc(method) or ""})
    return {"kind": "interface", "name": kind, "interface": f"zoo.interfaces.{interface.__name__}",
            "doc": inspect.getdoc(interface) or "", "methods": methods, "sizes": list(SIZES.get(kind, ())),
            "components": [e.name for e in _registry().list(kind)]}


def _print_contract(info: dict) -> None:
    kind = info["name"]
    console.rule(f"[bold]the {escape(kind)} contract: [cyan]{escape(info['interface'])}")
    console.print(info["doc"], markup=False, soft_wrap=True)  # the docstring's own lines
    for method in info["methods"]:
        console.print(f"\n[bold]{escape(method['call'])}[/]")
        console.print(textwrap.indent(method["doc"], "    "), markup=False, soft_wrap=True)
    if info["sizes"]:
        console.print(f"\n[dim]sizes a slot dictates:[/] {escape(', '.join(info['sizes']))} (a recipe that swaps a "
                      f"{escape(kind)} in keeps them; the rest of its arguments start from its defaults)")
    console.print(f"[dim]{len(info['components'])} registered:[/] zoo list --kind {escape(kind)}")


def cmd_info(args: argparse.Namespace) -> None:
    registry = _registry()
    entries = [registry.get(args.kind, args.name)] if args.kind else registry.find(args.name)
    # a kind's name (`zoo info field`) prints the contract of its interface, before any component of that name
    contract = [] if args.kind or KINDS.get(args.name) is None else [_contract_info(args.name)]
    if not entries and not contract:
        from zoo.registry import did_you_mean

        hint = did_you_mean(args.name, registry.names())
        raise ZooError(f"nothing is registered as {args.name!r}{hint}; see: zoo list")
    infos = contract + [_component_info(e) for e in entries]
    if args.json:
        _print_json(infos if len(infos) > 1 else infos[0])
        return
    import yaml

    for info in infos:
        if info["kind"] == "interface":
            _print_contract(info)
            continue
        console.rule(f"[bold]{escape(info['kind'])} [cyan]{escape(info['name'])}")
        console.print(info["summary"] or "", markup=False, soft_wrap=True)
        if info["paper"]:
            console.print(f"[dim]paper:[/] {escape(info['paper'])}")
        origin = f"{info['plugin']} ({info['distribution']} {info['version']})"
        console.print(f"[dim]plugin:[/] {escape(origin)}")
        if info["kind"] == "recipe":
            tree = {k: v for k, v in info["recipe"].items() if k not in ("summary", "paper")}  # printed above
            text = yaml.safe_dump(tree, sort_keys=False, default_flow_style=None, width=120).rstrip()
            console.print(text, markup=False, soft_wrap=True)
            continue
        table = Table("argument", "type", "default", title="arguments", title_justify="left")
        for arg in info["arguments"]:
            default = "[red]required[/]" if arg["required"] else escape(repr(arg["default"]))
            table.add_row(escape(arg["name"]), escape(arg["type"]), default)
        console.print(table)
        if info["fits"]:
            console.print(f"[dim]fits:[/] {escape(', '.join(info['fits']))}")
        if info["doc"]:
            console.print(f"\n{info['doc']}", markup=False, soft_wrap=True)  # the docstring's own lines


def cmd_plugins(args: argparse.Namespace) -> None:
    registry = _registry()
    plugins = [p for p in registry.plugins if args.all or not p.core]
    registered: dict[str, dict[str, list[str]]] = {p.name: {} for p in plugins}
    for entry in registry.list():  # what each plugin provides, by kind
        registered.get(entry.plugin, {}).setdefault(entry.kind, []).append(entry.name)
    if args.json:
        _print_json([
            {"name": p.name, "module": p.module, "distribution": p.distribution, "version": p.version,
             "builtin": p.builtin, "hooks": p.hooks, "status": p.status, "error": p.error,
             "registered": registered[p.name]}
            for p in plugins
        ])
        return
    table = Table("name", "version", "distribution", "hooks", "registered", "status")
    for p in plugins:
        status = "[green]ok[/]" if p.status == "ok" else f"[red]broken[/]: {escape(str(p.error))}"
        kinds = registered[p.name].items()
        provides = ("\n".join(f"{kind}: {', '.join(names)}" for kind, names in kinds) if args.long
                    else ", ".join(f"{len(names)} {kind}" for kind, names in kinds))
        table.add_row(*map(escape, (p.name, p.version, p.distribution, ", ".join(p.hooks), provides)), status)
    console.print(table)


# ----------------------------------------------------------------------------------------------------
# train / resume / eval / sample / render


def cmd_new_plugin(args: argparse.Namespace) -> None:
    from zoo.scaffold import new_plugin

    root = new_plugin(args.name, kind=args.kind, parent=args.dir)
    console.print(f"wrote {root}/ (see its README.md); next: pip install -e {root} && pytest {root}")


def cmd_train(args: argparse.Namespace) -> None:
    from zoo import recipes, training

    recipe = recipes.load_recipe(args.recipe, config=args.config, overrides=args.set)
    out = Path(args.out) if args.out else Path("runs") / recipe["name"]
    training.train(recipe, out, steps=args.steps, device=args.device)


def cmd_resume(args: argparse.Namespace) -> None:
    from zoo import training

    training.resume(args.run_dir, steps=args.steps, device=args.device)


def cmd_eval(args: argparse.Namespace) -> None:
    from zoo import training

    metrics = training.evaluate(args.run_dir, iwae_samples=args.iwae_samples)
    if args.json:
        _print_json(metrics)
        return
    table = Table("metric", "value", title=f"eval: {escape(args.run_dir)}", title_justify="left")
    for name, value in metrics.items():
        table.add_row(escape(name), f"{value:.6g}" if isinstance(value, float) else escape(str(value)))
    console.print(table)


def cmd_sample(args: argparse.Namespace) -> None:
    from zoo import training

    path = training.sample(args.run_dir, args.n, args.out or Path(args.run_dir) / "samples.png", size=args.size,
                           temperature=args.temperature)
    console.print(f"wrote {path}", markup=False)


def cmd_interpolate(args: argparse.Namespace) -> None:
    from zoo import training

    path = training.interpolate(args.run_dir, args.pairs, args.steps, args.out, size=args.size, seed=args.seed)
    console.print(f"wrote {path}", markup=False)


def cmd_render(args: argparse.Namespace) -> None:
    from zoo import training

    path = training.render(args.run_dir, args.size, args.out, offset=args.offset, frames=args.frames)
    console.print(f"wrote {path}", markup=False)


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
    p.add_argument("--long", "-l", action="store_true",
                   help=f"add the paper and plugin columns and wrap instead of cutting (automatic from "
                        f"{LIST_WIDE} columns)")
    p.add_argument("--json", action="store_true", help="print JSON: one object per component")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("info", help="a component's or recipe's arguments, docs, paper and where it fits; "
                       "a kind's contract")
    p.add_argument("name", help="component or recipe name (see: zoo list), or a kind (field, encoder, ...) for the "
                                "contract its components keep")
    p.add_argument("--kind", "-k", help="disambiguate when a name is registered under several kinds")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("plugins", help="loaded plugins: name, version, distribution, hooks, registrations, status")
    p.add_argument("--all", action="store_true", help="include the core's own modules (zoo.*)")
    p.add_argument("--long", "-l", action="store_true", help="name what each plugin registered, not just counts")
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
    p.add_argument("--device", help="cpu, cuda, cuda:1, mps (default: auto; the run's device is not kept)")
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

    p = sub.add_parser("render", help="render a fitted image field at any resolution into a PNG, or a scene's "
                       "held-out views and an orbit around it (PNGs, GIFs, MP4, depth maps) into a folder")
    p.add_argument("run_dir", help=RUN_DIR_HELP)
    p.add_argument("--size", type=int, help="output resolution (longest side; default 1024 for an image, the "
                   "data's for a scene)")
    p.add_argument("--offset", type=float, default=0.0, help="sub-pixel offset of an image, as a fraction of a pixel")
    p.add_argument("--frames", type=int, default=40, help="views on the orbit around a scene")
    p.add_argument("--out", help="PNG path for an image (default: RUN_DIR/render-SIZE.png), folder for a scene "
                   "(default: RUN_DIR/render)")
    p.set_defaults(func=cmd_render)

    from zoo.scaffold import KINDS as PLUGIN_KINDS

    p = sub.add_parser("new-plugin", help="write a plugin package: one working component, its hook, a test, a README")
    p.add_argument("name", help="distribution name, e.g. zoo-gabor (the plugin and its component are then 'gabor')")
    p.add_argument("--kind", choices=PLUGIN_KINDS, default="field", help="the kind of the component (default: field)")
    p.add_argument("--dir", default=".", help="the folder to write the package into (default: the current one)")
    p.set_defaults(func=cmd_new_plugin)
    return parser


def _error(message: str) -> int:
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return 2


def _show_warning(message, category, filename, lineno, file=None, line=None, *, default):
    """The zoo's own warnings as one ``warning:`` line for a person; anything else as Python shows it."""
    if not issubclass(category, ZooWarning):
        return default(message, category, filename, lineno, file, line)
    err_console.print(f"[bold yellow]warning:[/] {escape(str(message))}", highlight=False, soft_wrap=True)


def main(argv: list[str] | None = None) -> int:
    """Run the ``zoo`` command; returns the exit status (0, 2 for a known error, 128 + N after signal N)."""
    args = build_parser().parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = functools.partial(_show_warning, default=warnings.showwarning)
            args.func(args)
    except TrainingInterrupted as stopped:  # the run's log has said where the checkpoint is
        return 128 + stopped.signal
    except ZooError as exc:
        return _error(str(exc))
    except OSError as exc:
        if exc.filename is None:  # not about a file the user named or the zoo writes: a bug, keep the traceback
            raise
        return _error(f"{exc.strerror}: {exc.filename}" + (f" -> {exc.filename2}" if exc.filename2 else ""))
    except TrainingAborted as aborted:  # a second signal while training stopped for the first
        err_console.print(str(aborted), highlight=False)
        return 128 + aborted.signal
    except KeyboardInterrupt:  # outside training
        err_console.print("interrupted", highlight=False)
        return INTERRUPTED
    return 0


if __name__ == "__main__":
    sys.exit(main())
