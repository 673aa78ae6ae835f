-- name: install
-- params: library_path, depends_path
-- returns: nothing; (re)creates the UDx library and the batch_microstructure transform function
-- Run by `microstructure vertica install-udx --library-path ... --depends ...`, or with vsql:
--   vsql -v library_path="'/opt/microstructure/vertica_udx.py'" \
--        -v depends_path="'/opt/microstructure/site-packages/*'" -f sql/vertica/udx/install.sql
-- library_path: udx/vertica_udx.py as seen by every Vertica node; depends_path: a site-packages glob holding
-- the project's udx and sql packages and numpy, pyarrow, pydantic, pydantic-settings, scipy (numba optional),
-- built with Vertica's own Python (scripts/vertica/build_udx_deps.sh). Needs a superuser (or UDXDEVELOPER).
-- Four signatures, one name (overloading): batch_microstructure(ts_ns, price, size, conditions, correction) for
-- ad-hoc use on one symbol, (..., symbol, state) to resume from a state, (..., symbol, state, bid_price, bid_size,
-- ask_price, ask_size) with trades and quotes in one partition (bar liquidity), and (..., ask_size, kind) for the
-- incremental transform: the realized plan rides in the partition too (bar_realized_spread).
-- Python UDxs always run fenced (a separate zygote process per node), so no FENCED clause is needed.
CREATE OR REPLACE LIBRARY microstructure_udx AS :library_path DEPENDS :depends_path LANGUAGE 'Python';
CREATE OR REPLACE TRANSFORM FUNCTION batch_microstructure AS LANGUAGE 'Python'
    NAME 'BatchMicrostructureFactory' LIBRARY microstructure_udx;
CREATE OR REPLACE TRANSFORM FUNCTION batch_microstructure AS LANGUAGE 'Python'
    NAME 'BatchMicrostructureResumeFactory' LIBRARY microstructure_udx;
CREATE OR REPLACE TRANSFORM FUNCTION batch_microstructure AS LANGUAGE 'Python'
    NAME 'BatchMicrostructureQuotesFactory' LIBRARY microstructure_udx;
CREATE OR REPLACE TRANSFORM FUNCTION batch_microstructure AS LANGUAGE 'Python'
    NAME 'BatchMicrostructureRealizedFactory' LIBRARY microstructure_udx;
