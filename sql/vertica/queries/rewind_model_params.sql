-- name: rewind_model_params
-- params: symbol, bar_seconds, after_ns
-- Deletes the model_params rows of a symbol recomputed from a session start on: every fit whose window ends after
-- the state it is rewound to (the fits before stay, with the fingerprint they were made with).
DELETE FROM model_params WHERE symbol = :symbol AND bar_seconds = :bar_seconds AND fit_end_ns > :after_ns;
