-- name: model_params
-- Fitted GARCH(1,1) and ACD(1,1) per symbol; one row per fit.
CREATE TABLE IF NOT EXISTS model_params (
    symbol         VARCHAR NOT NULL,
    model          VARCHAR NOT NULL,   -- garch11 | acd11
    bar_seconds    INTEGER NOT NULL,
    fit_start_ns   BIGINT  NOT NULL,
    fit_end_ns     BIGINT  NOT NULL,
    n_obs          BIGINT  NOT NULL,
    omega          DOUBLE,
    alpha          DOUBLE,
    beta           DOUBLE,
    loglik         DOUBLE,
    converged      BOOLEAN NOT NULL,
    scale          DOUBLE,
    fitted_at_ns   BIGINT  NOT NULL,
    fingerprint    VARCHAR,            -- JSON fingerprint of the definitions and settings (udx.pipeline);
                                       -- files made before it get it from migrations/003
    PRIMARY KEY (symbol, model, bar_seconds, fit_end_ns)
);
