"""The ``zoo`` command: list | info | plugins | new-plugin | train | resume | eval | sample | interpolate | render |
export.

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
import re
import sys
import textwrap
import warnings
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from zoo.errors import TrainingAborted, TrainingInterrupted, ZooError, ZooWarning, did_you_mean

console = Console()
err_console = Console(stderr=True)

# From this width `zoo list` adds the paper and plugin columns and the summary still gets about as many
# columns as at 80 without them; below it, one line per entry: name and summary, cut with an ellipsis.
LIST_WIDE = 160
INTERRUPTED = 130  # 128 + SIGINT: what a shell reports for a command stopped by Ctrl-C


def _registry():
    from zoo.registry import get_registry

    return get_registry()


def _snapshot() -> dict:
    """What the listing commands show, as plain data (``zoo.catalogue``: computed once from the registry, then
    read from the cache until what is installed changes)."""
    from zoo.pretrained import available

    registry = _registry()
    entries = registry.list()
    shipped = available()
    return {
        "kinds": list(registry.kinds),
        "entries": [_entry_row(e, shipped) for e in entries],
        "plugins": [{"name": p.name, "module": p.module, "distribution": p.distribution, "version": p.version,
                     "builtin": p.builtin, "hooks": p.hooks, "status": p.status, "error": p.error, "core": p.core}
                    for p in registry.plugins],
        "kind_plugins": {k.name: k.plugin for k in registry.kinds.values()},
        "contracts": {kind: _contract_info(kind) for kind in registry.kinds},
        "infos": {f"{e.kind}:{e.name}": _component_info(e) for e in entries},
    }


def _catalogue() -> dict:
    """The snapshot: from the cache, unless this process holds a registry already (built, or one a test or a
    caller put in place with ``zoo.testing.use_registry``), which then is what is shown."""
    from zoo.catalogue import cached

    registry = sys.modules.get("zoo.registry")  # not imported yet: no registry in this process
    return _snapshot() if registry is not None and registry._registry is not None else cached(_snapshot)


def _entry_row(e, shipped: dict) -> dict:
    row = {"kind": e.kind, "name": e.name, "summary": e.summary, "paper": e.paper, "plugin": e.plugin,
           "distribution": e.distribution, "version": e.version}
    return row | {"pretrained": e.name in shipped} if e.kind == "recipe" else row


# what `zoo list` puts before the summary of a recipe whose weights ship (`zoo sample NAME` uses them; see --help)
PRETRAINED_MARK = "(weights)"


def _print_json(data) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


# reStructuredText's inline markup in docstrings, as a reader wants it: ``x`` and `x` as x, :role:`x` as x
_INLINE_MARKUP = [(re.compile(r":[\w:.-]+:`~?([^`]+)`"), r"\1"), (re.compile(r"``(.+?)``"), r"\1"),
                  (re.compile(r"(?<![\w`])`([^`]+)`(?![\w`])"), r"\1")]
_ITEM = re.compile(r"^(?:[-*+]|\d+[.)])\s+")  # a list item's marker
_FIELD = re.compile(r"^\*{0,2}\w+(?: \([^)]*\))?: ")  # "name: ..." under a heading such as "Args:"


def _plain(text: str) -> str:
    """Docstring text with its inline markup rendered as text."""
    for pattern, replacement in _INLINE_MARKUP:
        text = pattern.sub(replacement, text)
    return text


def _blocks(text: str) -> list[tuple[str, int, list[str]]]:
    """A docstring's blocks, ``(form, indent, lines)``: "paragraph", "item" (of a list, its continuation lines
    joined to it) or "literal" (indented deeper than the text around it: kept line for line)."""
    blocks: list[tuple[str, int, list[str]]] = []
    base = None  # the indentation of the text's paragraphs
    for line in text.splitlines():
        stripped, indent = line.strip(), len(line) - len(line.lstrip())
        if not stripped:
            blocks.append(("blank", 0, []))
            continue
        base = indent if base is None else base
        last = blocks[-1] if blocks else ("blank", 0, [])
        continues = bool(last[2]) and (indent == last[1] or (indent > last[1] and not last[2][-1].endswith(":")))
        if blocks and indent >= base + 4 and last[0] in ("blank", "literal"):
            if last[0] == "literal":
                last[2].append(line)
            else:
                blocks.append(("literal", indent, [line]))
        elif _ITEM.match(stripped) or (indent > base and _FIELD.match(stripped)):
            blocks.append(("item", indent, [stripped]))
        elif last[0] in ("paragraph", "item") and continues:
            last[2].append(stripped)
        else:
            blocks.append(("paragraph", indent, [stripped]))
    return blocks


def _prose(text: str, width: int) -> str:
    """Docstring (or summary) text for a terminal ``width`` columns wide: inline markup as text, each
    paragraph and list item reflowed and wrapped at spaces (no word is ever cut), literal blocks as written."""
    out: list[str] = []
    for form, indent, lines in _blocks(text):
        if form == "blank":
            if out and out[-1]:
                out.append("")
            continue
        if form == "literal":
            out.extend(_plain(line.rstrip()) for line in lines)
            continue
        words = _plain(" ".join(lines))
        words = words[:-1] if words.endswith("::") else words  # RST's "::" introduces a literal block
        marker = _ITEM.match(words) if form == "item" else None
        hang = len(marker.group(0)) if marker else 4 if form == "item" else 0  # "name: ..." items hang by 4
        out.append(textwrap.fill(words, width=max(width, 20), initial_indent=" " * indent,
                                 subsequent_indent=" " * (indent + hang), break_long_words=False,
                                 break_on_hyphens=False))
    return "\n".join(out).strip("\n")


def _print_prose(text: str, label: str = "", indent: int = 0) -> None:
    """Print docstring-like text wrapped to the console (80 columns in a pipe), after a dim ``label``."""
    wrapped = _prose(f"{label} {text}" if label else text, console.width - indent)
    wrapped = textwrap.indent(wrapped, " " * indent)
    if label:
        start = wrapped.index(label) + len(label)
        console.print(f"{wrapped[:start - len(label)]}[dim]{escape(label)}[/]{escape(wrapped[start:])}", soft_wrap=True,
                      highlight=False)
    else:
        console.print(wrapped, markup=False, soft_wrap=True, highlight=False)


def _summary_and_doc(summary: str, doc: str) -> tuple[str, str]:
    """What ``zoo info`` prints at the top and at the bottom: the summary (the docstring's whole first
    paragraph when the summary is its first line) and the rest of the docstring, the summary not repeated."""
    first, _, rest = doc.partition("\n\n")
    if summary and " ".join(first.split()).startswith(" ".join(summary.split())):
        return first, rest.strip("\n")
    return summary, doc


# ----------------------------------------------------------------------------------------------------
# list / info / plugins


def cmd_list(args: argparse.Namespace) -> None:
    from fnmatch import fnmatch
    from types import SimpleNamespace

    catalogue = _catalogue()
    if args.kind is not None and args.kind not in catalogue["kinds"]:
        _registry().list(args.kind)  # the registry's own error, with its did-you-mean
    entries = [SimpleNamespace(**row) for row in catalogue["entries"]
               if args.kind in (None, row["kind"]) and fnmatch(row["name"], args.pattern)]
    if args.json:
        _print_json([vars(e) for e in entries])
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
            summary = f"{PRETRAINED_MARK} {_plain(e.summary)}" if getattr(e, "pretrained", False) else _plain(e.summary)
            row = (e.name, summary, e.paper or "", e.plugin) if long else (e.name, summary)
            table.add_row(*map(escape, row))
        if i:
            console.print()
        console.print(table)
    broken = [p for p in catalogue["plugins"] if p["status"] != "ok"]
    for p in broken:
        problem = escape(f"plugin {p['name']!r} is broken and was skipped: {p['error']}")
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
    if entry.kind == "artifact":  # its options, and what runs it instead of the slots it fills
        params = {n: p for n, p in params.items() if n in entry.obj.options}
    info["arguments"] = [
        {
            "name": n,
            "type": describe_type(hints.get(n, p.annotation)),
            "default": None if p.default is p.empty else p.default,
            "shown": "" if p.default is p.empty else repr(p.default),
            "required": p.default is p.empty,
        }
        for n, p in params.items()
    ]
    documented = entry.obj.write if entry.kind == "artifact" else getattr(entry.obj, "func", entry.obj)
    info["doc"] = inspect.getdoc(documented) or ""
    info["fits"] = _drawn_by(entry.obj) if entry.kind == "artifact" else slots(entry)
    return info


def _drawn_by(artifact) -> list[str]:
    """``["zoo sample", "zoo train (after training)", "models that are a Sampler", "writes samples.png"]``."""
    runs = [f"zoo {artifact.command}"] if artifact.command else []
    runs += ["zoo train (after training)"] if artifact.after_training else []
    return [*runs, f"models that are a {artifact.applies_to.__name__}", f"writes {artifact.output}"]


def _contract_info(kind: str) -> dict:
    """What every component of ``kind`` must do: its interface's docstring, abstract methods and sizes (a kind
    without an interface, such as dataset: its summary)."""
    import inspect

    spec = _registry().kind(kind)
    interface = spec.interface
    methods = []
    for name in vars(interface) if interface is not None else ():  # in the order the interface defines them
        if name in interface.__abstractmethods__:
            method = getattr(interface, name)
            sig = inspect.signature(method)  # shown without annotations: the docstring gives the shapes
            params = [p.replace(annotation=p.empty) for p in sig.parameters.values() if p.name != "self"]
            call = f"{name}{sig.replace(parameters=params, return_annotation=sig.empty)}"
            methods.append({"name": name, "call": call, "doc": inspect.getdoc(method) or ""})
    return {"kind": "interface", "name": kind,
            "interface": None if interface is None else f"{interface.__module__}.{interface.__qualname__}",
            "summary": spec.summary, "doc": "" if interface is None else inspect.getdoc(interface) or "",
            "methods": methods, "sizes": list(spec.sizes), "plugin": spec.plugin,
            "components": [e.name for e in _registry().list(kind)]}


def _print_contract(info: dict) -> None:
    kind = info["name"]
    if info["interface"] is None:
        console.rule(f"[bold]the {escape(kind)} kind")
        _print_prose(info["summary"])
    else:
        console.rule(f"[bold]the {escape(kind)} contract: [cyan]{escape(info['interface'])}")
        _print_prose(info["doc"])
    for method in info["methods"]:
        console.print(f"\n[bold]{escape(method['call'])}[/]", soft_wrap=True)
        _print_prose(method["doc"], indent=4)
    if info["sizes"]:
        console.print()
        _print_prose(f"{', '.join(info['sizes'])} (a recipe that swaps a {kind} in keeps them and the parts both "
                     "take; the rest start from its defaults)", label="sizes a slot dictates:")
    _print_prose(f"zoo list --kind {kind}", label=f"{len(info['components'])} registered:")


def cmd_info(args: argparse.Namespace) -> None:
    catalogue = _catalogue()
    infos = [info for key, info in catalogue["infos"].items()
             if key.split(":", 1)[1] == args.name and args.kind in (None, info["kind"])]
    # a kind's name (`zoo info field`) prints the contract of its interface, before any component of that name
    contract = [] if args.kind or args.name not in catalogue["contracts"] else [catalogue["contracts"][args.name]]
    if args.kind and not infos:
        _registry().get(args.kind, args.name)  # the registry's own error, with its did-you-mean
    if not infos and not contract:
        names = sorted({row["name"] for row in catalogue["entries"]} | set(catalogue["kinds"]))
        raise ZooError(f"nothing is registered as {args.name!r}{did_you_mean(args.name, names)}; see: zoo list")
    infos = contract + infos
    if args.json:
        shown = [{**info, "arguments": [{k: v for k, v in a.items() if k != "shown"} for a in info["arguments"]]}
                 if "arguments" in info else info for info in infos]
        _print_json(shown if len(shown) > 1 else shown[0])
        return
    import yaml

    for info in infos:
        if info["kind"] == "interface":
            _print_contract(info)
            continue
        console.rule(f"[bold]{escape(info['kind'])} [cyan]{escape(info['name'])}")
        summary, doc = _summary_and_doc(info["summary"] or "", info.get("doc", ""))
        _print_prose(summary)
        if info["paper"]:
            _print_prose(info["paper"], label="paper:")
        _print_prose(f"{info['plugin']} ({info['distribution']} {info['version']})", label="plugin:")
        if info["kind"] == "recipe":
            tree = {k: v for k, v in info["recipe"].items() if k not in ("summary", "paper")}  # printed above
            text = yaml.safe_dump(tree, sort_keys=False, default_flow_style=None, width=console.width).rstrip()
            console.print(text, markup=False, soft_wrap=True)
            continue
        table = Table("argument", "type", "default", title="arguments", title_justify="left")
        for arg in info["arguments"]:
            default = "[red]required[/]" if arg["required"] else escape(arg["shown"])
            table.add_row(escape(arg["name"]), escape(arg["type"]), default)
        console.print(table)
        if info["fits"]:
            _print_prose(", ".join(info["fits"]), label="fits:")
        if doc:
            console.print()
            _print_prose(doc)


def cmd_plugins(args: argparse.Namespace) -> None:
    from types import SimpleNamespace

    catalogue = _catalogue()
    plugins = [SimpleNamespace(**p) for p in catalogue["plugins"] if args.all or not p["core"]]
    registered: dict[str, dict[str, list[str]]] = {p.name: {} for p in plugins}
    for kind, plugin in catalogue["kind_plugins"].items():  # what each plugin provides: kinds, then components
        registered.get(plugin, {}).setdefault("kind", []).append(kind)
    for entry in catalogue["entries"]:
        registered.get(entry["plugin"], {}).setdefault(entry["kind"], []).append(entry["name"])
    if args.json:
        _print_json([
            {"name": p.name, "module": p.module, "distribution": p.distribution, "version": p.version,
             "builtin": p.builtin, "hooks": p.hooks, "status": p.status, "error": p.error,
             "registered": registered[p.name]}
            for p in plugins
        ])
        return
    # no frame (it costs a line and 3 columns a column); what identifies a plugin is never cut, the rest wraps at
    # spaces: hooks without their common "register_", and a broken plugin's error on a line of its own
    rows = []
    for p in plugins:
        kinds = registered[p.name].items()
        provides = ("\n".join(f"{kind}: {', '.join(names)}" for kind, names in kinds) if args.long
                    else ", ".join(f"{len(names)} {kind}" for kind, names in kinds))
        hooks = ", ".join(hook.removeprefix("register_") for hook in p.hooks)
        rows.append((p.name, p.version, p.distribution, hooks, provides))
    table = Table(box=None, header_style="dim", pad_edge=False)
    for column in ("name", "version", "distribution"):
        table.add_column(column, no_wrap=True, style="cyan" if column == "name" else None)
    for index, column in ((3, "hooks"), (4, "registered")):  # wrap between names, never inside one
        longest = max((len(word) for row in rows for word in row[index].split()), default=0)
        table.add_column(column, min_width=max(longest, len(column)))
    table.add_column("status", no_wrap=True)
    for row, p in zip(rows, plugins):
        table.add_row(*map(escape, row), "[green]ok[/]" if p.status == "ok" else "[red]broken[/]")
    console.print(table)
    for p in plugins:
        if p.status != "ok":
            console.print()
            _print_prose(str(p.error), label=f"{p.name} is broken:")


# ----------------------------------------------------------------------------------------------------
# train / resume / eval / sample / interpolate / render


def cmd_new_plugin(args: argparse.Namespace) -> None:
    from zoo.scaffold import new_plugin

    root = new_plugin(args.name, kind=args.kind, parent=args.dir)
    console.print(f"wrote {root}/ (see its README.md); next: pip install -e {root} && pytest {root}",
                  markup=False, highlight=False, soft_wrap=True)  # paths unfolded, to be copied


def cmd_train(args: argparse.Namespace) -> None:
    from zoo import recipes, training

    recipe = recipes.load_recipe(args.recipe, config=args.config, overrides=args.set)
    out = Path(args.out) if args.out else Path("runs") / recipe["name"]
    training.train(recipe, out, steps=args.steps, device=args.device, init=args.init)


def _say_if_shipped(run_dir: str) -> None:
    """The one line that says a recipe's shipped weights stand where a run directory was expected."""
    from zoo import training

    weights = training.shipped(run_dir)
    if weights is not None:
        err_console.print(weights.note(), markup=False, highlight=False, soft_wrap=True)


