-- Rent day: the durable callback inbox. Every M-Pesa confirmation and STK callback is
-- stored raw (one autocommit INSERT, synchronously replicated) before it is parsed,
-- matched or allocated; the acknowledgement to Safaricom means "stored". Processing then
-- moves a row from `pending` to `processed` (credited or in suspense), `duplicate` (the
-- same payment again), `anomaly` (the same receipt with another amount or account, an STK
-- amount that differs from the registered one) or leaves it `quarantined` (the payload
-- could not be read; kept for a replay once fixed).

CREATE TABLE callback_inbox (
    id           uuid PRIMARY KEY,
    landlord_id  text NOT NULL REFERENCES landlords(id),
    kind         text NOT NULL CHECK (kind IN ('c2b_confirmation', 'stk')),
    -- The M-Pesa receipt (C2B `TransID`) or the STK `CheckoutRequestID`, when readable.
    key          text,
    -- SHA-256 of the raw body: an identical re-delivery is the same row.
    digest       bytea NOT NULL,
    -- The raw body as received. Cleared once processed or found a duplicate (Daraja's
    -- payload names the payer); kept while pending, quarantined or an anomaly.
    body         bytea,
    status       text NOT NULL
                 CHECK (status IN ('pending', 'processed', 'duplicate', 'anomaly', 'quarantined')),
    -- Why the payload was quarantined (field and reason; never a value).
    error        text,
    -- What the payload says, when it could be read (a pending payment on the statement).
    amount       bigint,
    account_ref_norm text,
    paid_at      timestamptz,
    payment_id   uuid REFERENCES payments(id),
    attempts     int NOT NULL DEFAULT 0,
    received_at  timestamptz NOT NULL DEFAULT now(),
    processed_at timestamptz,
    seq          bigserial NOT NULL UNIQUE,
    CONSTRAINT callback_inbox_once UNIQUE (landlord_id, kind, digest)
);
CREATE INDEX callback_inbox_pending ON callback_inbox (seq) WHERE status = 'pending';
CREATE INDEX callback_inbox_landlord ON callback_inbox (landlord_id, seq);

-- What processing found wrong: listed, never silently dropped or credited.
CREATE TABLE payment_anomalies (
    id            uuid PRIMARY KEY,
    landlord_id   text NOT NULL REFERENCES landlords(id),
    kind          text NOT NULL CHECK (kind IN ('receipt_conflict', 'stk_amount_mismatch')),
    inbox_id      uuid NOT NULL UNIQUE REFERENCES callback_inbox(id),
    receipt       text,
    checkout_request_id text,
    -- receipt_conflict: the payment recorded first; stk_amount_mismatch: the payment,
    -- held in suspense (not credited) until the landlord matches it.
    payment_id    uuid REFERENCES payments(id),
    expected_amount  bigint,
    received_amount  bigint,
    expected_account text,
    received_account text,
    detected_at   timestamptz NOT NULL DEFAULT now(),
    seq           bigserial NOT NULL UNIQUE
);
CREATE INDEX payment_anomalies_landlord ON payment_anomalies (landlord_id, seq);
