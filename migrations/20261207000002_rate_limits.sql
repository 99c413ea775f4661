-- Rate limits shared by every instance: per key (a token's subject, a client address, a client
-- address on one federation's public routes), the requests asked for in the current one-minute
-- window. Instances lease requests from it a few at a time (waymark_domain::rate_limit), so the
-- count is written once per lease, not per request. A platform table: a client address belongs
-- to no federation, and nothing here is a tenant's data (keys are ids and addresses; no patient,
-- no content). Finished windows are deleted as the service goes.
CREATE TABLE rate_limit_windows (
    key            text PRIMARY KEY,
    -- Whole windows since the Unix epoch, by the database's clock.
    window_index   bigint NOT NULL,
    -- Requests leased in the window, granted or not: it only grows within a window.
    asked          bigint NOT NULL CHECK (asked > 0)
);
CREATE INDEX rate_limit_windows_window_idx ON rate_limit_windows (window_index);
GRANT SELECT, INSERT, UPDATE, DELETE ON rate_limit_windows TO waymark_app;

-- The public routes' budget is one of these policies now.
DROP TABLE public_request_windows;
