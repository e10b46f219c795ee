"""The Parquet catalog: imported and captured market data, partitioned by venue, instrument and
day, readable by ``volta backtest`` (``[backtest.data] catalog = ...``) and from a notebook::

    from backtest.catalog import open_catalog
    open_catalog("var/catalog").to_polars("trade", instrument="BTC-PERPETUAL")

See docs/data.md for the layout and every column.
"""

from backtest.catalog.reader import Catalog, CatalogFile, open_catalog
from backtest.catalog.tables import AUX, REPLAYED, SCHEMAS
from backtest.catalog.writer import CatalogError, CatalogWriter, write_events

__all__ = ["AUX", "REPLAYED", "SCHEMAS", "Catalog", "CatalogError", "CatalogFile",
           "CatalogWriter", "open_catalog", "write_events"]
