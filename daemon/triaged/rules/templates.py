"""Alert templates: rule ``labels:`` and ``annotations:`` in Prometheus' language, Go's
text/template, so existing rule files load unchanged and render the same text.

The dot is Prometheus' alert data (``.Labels``, ``.Value``, ``.ExternalLabels``,
``.ExternalURL``) and, as Prometheus prepends ``{{$labels := .Labels}}`` and friends,
``$labels``, ``$value``, ``$externalLabels`` and ``$externalURL`` are defined. Maps use
``missingkey=zero`` as in Prometheus: a missing label is ``""``.

Loading (:func:`check_template`) only parses, as Prometheus does: syntax errors,
unknown functions, undefined variables and calls with an impossible argument count are
reported then. Rendering (:func:`render`) never raises: like Prometheus, a failure
becomes ``<error expanding template: …>`` in the text and the rest of the alert
stands.

This module is the public face; the work is done by the ``template_*`` modules:

- :mod:`template_lex` tokens and :class:`TemplateError`; :mod:`template_tree` the
  parse tree; :mod:`template_parse` the parser;
- :mod:`template_exec` the evaluator;
- :mod:`template_values` values, Go type names and ``%v``; :mod:`template_printf`
  Go's ``fmt``;
- :mod:`template_funcs` the function table: Go's built-ins (:mod:`template_builtins`)
  and Prometheus' functions, with ``humanize*`` in :mod:`template_humanize`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field

from triaged.rules.template_exec import execute
from triaged.rules.template_funcs import ARITY
from triaged.rules.template_lex import TemplateError
from triaged.rules.template_parse import parse
from triaged.rules.template_tree import Tree
from triaged.rules.template_values import Env, Record, TemplateQuery

__all__ = ["TemplateData", "TemplateError", "TemplateQuery", "check_template", "expand", "render"]

_PREDEFINED = ("$labels", "$externalLabels", "$externalURL", "$value")
_DOT_TYPE = (
    "struct { Labels map[string]string; ExternalLabels map[string]string; "
    "ExternalURL string; Value interface {} }"
)


@dataclass(frozen=True)
class TemplateData:
    """What an alert template sees: Prometheus' AlertTemplateData. Without ``query``,
    calling the ``query`` function is a render-time error."""

    labels: Mapping[str, str]
    value: float
    external_labels: Mapping[str, str] = field(default_factory=dict)
    external_url: str = ""
    query: TemplateQuery | None = None


def render(template: str, data: TemplateData) -> str:
    """Expand ``template``; a failure is rendered as Prometheus does, into the text."""
    try:
        return expand(template, data)
    except TemplateError as exc:
        return f"<error expanding template: {exc}>"
    except Exception as exc:  # a template corner the evaluator mishandles: never the rule's fault
        return f"<error expanding template: {type(exc).__name__}: {exc}>"


def expand(template: str, data: TemplateData) -> str:
    """Expand ``template``. Raises :class:`TemplateError`."""
    if "{{" not in template:
        return template
    tree = _parsed(template)
    labels, external = dict(data.labels), dict(data.external_labels)
    value = float(data.value)
    fields = {"Labels": labels, "ExternalLabels": external, "ExternalURL": data.external_url, "Value": value}
    predefined = zip(_PREDEFINED, (labels, external, data.external_url, value), strict=True)
    return execute(tree, Env(data.external_url, data.query), Record(_DOT_TYPE, fields), list(predefined))


def check_template(template: str) -> None:
    """Parse ``template`` as Prometheus does when it loads a rule file, without data.
    Raises :class:`TemplateError`."""
    _parsed(template)


@functools.lru_cache(maxsize=4096)
def _parsed(template: str) -> Tree:
    return parse(template, ARITY, _PREDEFINED)
