-- name: bar_liquidity_vpin_lee_ready
-- returns: nothing; what a reader runs instead of migrations/005_bar_liquidity_vpin_lee_ready.sql on a file older
-- code wrote (it cannot migrate): the file's bar_liquidity stands in as a temporary view with vpin_lee_ready NULL,
-- so the newest views and queries run. The table is named through its catalog (query_table) because a temporary
-- object comes first in the search path: "main.bar_liquidity" would name this view itself.
CREATE OR REPLACE TEMP VIEW bar_liquidity AS
SELECT *, CAST(NULL AS DOUBLE) AS vpin_lee_ready
FROM query_table(current_database() || '.main.bar_liquidity');
