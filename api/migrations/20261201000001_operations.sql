-- API second half: payment kinds (deposits), property use (for Monthly Rental Income tax),
-- expenses, maintenance requests, and the audit log of data-rights actions.
-- Money columns are whole Kenya shillings (bigint), never floats.

-- What a payment pays for. `rent` is allocated to rent invoices and is the base of Monthly
-- Rental Income tax; `deposit` is held (never allocated, never taxed as rent); `other` is
-- other income (service charge, water, parking …), not allocated to rent invoices.
-- Existing rows (and every M-Pesa callback) are rent.
ALTER TABLE payments
    ADD COLUMN kind text NOT NULL DEFAULT 'rent' CHECK (kind IN ('rent', 'deposit', 'other'));
CREATE INDEX payments_landlord_paid_at ON payments (landlord_id, paid_at);

-- Monthly Rental Income tax applies to residential letting only.
ALTER TABLE properties
    ADD COLUMN usage text NOT NULL DEFAULT 'residential'
        CHECK (usage IN ('residential', 'commercial'));

CREATE TABLE expenses (
    id          uuid PRIMARY KEY,
    landlord_id text NOT NULL REFERENCES landlords(id),
    property_id uuid NOT NULL REFERENCES properties(id),
    category    text NOT NULL CHECK (category IN ('maintenance', 'repairs', 'utilities',
                    'security', 'cleaning', 'insurance', 'land_rates', 'management', 'legal',
                    'other')),
    amount      bigint NOT NULL CHECK (amount > 0),
    spent_on    date NOT NULL,
    note        text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    seq         bigserial NOT NULL UNIQUE
);
CREATE INDEX expenses_landlord ON expenses (landlord_id, seq);
CREATE INDEX expenses_landlord_spent_on ON expenses (landlord_id, spent_on);

CREATE TABLE maintenance_requests (
    id          uuid PRIMARY KEY,
    landlord_id text NOT NULL REFERENCES landlords(id),
    unit_id     uuid NOT NULL REFERENCES units(id),
    title       text NOT NULL,
    description text,
    priority    text NOT NULL CHECK (priority IN ('low', 'normal', 'urgent')),
    status      text NOT NULL CHECK (status IN ('open', 'in_progress', 'resolved', 'cancelled')),
    assignee    text,
    -- Set on resolution when it cost money; the same amount is an expense of the property.
    cost        bigint CHECK (cost > 0),
    expense_id  uuid REFERENCES expenses(id),
    resolved_at timestamptz,
    cancelled_at timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    seq         bigserial NOT NULL UNIQUE,
    CONSTRAINT maintenance_cost_only_when_resolved CHECK (cost IS NULL OR status = 'resolved')
);
CREATE INDEX maintenance_landlord ON maintenance_requests (landlord_id, seq);

-- Who did what to whose data, and when. Never personal data: the subject is an id, the
-- fields are column names.
CREATE TABLE audit_log (
    id           uuid PRIMARY KEY,
    landlord_id  text NOT NULL REFERENCES landlords(id),
    -- The authenticated principal (JWT `sub`) who asked.
    actor        text NOT NULL,
    action       text NOT NULL,
    subject_type text NOT NULL,
    subject_id   uuid NOT NULL,
    fields       text[] NOT NULL DEFAULT '{}',
    at           timestamptz NOT NULL DEFAULT now(),
    seq          bigserial NOT NULL UNIQUE
);
CREATE INDEX audit_log_landlord ON audit_log (landlord_id, seq);
