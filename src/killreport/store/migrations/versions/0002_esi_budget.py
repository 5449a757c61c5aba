"""The shared ESI budget: one budget row, leases in flight, token buckets, route groups, and the
esi_reserve/esi_settle functions, a line-by-line mirror of killreport.budget.rules.

Times are float epoch seconds from clock_timestamp(): only the database clock is ever used.
Both functions lock the single budget row first, which serialises every caller in the cluster.
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_TABLES = [
    """CREATE TABLE esi_budget (
    id integer PRIMARY KEY CHECK (id = 1),
    error_remain integer,
    error_window_end double precision NOT NULL DEFAULT 0,
    paused_until double precision NOT NULL DEFAULT 0,
    pause_reason text,
    last_wait_at double precision NOT NULL DEFAULT 0
)""",
    "INSERT INTO esi_budget (id) VALUES (1)",
    """CREATE TABLE esi_leases (
    id bigserial PRIMARY KEY,
    route text NOT NULL,
    grp text,
    probe boolean NOT NULL,
    expires_at double precision NOT NULL
)""",
    """CREATE TABLE esi_buckets (
    grp text PRIMARY KEY,
    token_limit integer,
    window_s double precision NOT NULL DEFAULT 900,
    remaining integer,
    paused_until double precision NOT NULL DEFAULT 0,
    spends double precision[] NOT NULL DEFAULT '{}',
    reported_at double precision
)""",
    "CREATE TABLE esi_route_groups (route text PRIMARY KEY, grp text NOT NULL)",
]

# rules.decide. Returns a lease, or how long to wait (the waiter also wakes on NOTIFY esi_budget).
_RESERVE = """
CREATE FUNCTION esi_reserve(p_route text, p_max integer, p_floor integer, p_ttl double precision)
RETURNS TABLE (o_lease bigint, o_group text, o_probe boolean, o_wait double precision)
LANGUAGE plpgsql AS $$
DECLARE
    t double precision := extract(epoch FROM clock_timestamp());
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
        IF n >= p_max THEN w := 1.0; EXIT decide; END IF;
        IF g IS NOT NULL THEN
            SELECT * INTO k FROM esi_buckets x WHERE x.grp = g;
            SELECT count(*) INTO held FROM esi_leases l WHERE l.grp = g;
            IF t < k.paused_until THEN w := k.paused_until - t; EXIT decide; END IF;
            IF k.grp IS NULL OR k.remaining IS NULL THEN
                IF held > 0 THEN w := 1.0; EXIT decide; END IF;
            ELSIF k.remaining - 5 * held < 5 THEN
                IF held > 0 THEN w := 1.0; EXIT decide; END IF;
                SELECT min(s) INTO until FROM unnest(k.spends) s WHERE s > t - k.window_s;
                until := least(coalesce(until + k.window_s, t), t + k.window_s);
                IF until > t THEN
                    UPDATE esi_buckets x SET paused_until = until, remaining = NULL WHERE x.grp = g;
                    w := until - t; EXIT decide;
                END IF;
            END IF;
        END IF;
        -- The window counts as over one second late: whole-second resets may end it early.
        IF b.error_remain IS NULL OR t >= b.error_window_end + 1.0 THEN
            IF probing THEN w := 1.0; EXIT decide; END IF;
            is_probe := true;
        ELSIF b.error_remain - (n + 1) <= p_floor THEN
            w := CASE WHEN n = 0 THEN b.error_window_end + 1.0 - t ELSE 1.0 END; EXIT decide;
        END IF;
    END;
    IF w IS NOT NULL THEN
        UPDATE esi_budget SET last_wait_at = t WHERE id = 1;
        RETURN QUERY SELECT NULL::bigint, g, false, greatest(w, 0.01); RETURN;
    END IF;
    INSERT INTO esi_leases (route, grp, probe, expires_at) VALUES (p_route, g, is_probe, t + p_ttl)
    RETURNING id INTO lid;
    RETURN QUERY SELECT lid, g, is_probe, 0::double precision;
END $$
"""

# rules.apply_settle. Returns whether it notified waiters.
_SETTLE = """
CREATE FUNCTION esi_settle(
    p_lease bigint, p_route text, p_status integer, p_is_error boolean, p_remain integer,
    p_reset double precision, p_group text, p_limit integer, p_window double precision,
    p_bremain integer, p_retry double precision
) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    t double precision := extract(epoch FROM clock_timestamp());
    b esi_budget;
    k esi_buckets;
    g text;
    new_end double precision;
    cost integer;
    pause double precision;
    wake boolean;
