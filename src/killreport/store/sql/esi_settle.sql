-- killreport.domain.budget_rules.apply_settle in PL/pgSQL, so that a settle is one round trip.
-- Every number comes in as an argument (rules.Rules); p_cost is rules.token_cost(status), computed
-- in Python so the cost table exists only there. p_now drives the clock in tests; production
-- passes NULL, so the database clock is the only clock. Returns whether it notified waiters.
-- Downtime: p_unavailable (ESI said it cannot reach the game server) marks ESI down; a /status
-- answer with p_up_since (open to all: its start_time), or a probe's non-error answer, clears it.
-- Back up, the error window is unknown again: the first request is a lone probe.
-- Route caps: p_hidden (rules.hidden_limit: a 429 naming no bucket and no Retry-After) on a route
-- in a cap group (p_cap_group, its rate p_cap) counts a hit; if the lease was granted after the
-- group's last cut (cut_at) it also cuts the group's share by p_cap_cut (down to p_cap_min_factor)
-- until p_cap_recover from now and pauses the group for p_cap_pause. It pauses no other route.
CREATE OR REPLACE FUNCTION esi_settle(
    p_lease bigint, p_route text, p_status integer, p_is_error boolean, p_remain integer,
    p_reset double precision, p_group text, p_limit integer, p_window double precision,
    p_bremain integer, p_retry double precision, p_cost integer,
    p_same_window double precision, p_pause_420 double precision, p_pause_429 double precision,
    p_bucket_window double precision, p_spend_log integer, p_waiters_recent double precision,
    p_unavailable boolean, p_up_since double precision, p_fresh double precision,
    p_status_route text, p_status_poll double precision, p_daily_at double precision,
    p_daily_every double precision, p_daily_lead double precision, p_daily_max double precision,
    p_cap_group text, p_cap double precision, p_hidden boolean, p_cap_recover double precision,
    p_cap_min_factor double precision, p_cap_cut double precision, p_cap_pause double precision,
    p_now double precision DEFAULT NULL
) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    t double precision := coalesce(p_now, extract(epoch FROM clock_timestamp()));
    b esi_budget;
    k esi_buckets;
    -- The cap group's row, as scalars: a %ROWTYPE of a table a later migration creates would not
    -- compile when an earlier one loads this file.
    c_grp text;
    c_factor double precision;
    c_reduced double precision;
    c_cut double precision;
    granted double precision;
    f double precision;
    g text;
    mapped text;
    new_end double precision;
    pause double precision;
    wake boolean;
    was_probe boolean;
    day_start double precision;
    was_down boolean;
    back boolean;
