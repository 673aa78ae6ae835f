-- name: upsert_model_params
-- returns: the number of rows written; a refit with the same window end replaces the stored fit
-- Source: model_params_stage (COPY, or the fits the batch_microstructure UDx returned); keys are unique.
MERGE INTO model_params AS t
USING model_params_stage AS s
ON t.symbol = s.symbol AND t.model = s.model AND t.bar_seconds = s.bar_seconds AND t.fit_end_ns = s.fit_end_ns
WHEN MATCHED THEN UPDATE SET
    fit_start_ns = s.fit_start_ns, n_obs = s.n_obs, omega = s.omega, alpha = s.alpha, beta = s.beta,
    loglik = s.loglik, converged = s.converged, scale = s.scale, fitted_at_ns = s.fitted_at_ns,
    fingerprint = s.fingerprint
WHEN NOT MATCHED THEN INSERT (
    symbol, model, bar_seconds, fit_start_ns, fit_end_ns, n_obs, omega, alpha, beta, loglik, converged, scale,
    fitted_at_ns, fingerprint
) VALUES (
    s.symbol, s.model, s.bar_seconds, s.fit_start_ns, s.fit_end_ns, s.n_obs, s.omega, s.alpha, s.beta, s.loglik,
    s.converged, s.scale, s.fitted_at_ns, s.fingerprint
);
