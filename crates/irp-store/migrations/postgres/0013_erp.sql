-- The back office (issue 9): the ERP connector and one Odoo document per supplier order.
-- Keep in step with the other backend's 0013_erp.sql.

-- The ERP connector's document (one: key 'odoo').
CREATE TABLE erp_config (
    key         TEXT PRIMARY KEY,
    document    TEXT NOT NULL,           -- canonical ERP document (JSON), references unresolved
    created_at  TIMESTAMPTZ NOT NULL,            -- supplier orders from then on get documents
    updated_at  TIMESTAMPTZ NOT NULL
);

-- The Odoo document of a supplier order: an outbox of its own, claimed with a lease, retried
-- with backoff, never doubled (a retry first searches Odoo for the reference).
CREATE TABLE erp_documents (
    supplier_order_id  BIGINT PRIMARY KEY REFERENCES supplier_orders (id),
    kind               TEXT NOT NULL,    -- purchase_order | sales_order | none
    status             TEXT NOT NULL,    -- pending | working | done | failed | skipped
    reference          TEXT NOT NULL,    -- IRP-SO-<id>: the PO's partner_ref, the SO's client_order_ref
    odoo_model         TEXT,
    odoo_id            BIGINT,
    odoo_name          TEXT,             -- P00012 / S00034
    attempts           BIGINT NOT NULL DEFAULT 0,
    retry_from         BIGINT NOT NULL DEFAULT 0,
    next_at            TIMESTAMPTZ,
    last_error         TEXT,
    lease_owner        TEXT,
    lease_until        TIMESTAMPTZ,
    created_at         TIMESTAMPTZ NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL,
    done_at            TIMESTAMPTZ
);
CREATE INDEX erp_documents_due ON erp_documents (next_at) WHERE status = 'pending';
CREATE INDEX erp_documents_working ON erp_documents (lease_until) WHERE status = 'working';
