"""What identifies a configured method: the config its cell key hashes and the label its report row shows.

These are the harness's functions over a method class and a recorded config, driven by the tags a
method declares (`operational_parameters`, `key_neutral_defaults`, `always_labelled`, `presets`), so a
plugin writes none of this logic. Every committed cell key and row label depends on these rules: a
change here that moves one is a change of every stored result's identity (`bench check` would say so).
"""

from __future__ import annotations

from typing import Any

from bench.run.registry import Method


def without_neutral_defaults(cls: type[Method], config: dict[str, Any]) -> dict[str, Any]:
    """`config` less the parameters that hold their `key_neutral_defaults` value: a parameter added
    after results were recorded keeps those results' keys while it holds the value they ran with."""
    neutral = cls.key_neutral_defaults
    return {k: v for k, v in config.items() if not (k in neutral and v == neutral[k])}


def key_config(method: Method) -> dict[str, Any]:
    """The configuration that determines the result, what a cell key hashes: the method's config less
    operational parameters and key-neutral values."""
    cls = type(method)
    return {k: v for k, v in without_neutral_defaults(cls, method.config()).items()
            if k not in cls.operational_parameters}


def label_config(cls: type[Method], config: dict[str, Any]) -> dict[str, Any]:
    """What a report row names of a recorded `config`: first the `always_labelled` parameters (one
    missing from an older record at its key-neutral value), then, sorted, every other parameter that
    departs from its baseline: the value its `preset` implies where the class's `presets` say so, else
    its default (operational and key-neutral values never shown). Configurations with different results
    keep different labels."""
    defaults = {n: p.default for n, p in cls.parameters().items()}
    neutral, implied = cls.key_neutral_defaults, cls.presets.get(config.get("preset"), {})
    kept = without_neutral_defaults(cls, config)
    shown = {k: config.get(k, neutral.get(k)) for k in cls.always_labelled if k in config or k in neutral}
    for k, v in sorted(config.items()):
        if k in shown or k in cls.operational_parameters:
            continue
        if k in implied:
            departs = v != implied[k]
        else:
            departs = k in kept and (k not in defaults or v != defaults[k])
        if departs:
            shown[k] = v
    return shown


def spelled(name: str, settings: dict[str, Any]) -> str:
    """`name`, or `name[k=v, ...]`: how rows, short labels and `--feature` spell a configuration."""
    return f"{name}[{', '.join(f'{k}={v}' for k, v in settings.items())}]" if settings else name


def row_label(cls: type[Method], config: dict[str, Any]) -> str:
    """`name`, or `name[k=v, ...]` with what `label_config` names."""
    return spelled(cls.name, label_config(cls, config))
