"""A strict YAML loader for budget configs: no duplicate keys, no YAML 1.1 sexagesimal numbers.

Owns how config text becomes Python data. PyYAML's safe loader keeps the last of two equal
keys (a second ``org:`` block appended to a file silently replaced the first) and reads
``1:30`` as the integer 90; both are errors here, raised as ``yaml.constructor.ConstructorError``
with the line and column. Parsing stays in libyaml when it is available (every CLI start pays
it); only mapping and number construction, already Python code, gain a check.
It must not validate the config's schema (``config`` does) or read files.
"""

from __future__ import annotations

from typing import Any

_LOADER: Any = None
_MERGE_TAG = "tag:yaml.org,2002:merge"


def load_yaml(text: str) -> Any:
    """``text`` parsed safely and strictly; raises ``yaml.YAMLError`` (marked with the line when known)."""
    import yaml

    return yaml.load(text, Loader=_loader())  # a SafeLoader subclass: no arbitrary objects


def _loader() -> Any:
    global _LOADER
    if _LOADER is None:
        _LOADER = _build()
    return _LOADER


def _build() -> Any:
    import yaml
    from yaml.constructor import ConstructorError, SafeConstructor
    from yaml.nodes import MappingNode

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class StrictSafeLoader(base):  # type: ignore[misc, valid-type]
        """SafeLoader (libyaml when present) that rejects duplicate keys and sexagesimal numbers."""

        def construct_mapping(self, node: Any, deep: bool = False) -> dict:
            if isinstance(node, MappingNode):
                first_line: dict[Any, int] = {}
                for key_node, _ in node.value:
                    if key_node.tag == _MERGE_TAG:
                        continue  # `<<: *anchor` may legitimately repeat keys it merges
                    key = self.construct_object(key_node, deep=True)
                    try:
                        seen = first_line.get(key)
                    except TypeError:
                        continue  # an unhashable key: the base class reports it
                    if seen is not None:
                        raise ConstructorError(
                            None,
                            None,
                            f"duplicate key {key!r} (first at line {seen})",
                            key_node.start_mark,
                        )
                    first_line[key] = key_node.start_mark.line + 1
            return super().construct_mapping(node, deep=deep)

    def no_sexagesimal(constructor: Any, node: Any, build: Any) -> Any:
        value = constructor.construct_scalar(node)
        if ":" in value:
            raise ConstructorError(
                None,
                None,
                f"{value!r} is a YAML 1.1 base-60 number (read as {build(constructor, node)!r}); "
                "quote it if it is text",
                node.start_mark,
            )
        return build(constructor, node)

    StrictSafeLoader.add_constructor(
        "tag:yaml.org,2002:int", lambda c, n: no_sexagesimal(c, n, SafeConstructor.construct_yaml_int)
    )
    StrictSafeLoader.add_constructor(
        "tag:yaml.org,2002:float", lambda c, n: no_sexagesimal(c, n, SafeConstructor.construct_yaml_float)
    )
    return StrictSafeLoader
