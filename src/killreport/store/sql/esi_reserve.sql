-- killreport.domain.budget_rules.decide in PL/pgSQL, so that a reserve is one round trip.
-- Every number comes in as an argument (rules.Limits and rules.Rules): this file holds none of its
-- own. p_now drives the clock in tests; production passes NULL, so the database clock is the only
-- clock. Returns a lease, or how long to wait (the waiter also wakes on NOTIFY esi_budget).
-- Locking the single budget row first serialises every caller in the cluster.
-- Downtime: from p_daily_lead before the daily downtime until /status shows a start_time after it
-- (or p_daily_max after it), and while ESI last said it was unavailable, only p_status_route goes,
-- one at a time and not before the last answer's Expires. When /status cannot tell (its cached
-- answer says "up", or nobody asked it for p_unwatched), a lone request of another route probes.
-- Route caps: p_cap_group names the cap group the route is in and p_cap its rate (requests a second
-- for the group's routes together; both NULL for none). The group's grants are spaced 1/rate apart
-- (esi_cap_groups.next_at, which a cut also moves to its pause's end), at the share of the rate its
-- last cuts left it (factor, until reduced_until). A lease remembers when it was granted
-- (granted_at): a 429 on it cuts only if that was after the group's last cut (esi_settle).
CREATE OR REPLACE FUNCTION esi_reserve(
    p_route text, p_max integer, p_floor integer, p_ttl double precision,
    p_worst integer, p_poll double precision, p_min_wait double precision,
    p_same_window double precision, p_status_route text, p_daily_at double precision,
    p_daily_every double precision, p_daily_lead double precision, p_daily_max double precision,
    p_probe_every double precision, p_unwatched double precision, p_cap_group text, p_cap double precision,
    p_now double precision DEFAULT NULL
) RETURNS TABLE (o_lease bigint, o_group text, o_probe boolean, o_wait double precision)
LANGUAGE plpgsql AS $$
DECLARE
    t double precision := coalesce(p_now, extract(epoch FROM clock_timestamp()));
    b esi_budget;
    k esi_buckets;
    -- The cap group's row, as scalars: a %ROWTYPE of a table a later migration creates would not
    -- compile when an earlier one loads this file.
    c_grp text;
    c_next double precision;
    c_factor double precision;
    c_reduced double precision;
    f double precision;
    g text;
    n integer;
    held integer;
    probing boolean;
    is_probe boolean := false;
    until double precision;
    w double precision;
    lid bigint;
    day_start double precision;
    due double precision;
    down_probe boolean := false;
BEGIN
    SELECT * INTO b FROM esi_budget WHERE id = 1 FOR UPDATE;
    DELETE FROM esi_leases WHERE expires_at < t;
    SELECT count(*), coalesce(bool_or(l.probe), false) INTO n, probing FROM esi_leases l;
    SELECT r.grp INTO g FROM esi_route_groups r WHERE r.route = p_route;
    day_start := floor((t + p_daily_lead - p_daily_at) / p_daily_every) * p_daily_every + p_daily_at;
    <<decide>>
    BEGIN
        IF t < b.paused_until THEN w := b.paused_until - t; EXIT decide; END IF;
        IF n >= p_max THEN w := p_poll; EXIT decide; END IF;
        IF p_route = p_status_route THEN
            IF t < b.status_next THEN w := b.status_next - t; EXIT decide; END IF;
            IF EXISTS (SELECT FROM esi_leases l WHERE l.route = p_status_route) THEN
                w := p_poll; EXIT decide;
            END IF;
        ELSIF t < day_start + p_daily_max AND b.up_since <= day_start THEN
            w := p_poll; EXIT decide;
        ELSIF b.unavailable_at IS NOT NULL THEN
            IF EXISTS (SELECT FROM esi_leases l WHERE l.down_probe) THEN w := p_poll; EXIT decide; END IF;
            IF b.status_up AND t < b.status_next THEN
                due := b.unavailable_at + p_probe_every;
            ELSE
                due := greatest(b.unavailable_at, b.status_next) + p_unwatched;
            END IF;
            IF t < due THEN w := due - t; EXIT decide; END IF;
            down_probe := true;
        END IF;
        IF p_cap IS NOT NULL THEN
            SELECT x.grp, x.next_at, x.factor, x.reduced_until INTO c_grp, c_next, c_factor, c_reduced
            FROM esi_cap_groups x WHERE x.grp = p_cap_group;
            IF c_grp IS NOT NULL AND t < c_next THEN w := c_next - t; EXIT decide; END IF;
        END IF;
        IF g IS NOT NULL THEN
            SELECT * INTO k FROM esi_buckets x WHERE x.grp = g;
            SELECT count(*) INTO held FROM esi_leases l WHERE l.grp = g;
            IF t < k.paused_until THEN w := k.paused_until - t; EXIT decide; END IF;
            IF k.grp IS NULL OR k.remaining IS NULL THEN
                -- One probe until the group reports.
                IF held > 0 THEN w := p_poll; EXIT decide; END IF;
            ELSIF k.remaining - p_worst * held < p_worst THEN
                -- Answers in flight will report fresher numbers; with none, wait for our oldest
                -- spend to age out of the window.
                IF held > 0 THEN w := p_poll; EXIT decide; END IF;
                SELECT min(s) INTO until FROM unnest(k.spends) s WHERE s > t - k.window_s;
                until := least(coalesce(until + k.window_s, t), t + k.window_s);
                IF until > t THEN
                    UPDATE esi_buckets x SET paused_until = until, remaining = NULL WHERE x.grp = g;
                    w := until - t; EXIT decide;
                END IF;
            END IF;
        END IF;
        -- The window counts as over p_same_window late: whole-second resets may end it early.
        IF b.error_remain IS NULL OR t >= b.error_window_end + p_same_window THEN
            IF probing THEN w := p_poll; EXIT decide; END IF;
            is_probe := true;
        ELSIF b.error_remain - (n + 1) <= p_floor THEN
            w := CASE WHEN n = 0 THEN b.error_window_end + p_same_window - t ELSE p_poll END;
            EXIT decide;
        END IF;
    END;
    IF w IS NOT NULL THEN
        UPDATE esi_budget SET last_wait_at = t WHERE id = 1;
        RETURN QUERY SELECT NULL::bigint, g, false, greatest(w, p_min_wait);
        RETURN;
    END IF;
    INSERT INTO esi_leases (route, grp, probe, expires_at, down_probe, granted_at)
    VALUES (p_route, g, is_probe, t + p_ttl, down_probe, t)
    RETURNING id INTO lid;
    IF p_cap IS NOT NULL THEN
        f := CASE WHEN c_grp IS NOT NULL AND t < c_reduced THEN c_factor ELSE 1 END;
        INSERT INTO esi_cap_groups AS x (grp, next_at, factor, reduced_until, hits, cut_at)
        VALUES (p_cap_group, t + 1 / (p_cap * f), f, 0, 0, 0)
        ON CONFLICT (grp) DO UPDATE SET next_at = EXCLUDED.next_at, factor = EXCLUDED.factor;
    END IF;
    RETURN QUERY SELECT lid, g, is_probe, 0::double precision;
END
$$;