def cmd_resume(args: argparse.Namespace) -> None:
    from zoo import training

    training.resume(args.run_dir, steps=args.steps, device=args.device)


def cmd_eval(args: argparse.Namespace) -> None:
    from zoo import training

    _say_if_shipped(args.run_dir)
    metrics = training.evaluate(args.run_dir, iwae_samples=args.iwae_samples, samples=args.samples,
                                features=args.features)
    if args.json:
        _print_json(metrics)
        return
    table = Table("metric", "value", title=f"eval: {escape(args.run_dir)}", title_justify="left")
    for name, value in metrics.items():
        table.add_row(escape(name), f"{value:.6g}" if isinstance(value, float) else escape(str(value)))
    console.print(table)


def _value(text: str):
    """An option's text as YAML reads it (``3``, ``0.8``, ``1e6``); text YAML can't read stays text."""
    import yaml

    from zoo import yaml12

    try:
        return yaml12.safe_load(text)
    except yaml.YAMLError:
        return text


def cmd_draw(args: argparse.Namespace) -> None:
    """``zoo sample | interpolate | render | export``: the artifact the command runs for the run's model, with the
    options given (each parsed as YAML and checked against the artifact's annotations)."""
    from zoo import training

    options = {name.removeprefix(OPTION): _value(text) for name, text in vars(args).items() if name.startswith(OPTION)}
    draw = {"sample": training.sample, "interpolate": training.interpolate, "render": training.render,
            "export": training.export}[args.command]
    _say_if_shipped(args.run_dir)
    path = draw(args.run_dir, out=args.out, **options)
    console.print(f"wrote {path}", markup=False, highlight=False, soft_wrap=True)


