-- name: model_params_stage
-- Session-local landing table of the fits of one signals commit (see market_data_stage); upsert_model_params
-- merges it into model_params.
CREATE LOCAL TEMPORARY TABLE IF NOT EXISTS model_params_stage (
    symbol         VARCHAR(32) NOT NULL,
    model          VARCHAR(16) NOT NULL,
    bar_seconds    INTEGER     NOT NULL,
    fit_start_ns   INTEGER     NOT NULL,
    fit_end_ns     INTEGER     NOT NULL,
    n_obs          INTEGER     NOT NULL,
    omega          FLOAT,
    alpha          FLOAT,
    beta           FLOAT,
    loglik         FLOAT,
    converged      BOOLEAN     NOT NULL,
    scale          FLOAT,
    fitted_at_ns   INTEGER     NOT NULL,
    fingerprint    VARCHAR(2048)
) ON COMMIT DELETE ROWS;
