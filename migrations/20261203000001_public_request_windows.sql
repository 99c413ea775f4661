-- Requests each client address has made to a federation's public (Open Referral UK) routes in
-- its current one-minute window (windows begin on the minute, the same for everyone). The count is kept here, not in a server's memory, so that every
-- instance of the service behind a load balancer counts against the same budget. One row per
-- (federation, address): a request either adds one to the window it falls in or starts a new
-- window at one. It is a tenant table like any other, so on Citus the count lives on the
-- federation's shard with the directory it guards.

CREATE TABLE public_request_windows (
    federation_id      uuid NOT NULL REFERENCES federations (id),
    address            inet NOT NULL,
    -- The window: whole minutes since the Unix epoch, by the database's clock.
    window_minute      bigint NOT NULL,
    requests           integer NOT NULL CHECK (requests > 0),
    PRIMARY KEY (federation_id, address)
);

-- Finished windows are forgotten a federation at a time.
CREATE INDEX public_request_windows_started_idx
    ON public_request_windows (federation_id, window_minute);

ALTER TABLE public_request_windows ENABLE ROW LEVEL SECURITY;
ALTER TABLE public_request_windows FORCE ROW LEVEL SECURITY;
CREATE POLICY public_request_windows_tenant ON public_request_windows TO waymark_app
    USING (federation_id = waymark_current_federation())
    WITH CHECK (federation_id = waymark_current_federation());
GRANT SELECT, INSERT, UPDATE, DELETE ON public_request_windows TO waymark_app;
