-- esi_reserve as migrations 0003 to 0005 created it, frozen: 0006's downgrade restores it (never edit).
-- killreport.budget.rules.decide in PL/pgSQL, so that a reserve is one round trip.
-- Every number comes in as an argument (rules.Limits and rules.Rules): this file holds none of its
-- own. p_now drives the clock in tests; production passes NULL, so the database clock is the only
-- clock. Returns a lease, or how long to wait (the waiter also wakes on NOTIFY esi_budget).
-- Locking the single budget row first serialises every caller in the cluster.
CREATE OR REPLACE FUNCTION esi_reserve(
    p_route text, p_max integer, p_floor integer, p_ttl double precision,
    p_worst integer, p_poll double precision, p_min_wait double precision,
    p_same_window double precision, p_now double precision DEFAULT NULL
) RETURNS TABLE (o_lease bigint, o_group text, o_probe boolean, o_wait double precision)
LANGUAGE plpgsql AS $$
DECLARE
    t double precision := coalesce(p_now, extract(epoch FROM clock_timestamp()));
    b esi_budget;
    k esi_buckets;
    g text;
    n integer;
    held integer;
    probing boolean;
    is_probe boolean := false;
    until double precision;
    w double precision;
    lid bigint;
BEGIN
    SELECT * INTO b FROM esi_budget WHERE id = 1 FOR UPDATE;
    DELETE FROM esi_leases WHERE expires_at < t;
    SELECT count(*), coalesce(bool_or(l.probe), false) INTO n, probing FROM esi_leases l;
    SELECT r.grp INTO g FROM esi_route_groups r WHERE r.route = p_route;
    <<decide>>
    BEGIN
        IF t < b.paused_until THEN w := b.paused_until - t; EXIT decide; END IF;
        IF n >= p_max THEN w := p_poll; EXIT decide; END IF;
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
    INSERT INTO esi_leases (route, grp, probe, expires_at) VALUES (p_route, g, is_probe, t + p_ttl)
    RETURNING id INTO lid;
    RETURN QUERY SELECT lid, g, is_probe, 0::double precision;
END
$$;
