CREATE TABLE pass_legs (
    pass_id      UUID NOT NULL REFERENCES passes (pass_id) ON DELETE CASCADE,
    leg_no       SMALLINT NOT NULL,
    airline      TEXT NOT NULL,
    segment_id   TEXT NOT NULL,
    flight_no    TEXT NOT NULL,
    origin       TEXT NOT NULL,
    destination  TEXT NOT NULL,
    departs_at   TIMESTAMPTZ NOT NULL,
    arrives_at   TIMESTAMPTZ NOT NULL,
    seat         TEXT NOT NULL,
    price_cents  BIGINT NOT NULL,
    currency     TEXT NOT NULL,
    PRIMARY KEY (pass_id, leg_no)
);
INSERT INTO pass_legs
SELECT p.pass_id, (l.ord - 1)::smallint, l.leg->>'airline', l.leg->>'segment_id', l.leg->>'flight_no',
       l.leg->>'origin', l.leg->>'destination', (l.leg->>'departs_at')::timestamptz,
       (l.leg->>'arrives_at')::timestamptz, l.leg->>'seat',
       round(((l.leg->'price'->>'amount')::numeric) * 100)::bigint, l.leg->'price'->>'currency'
  FROM passes p, json_array_elements(p.legs) WITH ORDINALITY AS l(leg, ord);
ALTER TABLE passes DROP COLUMN legs;
