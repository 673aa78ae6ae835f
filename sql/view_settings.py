"""The settings the SQL views read from the table ``view_settings`` (a view cannot take parameters).

The writer of a database stores them at every open (``apply_schema``), from its :class:`sql.settings.Settings`;
the views and the page queries that restate them read the table, so DuckDB, Vertica and the kernels in
:mod:`udx` decide with the same numbers.
"""

from __future__ import annotations

from sql.settings import Settings

__all__ = ["DEFAULT_VIEW_SETTINGS", "view_setting_rows"]


def view_setting_rows(settings: Settings) -> dict[str, int]:
    """The rows of ``view_settings`` for ``settings``: ``quote_stale_ns`` (``QUOTE_STALE_SECONDS`` in ns).

    Examples
    --------
    >>> view_setting_rows(Settings(quote_stale_seconds=1.5))
    {'quote_stale_ns': 1500000000}
    """
    return {"quote_stale_ns": round(settings.quote_stale_seconds * 1e9)}


#: The rows for the documented defaults (a storage opened without settings).
DEFAULT_VIEW_SETTINGS = {"quote_stale_ns": round(Settings.model_fields["quote_stale_seconds"].default * 1e9)}
