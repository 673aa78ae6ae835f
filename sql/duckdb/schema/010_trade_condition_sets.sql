-- name: trade_condition_sets
-- The rules of every distinct non-empty conditions string stored in market_data, as sql/conditions.py decides
-- them (condition_sets_table): the view eligible_trades joins this small table instead of splitting each
-- print's string and searching the rule lists per row, which cost ~5 us a print (a day of one busy symbol took
-- seconds). The writer adds a batch's new strings in the transaction that stores the batch
-- (add_trade_condition_sets) and decides every row again at its open, after reloading trade_conditions; an
-- open that finds the lookup empty lists the strings market_data holds first (list_stored_condition_sets: files
-- made before this table, bulk loads around the storage API). A string missing here is still answered by the
-- view, the slow way.
CREATE TABLE IF NOT EXISTS trade_condition_sets (
    conditions       VARCHAR PRIMARY KEY,   -- as in market_data.conditions, e.g. '12,37'; once each: the view joins on it
    updates_last     BOOLEAN,               -- every listed id may set the last sale; NULL until decided
    updates_high_low BOOLEAN,
    updates_volume   BOOLEAN
);
