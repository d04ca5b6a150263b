"""Griffe extension: the docstrings' Sphinx roles as links of the API reference.

The docstrings cross-reference with Sphinx roles (``:func:`rollout```,
``:class:`~rmft_jax.config.TrainConfig```, ``:mod:`.setting```). mkdocstrings does not
read roles, so this extension rewrites each one, before rendering, into an autorefs
link (``[`rollout`][rmft_jax.rollout.rollout]``) when its target is an object that the
API pages render (public, documented, in a module the pages show), and into plain
code otherwise. A link it makes that does not resolve fails ``mkdocs build --strict``.
"""

from __future__ import annotations

import re
from pathlib import Path

import griffe

_ROLE = re.compile(r":(?:func|class|meth|mod|attr|data|obj|exc|const):`(~?)([^`<>]+)`")


class SphinxRoles(griffe.Extension):
    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs) -> None:
        if pkg.name != "rmft_jax":
            return
        for obj in _walk(pkg):
            if obj.docstring is not None:
                obj.docstring.value = _ROLE.sub(lambda m: _link(obj, m.group(1), m.group(2), loader), obj.docstring.value)


def _walk(obj):
    yield obj
    for member in obj.members.values():
        if not member.is_alias:
            yield from _walk(member)


def _link(obj, tilde: str, name: str, loader) -> str:
    name = name.strip()
    shown = name.rsplit(".", 1)[-1] if tilde else name.lstrip(".")
    target = _find(obj, name, loader)
    if target is None or not _rendered(target):
        return f"`{shown}`"
    return f"[`{shown}`][{target.path}]"


def _find(obj, name: str, loader):
    module = obj if obj.is_module else obj.module
    if name.startswith("."):  # relative to the package (of a module: its own package)
        base = module if module.is_package else module.parent
        dots = len(name) - len(name.lstrip("."))
        for _ in range(dots - 1):
            base = base.parent
        path = f"{base.path}.{name.lstrip('.')}"
    elif name.startswith("rmft_jax"):
        path = name
    else:
        head, _, rest = name.partition(".")
        scope = obj
        while scope is not None and head not in scope.members:
            scope = scope.parent
        if scope is None:
            return None
        path = f"{scope.members[head].path}" + (f".{rest}" if rest else "")
    try:  # a name that leaves the package (jax, optax) is not ours to link
        target = loader.modules_collection.get_member(path)
        while target.is_alias:
            target = target.final_target
    except (KeyError, ValueError, AttributeError, griffe.AliasResolutionError, griffe.CyclicAliasError):
        return None
    return target


def _rendered(target) -> bool:
    """Whether the API pages give ``target`` a heading (the options in mkdocs.yml)."""
    if not target.path.startswith("rmft_jax.") and target.path != "rmft_jax":
        return False
    if any(part.startswith("_") for part in target.path.split(".")):
        return False
    if target.is_module:
        return target.path in RENDERED_MODULES
    obj = target
    while not obj.is_module:  # a member is shown only if it and every class around it have a docstring
        if not obj.docstring:
            return False
        obj = obj.parent
    return obj.path in RENDERED_MODULES


# The modules the API pages render (the ``::: module`` lines of docs/api/*.md).
RENDERED_MODULES = {
    m.group(1)
    for page in (Path(__file__).parent / "api").glob("*.md")
    for m in re.finditer(r"^::: (\S+)", page.read_text(), re.M)
}
