"""The interactive tools over the live streams: the Studio-style shell (explore), the %%flinksql
notebook magic (notebook), Flink's own SQL client (sql_client)."""