RUN_DIR_HELP = ("a run directory written by `zoo train`, or a recipe's name: the weights shipped for it (zoo list "
                "marks them)")
OPTION = "option_"  # the argparse destination of an artifact's option: option_temperature
DRAWING = {  # zoo.artifacts.COMMANDS, the commands that run an artifact: what they are for, where they write
    "sample": ("draw samples from a run's model into a PNG grid", "RUN_DIR/samples.png"),
    "interpolate": ("decode the lines between the codes of held-out pairs into a PNG grid",
                    "RUN_DIR/interpolations.png"),
    "render": ("render a fitted image field at any resolution into a PNG, or a scene's held-out views and an orbit "
               "around it (PNGs, GIFs, MP4, depth maps) into a folder", "RUN_DIR/render-SIZE.png, RUN_DIR/render/"),
    "export": ("mesh the surface of a run's scalar field (a signed distance, a density) into a PLY by marching cubes",
               "RUN_DIR/mesh.ply"),
}
OUT_FLAGS = {"export": ("--mesh",)}  # what a command's -o/--out is also spelled


def _metavar(annotation) -> str:
    """``INT`` for ``PositiveInt | None``, ``FLOAT`` for ``Annotated[float, Interval(...)]``: what an option takes."""
    import typing

    while typing.get_origin(annotation) is typing.Annotated or type(None) in typing.get_args(annotation):
        args = typing.get_args(annotation)
        annotation = args[0] if typing.get_origin(annotation) is typing.Annotated else next(
            a for a in args if a is not type(None))
    return getattr(annotation, "__name__", "VALUE").upper()


