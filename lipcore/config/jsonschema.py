"""The experiment config as a JSON Schema, generated from the `Field`s that validate it.

`config_json_schema()` states what `validate` admits, key by key: types, bounds, defaults, help
texts, the registered names (layers, models, datasets, metrics, callbacks, stoppers, probes) as
enums with a description per name, each probe's parameters, and the rules across keys that
`check_combinations` and `resolve_side` enforce (conv models need image data, token models and
the `text` set go together, online data needs a batch size, comparative configs). The server
publishes it (OpenAPI `ExperimentConfig`, `GET /api/v1/schema/config.json`) and `liplab schema`
writes it, so an editor completes and checks a config YAML. Torch-free.
"""
from __future__ import annotations

from typing import Any

from lipcore import catalog, catalog_help
from lipcore.config.data import IMAGE_DATASETS, ONLINE_DATASETS
from lipcore.config.fields import Field
from lipcore.config.probes import PROBE_PARAMS
from lipcore.config.schema import LOCKSTEP_KEYS, SCHEMA, SIDE_SECTIONS, TOP

DRAFT = "http://json-schema.org/draft-07/schema#"
_JSON_TYPES = {int: "integer", float: "number", bool: "boolean", str: "string", list: "array",
               dict: "object"}
# A float field holds a finite double; JSON numbers past these are rejected as not finite.
_DOUBLE_MAX = 1.7976931348623157e308
#: catalog list → its descriptions; the names come from the catalog, the words from catalog_help.
_HELP = {"LAYERS": catalog_help.LAYERS, "CONV_LAYERS": catalog_help.LAYERS,
         "MODELS": catalog_help.MODELS, "DATASETS": catalog_help.DATASETS,
         "METRICS": catalog_help.METRICS, "COMPARATIVE_METRICS": catalog_help.METRICS,
         "CALLBACKS": catalog_help.CALLBACKS, "STOPPERS": catalog_help.STOPPERS,
         "PROBES": catalog_help.PROBES}
# List fields whose items are registered names (checked by `check_plugins`).
_NAME_LISTS = {"metrics": ("METRICS", "COMPARATIVE_METRICS"), "measurements": ("MEASUREMENTS",)}
_PLUGIN_LISTS = {"callbacks": "CALLBACKS", "stoppers": "STOPPERS"}


def names(*lists: str) -> dict[str, Any]:
    """An enum of the names in catalog lists, each with its description where one is known."""
    helps: dict[str, str] = {}
    for lst in lists:
        helps.update(_HELP.get(lst, {}))
    return enum_of([n for lst in lists for n in getattr(catalog, lst)], helps)


def enum_of(values: list[str], helps: dict[str, str]) -> dict[str, Any]:
    """A string enum with a description per name (`enumDescriptions`, read by editors)."""
    out: dict[str, Any] = {"type": "string", "enum": values}
    if any(n in helps for n in values):
        out["enumDescriptions"] = [helps.get(n, "") for n in values]
        out["description"] = "\n".join(f"- `{n}`: {helps[n]}" for n in values if n in helps)
    return out


def _type_schema(field: Field, key: str) -> dict[str, Any]:
    if field.schema is not None:
        return dict(field.schema)
    if field.check is not None:
        raise ValueError(f"{key}: a Field with a check needs `schema` (what the check admits)")
    if isinstance(field.choices, str):
        return names(field.choices)
    if callable(field.choices):
        return enum_of(field.allowed(), {k: v for h in _HELP.values() for k, v in h.items()})
    out: dict[str, Any] = {"type": _JSON_TYPES[field.type]} if field.type in _JSON_TYPES else {}
    if isinstance(field.choices, list):
        out["enum"] = list(field.choices)
    if field.type in (int, float):
        if field.min is not None:
            out["exclusiveMinimum" if field.exclusive_min else "minimum"] = field.min
        if field.max is not None:
            out["maximum"] = field.max
    if field.type is float:
        out.setdefault("minimum", -_DOUBLE_MAX)
        out.setdefault("maximum", _DOUBLE_MAX)
        if "exclusiveMinimum" in out:
            del out["minimum"]
    return out


def field_schema(field: Field, key: str) -> dict[str, Any]:
    """The JSON Schema of one config key (nullable keys also admit null)."""
    out = _type_schema(field, key)
    if field.nullable:
        if "type" in out and "enum" not in out:
            out["type"] = [out["type"], "null"]
        elif "enum" in out:
            out["enum"] = out["enum"] + [None]
            out["type"] = [out["type"], "null"]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    if field.help:
        out["description"] = field.help + (f"\n\n{out['description']}" if "description" in out else "")
    if field.default is not None or field.nullable:
        out["default"] = field.default
    return out


def _plugin_items(lst: str) -> dict[str, Any]:
    name = names(lst)
    return {"anyOf": [name, {"type": "object", "required": ["name"], "properties": {
        "name": name, "params": {"description": "keyword arguments of the factory"}}}]}