BEGIN
    SELECT * INTO b FROM esi_budget WHERE id = 1 FOR UPDATE;
    DELETE FROM esi_leases WHERE id = p_lease RETURNING grp, down_probe, granted_at INTO g, was_probe, granted;
    IF p_group IS NOT NULL OR NOT FOUND THEN
        SELECT r.grp INTO mapped FROM esi_route_groups r WHERE r.route = p_route;
        IF p_group IS NULL THEN g := mapped; END IF;
    END IF;
    day_start := floor((t + p_daily_lead - p_daily_at) / p_daily_every) * p_daily_every + p_daily_at;
    was_down := b.unavailable_at IS NOT NULL OR (t < day_start + p_daily_max AND b.up_since <= day_start);
    IF p_unavailable THEN b.unavailable_at := t; END IF;
    IF p_route = p_status_route AND p_status IS NOT NULL THEN
        b.status_next := t + greatest(p_status_poll, coalesce(p_fresh, 0));
        b.status_up := p_up_since IS NOT NULL;
        IF p_up_since IS NOT NULL THEN
            b.unavailable_at := NULL; b.up_since := greatest(b.up_since, p_up_since);
        END IF;
    ELSIF was_probe AND p_status IS NOT NULL AND NOT p_is_error THEN
        b.unavailable_at := NULL;
    END IF;
    back := was_down AND b.unavailable_at IS NULL
        AND NOT (t < day_start + p_daily_max AND b.up_since <= day_start);
    IF back THEN b.error_remain := NULL; END IF;
    IF p_remain IS NOT NULL AND p_reset IS NOT NULL THEN
        new_end := t + p_reset;
        IF b.error_remain IS NULL OR new_end > b.error_window_end + p_same_window THEN
            b.error_remain := p_remain; b.error_window_end := new_end;
        ELSIF new_end >= b.error_window_end - p_same_window THEN
            b.error_remain := least(b.error_remain, p_remain);
        END IF;
    ELSIF p_is_error AND b.error_remain IS NOT NULL AND t < b.error_window_end THEN
        b.error_remain := greatest(b.error_remain - 1, 0);
    END IF;
    wake := back OR t - b.last_wait_at < p_waiters_recent OR p_status IS NOT DISTINCT FROM 429;
    IF p_status = 420 THEN
        pause := coalesce(p_reset, p_pause_420);
        b.error_remain := 0; b.error_window_end := t + pause;
        b.paused_until := greatest(b.paused_until, t + pause); b.pause_reason := 'error limit (420)';
        wake := true;
    END IF;
    IF p_cap IS NOT NULL AND p_hidden THEN
        SELECT x.grp, x.factor, x.reduced_until, x.cut_at INTO c_grp, c_factor, c_reduced, c_cut
            FROM esi_cap_groups x WHERE x.grp = p_cap_group FOR UPDATE;
        IF granted IS NULL OR granted <= coalesce(c_cut, 0) THEN
            -- Sent before the last cut (or a lease no longer known): in flight then, nothing new.
            INSERT INTO esi_cap_groups AS x (grp, next_at, factor, reduced_until, hits, cut_at)
            VALUES (p_cap_group, 0, 1, 0, 1, 0)
            ON CONFLICT (grp) DO UPDATE SET hits = x.hits + 1;
        ELSE
            f := CASE WHEN c_grp IS NOT NULL AND t < c_reduced THEN c_factor ELSE 1 END;
            f := greatest(f * p_cap_cut, p_cap_min_factor);
            INSERT INTO esi_cap_groups AS x (grp, next_at, factor, reduced_until, hits, cut_at)
            VALUES (p_cap_group, t + greatest(p_cap_pause, 1 / (p_cap * f)), f, t + p_cap_recover, 1, t)
            ON CONFLICT (grp) DO UPDATE SET next_at = EXCLUDED.next_at, factor = EXCLUDED.factor,
                reduced_until = EXCLUDED.reduced_until, hits = x.hits + 1, cut_at = EXCLUDED.cut_at;
        END IF;
    END IF;
    IF p_group IS NOT NULL THEN
        g := p_group;
        -- Groups almost never change: write the map only when it does, not on every response.
        IF mapped IS DISTINCT FROM g THEN
            INSERT INTO esi_route_groups (route, grp) VALUES (p_route, g)
            ON CONFLICT (route) DO UPDATE SET grp = EXCLUDED.grp;
        END IF;
    END IF;
    IF g IS NOT NULL THEN
        INSERT INTO esi_buckets (grp, window_s) VALUES (g, p_bucket_window) ON CONFLICT DO NOTHING;
        SELECT * INTO k FROM esi_buckets x WHERE x.grp = g FOR UPDATE;
        IF p_group IS NOT NULL THEN
            k.token_limit := coalesce(nullif(p_limit, 0), k.token_limit);
            k.window_s := coalesce(nullif(p_window, 0), k.window_s);
            k.remaining := p_bremain; k.reported_at := t;
        ELSIF k.remaining IS NOT NULL THEN
            k.remaining := greatest(k.remaining - p_cost, 0);
        END IF;
        IF p_cost > 0 THEN
            -- Keep the newest p_spend_log - 1 live spends, then add this one.
            k.spends := array(SELECT s FROM (SELECT s FROM unnest(k.spends) s WHERE s > t - k.window_s
                                             ORDER BY s DESC LIMIT p_spend_log - 1) x ORDER BY s) || t;
        END IF;
        IF p_status = 429 THEN
            k.paused_until := greatest(k.paused_until, t + coalesce(p_retry, p_pause_429));
            k.remaining := NULL;
        END IF;
        UPDATE esi_buckets x SET token_limit = k.token_limit, window_s = k.window_s,
            remaining = k.remaining, paused_until = k.paused_until, spends = k.spends,
            reported_at = k.reported_at
        WHERE x.grp = g;
    ELSIF p_status = 429 AND NOT (p_cap IS NOT NULL AND p_hidden) THEN
        b.paused_until := greatest(b.paused_until, t + coalesce(p_retry, p_pause_429));
        b.pause_reason := '429 without a group';
    END IF;
    UPDATE esi_budget SET error_remain = b.error_remain, error_window_end = b.error_window_end,
        paused_until = b.paused_until, pause_reason = b.pause_reason, unavailable_at = b.unavailable_at,
        up_since = b.up_since, status_next = b.status_next, status_up = b.status_up
    WHERE id = 1;
    IF wake THEN PERFORM pg_notify('esi_budget', ''); END IF;
    RETURN wake;
END
$$;
