"""The shared ESI budget: one budget row, leases in flight, token buckets, and reserve/settle functions.

reserve and settle are PL/pgSQL so each is one round trip; both lock the single budget row first,
which serialises every reserver in the cluster on the database's clock (clock_timestamp()), so
clock skew between worker machines cannot matter.
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_TABLES = """
CREATE TABLE esi_budget (
    id integer PRIMARY KEY CHECK (id = 1),
    error_remain integer,
    error_window_end timestamptz,
    paused_until timestamptz,
    pause_reason text,
    updated_at timestamptz
);
INSERT INTO esi_budget (id) VALUES (1);
CREATE TABLE esi_leases (
    id bigserial PRIMARY KEY,
    grp text,
    cost integer NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE TABLE esi_buckets (
    grp text PRIMARY KEY,
    token_limit integer,
    window_s integer,
    remaining integer,
    reported_at timestamptz NOT NULL,
    paused_until timestamptz
);
CREATE TABLE esi_route_groups (
    route text PRIMARY KEY,
    grp text NOT NULL
);
"""

# Returns (lease_id, wait_s): a lease, or how long to wait before asking again.
_RESERVE = """
CREATE FUNCTION esi_reserve(p_route text, p_max integer, p_floor integer, p_ttl_s double precision)
RETURNS TABLE (lease_id bigint, wait_s double precision) LANGUAGE plpgsql AS $$
DECLARE
    b esi_budget;
    bk esi_buckets;
    t timestamptz := clock_timestamp();
    n integer;
    g text;
    reserved integer;
    lid bigint;
BEGIN
    SELECT * INTO b FROM esi_budget WHERE id = 1 FOR UPDATE;
    DELETE FROM esi_leases WHERE expires_at < t;
    IF b.paused_until > t THEN
        RETURN QUERY SELECT NULL::bigint, extract(epoch FROM b.paused_until - t)::float8; RETURN;
    END IF;
    SELECT count(*) INTO n FROM esi_leases;
    IF n >= p_max THEN
        RETURN QUERY SELECT NULL::bigint, 0.05::float8; RETURN;
    END IF;
    SELECT grp INTO g FROM esi_route_groups WHERE route = p_route;
    IF g IS NULL THEN
        IF b.error_remain IS NULL OR b.error_window_end IS NULL OR b.error_window_end <= t THEN
            -- Nothing current is known: one probe at a time until a response reports numbers.
            IF n > 0 THEN RETURN QUERY SELECT NULL::bigint, 0.05::float8; RETURN; END IF;
        ELSIF b.error_remain - (SELECT count(*) FROM esi_leases WHERE grp IS NULL) - 1 <= p_floor THEN
            RETURN QUERY SELECT NULL::bigint, extract(epoch FROM b.error_window_end - t)::float8 + 0.05;
            RETURN;
        END IF;
    ELSE
        SELECT * INTO bk FROM esi_buckets WHERE grp = g;
        IF bk.paused_until > t THEN
            RETURN QUERY SELECT NULL::bigint, extract(epoch FROM bk.paused_until - t)::float8; RETURN;
        END IF;
        SELECT coalesce(sum(cost), 0) INTO reserved FROM esi_leases WHERE grp = g;
        IF bk.remaining IS NOT NULL AND bk.remaining - reserved < 5 THEN
            -- Tokens come back as the floating window slides; probe alone once a 4xx's worth
            -- (5 tokens) should have aged out at the bucket's average rate.
            IF reserved > 0 OR t < bk.reported_at + make_interval(secs =>
                    5.0 * coalesce(bk.window_s, 900) / greatest(coalesce(bk.token_limit, 1), 1)) THEN
                RETURN QUERY SELECT NULL::bigint, 1.0::float8; RETURN;
            END IF;
        END IF;
    END IF;
    INSERT INTO esi_leases (grp, cost, expires_at)
    VALUES (g, CASE WHEN g IS NULL THEN 0 ELSE 5 END, t + make_interval(secs => p_ttl_s))
    RETURNING id INTO lid;
    RETURN QUERY SELECT lid, 0::float8;
END $$;
"""

_SETTLE = """
CREATE FUNCTION esi_settle(
    p_lease bigint, p_route text, p_status integer, p_remain integer, p_reset integer,
    p_group text, p_limit integer, p_window integer, p_bremain integer, p_retry_after double precision,
    p_max integer
) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    n integer;
    b esi_budget;
    t timestamptz := clock_timestamp();
    new_end timestamptz;
BEGIN
    SELECT * INTO b FROM esi_budget WHERE id = 1 FOR UPDATE;
    DELETE FROM esi_leases WHERE id = p_lease;
    IF p_remain IS NOT NULL AND p_reset IS NOT NULL THEN
        new_end := t + make_interval(secs => p_reset);
        IF b.error_window_end IS NULL OR new_end > b.error_window_end + interval '1.5 seconds' THEN
            UPDATE esi_budget SET error_remain = p_remain, error_window_end = new_end, updated_at = t
            WHERE id = 1;
        ELSE
            -- Same window, answers out of order: the lowest report is the truest.
            UPDATE esi_budget SET error_remain = least(error_remain, p_remain), updated_at = t WHERE id = 1;
        END IF;
    END IF;
    IF p_status = 420 THEN
        -- A 420 is ESI's own word on when the window ends.
        UPDATE esi_budget SET error_remain = 0,
            error_window_end = t + make_interval(secs => coalesce(p_reset, 60)),
            paused_until = greatest(paused_until, t + make_interval(secs => coalesce(p_reset, 60))),
            pause_reason = 'error limit (420)', updated_at = t
        WHERE id = 1;
    END IF;
    IF p_group IS NOT NULL THEN
        INSERT INTO esi_route_groups (route, grp) VALUES (p_route, p_group)
        ON CONFLICT (route) DO UPDATE SET grp = EXCLUDED.grp;
        INSERT INTO esi_buckets (grp, token_limit, window_s, remaining, reported_at)
        VALUES (p_group, p_limit, p_window, p_bremain, t)
        ON CONFLICT (grp) DO UPDATE SET token_limit = coalesce(EXCLUDED.token_limit, esi_buckets.token_limit),
            window_s = coalesce(EXCLUDED.window_s, esi_buckets.window_s),
            remaining = EXCLUDED.remaining, reported_at = t;
    END IF;
    IF p_status = 429 THEN
        IF p_group IS NOT NULL THEN
            UPDATE esi_buckets SET paused_until = t + make_interval(secs => coalesce(p_retry_after, 10))
            WHERE grp = p_group;
        ELSE
            UPDATE esi_budget SET paused_until = greatest(paused_until,
                t + make_interval(secs => coalesce(p_retry_after, 10))),
                pause_reason = '429 without a group', updated_at = t
            WHERE id = 1;
        END IF;
    END IF;
    -- Wake waiters only when this settle can unblock one: a freed slot at the cap, a fresh report
    -- after a probe, or a pause to heed. Notifying on every settle costs every listener a wakeup.
    SELECT count(*) INTO n FROM esi_leases;
    IF n = p_max - 1 OR p_status IN (420, 429) OR b.error_window_end IS NULL
            OR b.error_window_end <= t THEN
        PERFORM pg_notify('esi_budget', '');
    END IF;
END $$;
"""


def upgrade() -> None:
    """Apply."""
    # asyncpg prepares each statement, so multi-statement scripts go one statement at a time.
    for statement in _TABLES.split(";"):
        if statement.strip():
            op.execute(statement)
    op.execute(_RESERVE)
    op.execute(_SETTLE)


def downgrade() -> None:
    """Revert."""
    op.execute("DROP FUNCTION esi_settle(bigint, text, integer, integer, integer, text, integer,"
               " integer, integer, double precision, integer)")
    op.execute("DROP FUNCTION esi_reserve(text, integer, integer, double precision)")
    op.execute("DROP TABLE esi_route_groups, esi_buckets, esi_leases, esi_budget")