def _add_artifact_options(parser: argparse.ArgumentParser, command: str) -> None:
    """The options of every registered artifact of ``command`` (``-n``, ``--temperature``, ``--frames``, ...): the
    parser takes them all, and the artifact chosen for the run's model checks the ones given."""
    from zoo.artifacts import flag, option_help

    takers: dict[str, list] = {}  # option -> the entries of the artifacts that take it
    for entry in _registry().list("artifact"):
        if entry.obj.command == command:
            for name in entry.obj.options:
                takers.setdefault(name, []).append(entry)
    for name, entries in takers.items():
        first = entries[0].obj
        annotation, default = first.annotations[name], first.options[name].default
        told = "" if default is None else f"default {default}; "
        parser.add_argument(flag(name), dest=OPTION + name, default=argparse.SUPPRESS, metavar=_metavar(annotation),
                            help=f"{option_help(annotation)} ({told}{', '.join(e.name for e in entries)})")


def build_parser(drawing: str | None = None) -> argparse.ArgumentParser:
    """The ``zoo`` parser; with ``drawing`` (sample, interpolate or render), that command takes the options of the
    registered artifacts (read from the registry only then, so other commands don't load the plugins for it)."""
    parser = argparse.ArgumentParser(
        prog="zoo",
        description="genzoo: a plugin-based zoo of generative and implicit models.",
        epilog="Start with `zoo list`, then `zoo info NAME` and `zoo train RECIPE`.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("list", help="list registered components and recipes",
                       description=f"List registered components and recipes. A recipe marked {PRETRAINED_MARK} ships "
                                   "trained weights: `zoo sample|eval|render|interpolate NAME` uses them, `zoo train "
                                   "NAME --init pretrained` starts from them.")
    p.add_argument("pattern", nargs="?", default="*", help="fnmatch pattern on names, e.g. 'vae-*'")
    p.add_argument("--kind", "-k", help="only this kind (field, model, prior, ...: the headings of `zoo list`; "
                                        "`zoo info KIND` describes one)")
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
    p.add_argument("--init", choices=["pretrained"],
                   help="start from the weights shipped for the recipe (fine-tuning) instead of its initialisation")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("resume", help="continue a run from its last checkpoint")
    p.add_argument("run_dir", help=RUN_DIR_HELP)
    p.add_argument("--steps", type=int, help="new total number of steps")
    p.add_argument("--device", help="cpu, cuda, cuda:1, mps (default: auto; the run's device is not kept)")
    p.set_defaults(func=cmd_resume)

    p = sub.add_parser("eval", help="evaluate a run's model on the held-out split")
    p.add_argument("run_dir", help=RUN_DIR_HELP)
    p.add_argument("--iwae-samples", type=int, default=1000,
                   help="importance samples for the test NLL of models that estimate it (0: skip); a model "
                        "that computes its likelihood exactly (a flow) needs none")
    p.add_argument("--samples", type=int, default=0, metavar="N",
                   help="also the sample quality of N samples against the test split: FID, KID, precision/recall in "
                        "the feature space of a small network trained on the data's domain (not Inception's)")
    p.add_argument("--features", metavar="FILE",
                   help="measure sample quality in this network instead: safetensors whose metadata names a "
                        "registered component (zoo.quality.save_features writes one)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_eval)

    for command, (summary, out) in DRAWING.items():
        p = sub.add_parser(command, help=summary, description=f"{summary}. What it draws and its options come from "
                           f"the artifact registered for the run's model: zoo list --kind artifact")
        p.add_argument("run_dir", help=RUN_DIR_HELP)
        p.add_argument("-o", "--out", *OUT_FLAGS.get(command, ()), help=f"where to write (default: {out})")
        if drawing == command:
            _add_artifact_options(p, command)
        p.set_defaults(func=cmd_draw)

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
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv[0] if argv and argv[0] in DRAWING else None).parse_args(argv)
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