BEGIN
    SELECT * INTO b FROM esi_budget WHERE id = 1 FOR UPDATE;
    DELETE FROM esi_leases WHERE id = p_lease RETURNING grp INTO g;
    IF NOT FOUND THEN SELECT r.grp INTO g FROM esi_route_groups r WHERE r.route = p_route; END IF;
    IF p_remain IS NOT NULL AND p_reset IS NOT NULL THEN
        new_end := t + p_reset;
        IF b.error_remain IS NULL OR new_end > b.error_window_end + 1.0 THEN
            b.error_remain := p_remain; b.error_window_end := new_end;
        ELSIF new_end >= b.error_window_end - 1.0 THEN
            b.error_remain := least(b.error_remain, p_remain);
        END IF;
    ELSIF p_is_error AND b.error_remain IS NOT NULL AND t < b.error_window_end THEN
        b.error_remain := greatest(b.error_remain - 1, 0);
    END IF;
    wake := t - b.last_wait_at < 2.0 OR p_status = 429;
    IF p_status = 420 THEN
        pause := coalesce(p_reset, 60.0);
        b.error_remain := 0; b.error_window_end := t + pause;
        b.paused_until := greatest(b.paused_until, t + pause); b.pause_reason := 'error limit (420)';
        wake := true;
    END IF;
    IF p_group IS NOT NULL THEN
        g := p_group;
        INSERT INTO esi_route_groups (route, grp) VALUES (p_route, g)
        ON CONFLICT (route) DO UPDATE SET grp = EXCLUDED.grp;
    END IF;
    IF g IS NOT NULL THEN
        INSERT INTO esi_buckets (grp) VALUES (g) ON CONFLICT DO NOTHING;
        SELECT * INTO k FROM esi_buckets x WHERE x.grp = g FOR UPDATE;
        cost := CASE WHEN p_status IS NULL OR p_status BETWEEN 400 AND 499 THEN 5
                     WHEN p_status >= 500 THEN 0 WHEN p_status >= 300 THEN 1 ELSE 2 END;
        IF p_group IS NOT NULL THEN
            k.token_limit := coalesce(nullif(p_limit, 0), k.token_limit);
            k.window_s := coalesce(nullif(p_window, 0), k.window_s);
            k.remaining := p_bremain; k.reported_at := t;
        ELSIF k.remaining IS NOT NULL THEN
            k.remaining := greatest(k.remaining - cost, 0);
        END IF;
        IF cost > 0 THEN
            k.spends := array(SELECT s FROM (SELECT s FROM unnest(k.spends) s WHERE s > t - k.window_s
                                             ORDER BY s DESC LIMIT 15) x ORDER BY s) || t;
        END IF;
        IF p_status = 429 THEN
            k.paused_until := greatest(k.paused_until, t + coalesce(p_retry, 10.0)); k.remaining := NULL;
        END IF;
        UPDATE esi_buckets x SET token_limit = k.token_limit, window_s = k.window_s,
            remaining = k.remaining, paused_until = k.paused_until, spends = k.spends,
            reported_at = k.reported_at
        WHERE x.grp = g;
    ELSIF p_status = 429 THEN
        b.paused_until := greatest(b.paused_until, t + coalesce(p_retry, 10.0));
        b.pause_reason := '429 without a group';
    END IF;
    UPDATE esi_budget SET error_remain = b.error_remain, error_window_end = b.error_window_end,
        paused_until = b.paused_until, pause_reason = b.pause_reason
    WHERE id = 1;
    IF wake THEN PERFORM pg_notify('esi_budget', ''); END IF;
    RETURN wake;
END $$
"""


def upgrade() -> None:
    """Apply."""
    # asyncpg prepares each statement, so statements go one at a time.
    for statement in _TABLES:
        op.execute(statement)
    op.execute(_RESERVE)
    op.execute(_SETTLE)


def downgrade() -> None:
    """Revert."""
    op.execute("DROP FUNCTION esi_settle(bigint, text, integer, boolean, integer, double precision,"
               " text, integer, double precision, integer, double precision)")
    op.execute("DROP FUNCTION esi_reserve(text, integer, integer, double precision)")
    op.execute("DROP TABLE esi_route_groups, esi_buckets, esi_leases, esi_budget")
