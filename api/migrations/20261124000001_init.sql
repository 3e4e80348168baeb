-- Property Management API schema. Every row is owned by one landlord (the JWT `sub`).
-- Money columns are whole Kenya shillings (bigint), never floats.

CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE landlords (
    id             text PRIMARY KEY,
    -- Callback URL token = token_id || secret; token_id locates the row, the whole token is
    -- compared in constant time by the API.
    callback_token_id text NOT NULL UNIQUE,
    callback_token text NOT NULL,
    shortcode      text UNIQUE,
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE properties (
    id          uuid PRIMARY KEY,
    landlord_id text NOT NULL REFERENCES landlords(id),
    name        text NOT NULL,
    county      text NOT NULL,
    address     text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    seq         bigserial NOT NULL UNIQUE
);
CREATE INDEX properties_landlord ON properties (landlord_id, seq);

CREATE TABLE units (
    id            uuid PRIMARY KEY,
    landlord_id   text NOT NULL REFERENCES landlords(id),
    property_id   uuid NOT NULL REFERENCES properties(id),
    label         text NOT NULL,
    monthly_rent  bigint NOT NULL CHECK (monthly_rent > 0),
    deposit       bigint NOT NULL CHECK (deposit >= 0),
    account_ref   text NOT NULL,
    account_ref_norm text GENERATED ALWAYS AS (upper(btrim(account_ref))) STORED,
    created_at    timestamptz NOT NULL DEFAULT now(),
    seq           bigserial NOT NULL UNIQUE,
    CONSTRAINT units_account_ref_unique UNIQUE (landlord_id, account_ref_norm),
    CONSTRAINT units_label_unique UNIQUE (property_id, label)
);
CREATE INDEX units_landlord ON units (landlord_id, seq);

CREATE TABLE tenants (
    id          uuid PRIMARY KEY,
    landlord_id text NOT NULL REFERENCES landlords(id),
    name        text,
    phone       text,
    national_id text,
    erased_at   timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    seq         bigserial NOT NULL UNIQUE
);
CREATE INDEX tenants_landlord ON tenants (landlord_id, seq);

CREATE TABLE leases (
    id          uuid PRIMARY KEY,
    landlord_id text NOT NULL REFERENCES landlords(id),
    unit_id     uuid NOT NULL REFERENCES units(id),
    tenant_id   uuid NOT NULL REFERENCES tenants(id),
    start_date  date NOT NULL,
    end_date    date,
    rent        bigint NOT NULL CHECK (rent > 0),
    due_day     int NOT NULL CHECK (due_day BETWEEN 1 AND 28),
    deposit     bigint NOT NULL CHECK (deposit >= 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    seq         bigserial NOT NULL UNIQUE,
    CONSTRAINT leases_dates CHECK (end_date IS NULL OR end_date >= start_date),
    -- One active lease per unit: no two leases of a unit overlap in time.
    CONSTRAINT leases_one_active_per_unit EXCLUDE USING gist (
        unit_id WITH =,
        daterange(start_date, end_date, '[]') WITH &&
    )
);
CREATE INDEX leases_landlord ON leases (landlord_id, seq);

CREATE TABLE invoices (
    id          uuid PRIMARY KEY,
    landlord_id text NOT NULL REFERENCES landlords(id),
    lease_id    uuid NOT NULL REFERENCES leases(id),
    period      text NOT NULL,
    amount      bigint NOT NULL CHECK (amount > 0),
    due_date    date NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    seq         bigserial NOT NULL UNIQUE,
    CONSTRAINT invoices_one_per_period UNIQUE (lease_id, period)
);
CREATE INDEX invoices_landlord ON invoices (landlord_id, seq);

CREATE TABLE payments (
    id          uuid PRIMARY KEY,
    landlord_id text NOT NULL REFERENCES landlords(id),
    lease_id    uuid REFERENCES leases(id),
    method      text NOT NULL CHECK (method IN ('mpesa_c2b', 'mpesa_stk', 'cash', 'bank')),
    status      text NOT NULL CHECK (status IN ('credited', 'unmatched')),
    amount      bigint NOT NULL CHECK (amount > 0),
    -- M-Pesa receipt (TransID / MpesaReceiptNumber) or the landlord's bank/cash reference.
    receipt     text,
    bill_ref    text,
    paid_at     timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    seq         bigserial NOT NULL UNIQUE,
    CONSTRAINT payments_lease_when_credited CHECK (status <> 'credited' OR lease_id IS NOT NULL)
);
-- A receipt credits once, whichever path (C2B, STK, reconciliation) reports it first.
CREATE UNIQUE INDEX payments_mpesa_receipt ON payments (receipt) WHERE method IN ('mpesa_c2b', 'mpesa_stk');
CREATE INDEX payments_landlord ON payments (landlord_id, seq);
CREATE INDEX payments_lease ON payments (lease_id);

CREATE TABLE allocations (
    payment_id  uuid NOT NULL REFERENCES payments(id),
    invoice_id  uuid NOT NULL REFERENCES invoices(id),
    amount      bigint NOT NULL CHECK (amount > 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (payment_id, invoice_id)
);
CREATE INDEX allocations_invoice ON allocations (invoice_id);

-- STK push requests the landlord's app initiated, so the callback (which carries no
-- account reference) can be tied to a lease; and every callback outcome, failed ones too.
CREATE TABLE stk_requests (
    checkout_request_id text PRIMARY KEY,
    landlord_id  text NOT NULL REFERENCES landlords(id),
    lease_id     uuid REFERENCES leases(id),
    amount       bigint,
    result_code  int,
    result_desc  text,
    receipt      text,
    payment_id   uuid REFERENCES payments(id),
    created_at   timestamptz NOT NULL DEFAULT now(),
    completed_at timestamptz
);

CREATE TABLE idempotency_keys (
    landlord_id  text NOT NULL REFERENCES landlords(id),
    key          text NOT NULL,
    request_hash text NOT NULL,
    status       int NOT NULL,
    response     jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (landlord_id, key)
);

-- Written by pmctl on the writer after a promotion; replicated to the other region so a
-- replica-backed API can name the writer region in its 503s.
CREATE TABLE region_topology (
    singleton     boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    writer_region text NOT NULL,
    epoch         bigint NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
