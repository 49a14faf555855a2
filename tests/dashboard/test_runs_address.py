"""The runs page opened from its address keeps the page the address names."""
from __future__ import annotations


def _table(node, table_id: str):  # noqa: ANN001
    if getattr(node, "id", None) == table_id:
        return node
    children = getattr(node, "children", None)
    for child in children if isinstance(children, list) else [children] if children is not None else []:
        found = _table(child, table_id)
        if found is not None:
            return found
    return None


def test_a_page_from_the_address_is_not_past_the_tables_first_page_count():
    """dash_table goes back to page 0 when page_current ≥ page_count; a table drawn before the
    first answer (a loaded box) did so for ?page=1 while page_count started at 1."""
    from dashboard.pages.runs import layout

    for page in (0, 1, 7):
        table = _table(layout(page=str(page), sort="-id"), "runs-table")
        assert table.page_current == page and table.page_count > table.page_current