def section_schema(section: str, *, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    props = {}
    for key, field in SCHEMA[section].items():
        if key in exclude:
            continue
        s = field_schema(field, f"{section}.{key}")
        if key in _PLUGIN_LISTS and section == "training":
            s["items"] = _plugin_items(_PLUGIN_LISTS[key])
        if key in _NAME_LISTS and section == "training":
            s["items"] = names(*_NAME_LISTS[key])
        props[key] = s
    return {"type": ["object", "null"], "additionalProperties": False, "properties": props}


def probe_schema(name: str) -> dict[str, Any]:
    props: dict[str, Any] = {"name": {"const": name, "description": catalog_help.PROBES.get(name, "")},
                             "label": {"description": "a label for this probe's result"}}
    props.update({k: field_schema(f, f"probes.{name}.{k}") for k, f in PROBE_PARAMS[name].items()})
    return {"type": "object", "required": ["name"], "additionalProperties": False,
            "properties": props, "description": catalog_help.PROBES.get(name, "")}


def _obj(props: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    """An object schema with `props`; `required` keys must be present."""
    out: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        out["required"] = list(required)
    return out


def _has(section: str, key: str, value_schema: dict[str, Any]) -> dict[str, Any]:
    """`section.key` is set and matches `value_schema` (for an `if`)."""
    return _obj({section: _obj({key: value_schema}, (key,))}, (section,))


def _image_data() -> dict[str, Any]:
    """`data` is image data: an image set not flattened, or digits as images."""
    return {"anyOf": [
        _obj({"data": _obj({"name": {"enum": list(IMAGE_DATASETS)}, "flatten": {"const": False}},
                           ("name",))}, ("data",)),
        _obj({"data": _obj({"name": {"const": "digits"}, "image": {"const": True}},
                           ("name", "image"))}, ("data",))]}


def combination_rules() -> list[dict[str, Any]]:
    """The rules across keys, as `if`/`then` pairs (`check_combinations`, `resolve_side`)."""
    image, token = list(catalog.IMAGE_MODELS), list(catalog.TOKEN_MODELS)
    sides = ("model", "model_a", "model_b")
    rules: list[dict[str, Any]] = [{
        "if": _has("data", "online", {"const": True}),
        "then": {"properties": {
            "data": {"properties": {"name": {"enum": list(ONLINE_DATASETS)}}},
            "training": {"properties": {"batch_size": {"type": "integer"}}},
            "shared": {"properties": {"training": {"properties": {"batch_size": {"type": "integer"}}}}}}},
    }]
    for side in sides:
        rules.append({"if": _has(side, "name", {"enum": image}), "then": _image_data()})
        rules.append({"if": _has(side, "name", {"enum": token}),
                      "then": _has("data", "name", {"const": "text"})})
    rules.append({"if": _has("data", "name", {"const": "text"}),
                  "then": {"required": ["model"], "properties": {
                      s: {"properties": {"name": {"enum": token}}} for s in sides}}})
    comparative = {"anyOf": [_obj({s: {"type": "object"}}, (s,)) for s in ("model_a", "model_b")]}
    rules.append({"if": comparative,
                  "then": {"properties": {"training": {"properties": {"mode": {"const": "entire"}}}}}})
    rules.append({"if": _obj({"shared": {"type": "object"}}, ("shared",)), "then": comparative})
    return rules


def side_schema(label: str) -> dict[str, Any]:
    """model_a / model_b: model keys, plus `training` and `flossing` mappings of this side."""
    props = {k: field_schema(f, f"{label}.{k}") for k, f in SCHEMA["model"].items()}
    for section in SIDE_SECTIONS:
        props[section] = section_schema(section, exclude=LOCKSTEP_KEYS if section == "training" else ())
        props[section]["type"] = "object"
    return {"type": ["object", "null"], "additionalProperties": False, "properties": props,
            "default": None, "description": TOP[label].help}


def config_json_schema() -> dict[str, Any]:
    """The whole config schema (JSON Schema draft-07, also valid OpenAPI 3.1)."""
    props: dict[str, Any] = {"name": field_schema(TOP["name"], "name")}
    props.update({section: section_schema(section) for section in SCHEMA})
    probes = field_schema(TOP["probes"], "probes")
    probes["items"] = {"anyOf": [probe_schema(n) for n in catalog.PROBES]}
    props["probes"] = probes
    shared = {s: dict(section_schema(s, exclude=("name",) if s == "model" else ()), type="object")
              for s in SIDE_SECTIONS + ("model",)}
    props["shared"] = {"type": ["object", "null"], "additionalProperties": False, "properties": shared,
                       "default": None, "description": TOP["shared"].help}
    props["model_a"], props["model_b"] = side_schema("model_a"), side_schema("model_b")
    return {"title": "ExperimentConfig", "type": "object", "additionalProperties": False,
            "description": "A liplab experiment: YAML or JSON, every key optional (defaults filled).",
            "properties": props, "allOf": combination_rules()}


def config_json_schema_document() -> dict[str, Any]:
    """The schema as a standalone file, for editors (with its `$schema` draft)."""
    return {"$schema": DRAFT, **config_json_schema()}
