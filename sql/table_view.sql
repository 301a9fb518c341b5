-- One view per warehouse table, over the Parquet files of its current version.
-- {name}, {glob} and {hive} are filled in by warehouse.catalog for each table of the manifest.
CREATE OR REPLACE VIEW {name} AS
SELECT * FROM read_parquet({glob}, hive_partitioning = {hive}, union_by_name = true);
