"""The data model: table schemas, search-space codecs, Parquet store, DuckDB catalog."""
