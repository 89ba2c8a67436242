"""GraphiQL's opening document (static/graphiql/example.graphql) is valid against the served
schema, and example.json gives every variable its operations require."""

from __future__ import annotations

import json

from graphql import NonNullTypeNode, OperationDefinitionNode, parse, validate

from schema.root import build_schema
from web.view import STATIC_DIR, graphiql_html

FOLDER = STATIC_DIR / "graphiql"


def test_example_document_is_valid_and_its_variables_are_given() -> None:
    document = parse((FOLDER / "example.graphql").read_text())
    assert validate(build_schema()._schema, document) == []
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    assert [(o.operation.value, o.name.value if o.name else None) for o in operations] == [
        ("query", "Sku"), ("mutation", "Reserve"), ("subscription", "StockEvents")]
    variables = json.loads((FOLDER / "example.json").read_text())
    required = {v.variable.name.value for o in operations for v in o.variable_definitions or ()
                if isinstance(v.type, NonNullTypeNode) and v.default_value is None}
    assert required <= set(variables)


def test_page_carries_the_example_instead_of_the_welcome_text() -> None:
    page = graphiql_html()
    assert "Welcome to GraphiQL" not in page and "__EXAMPLE_" not in page
    assert json.dumps((FOLDER / "example.graphql").read_text()) in page
