-- name: model_params
-- Fitted GARCH(1,1) and ACD(1,1) per symbol; one row per fit. Small: one unpartitioned projection.
CREATE TABLE IF NOT EXISTS model_params (
    symbol         VARCHAR(32) NOT NULL,
    model          VARCHAR(16) NOT NULL,   -- garch11 | acd11
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
    fingerprint    VARCHAR(2048),          -- definitions and settings of the fit; migrations/001 on older tables
    CONSTRAINT model_params_key PRIMARY KEY (symbol, model, bar_seconds, fit_end_ns) DISABLED
)
ORDER BY symbol, model, bar_seconds, fit_end_ns
SEGMENTED BY HASH(symbol) ALL NODES;
