-- The order archive: finished orders, written here (and confirmed) before they leave Redis.
-- One row per (service, order): the processor archives its side (the order state with its
-- proposals, buyer and seller follow-ups and stored replies, its order event log, the Google
-- Chat results of its dispatch), the requestor its side (the buyer's order record and the
-- buyer-facing event log). Documents are `json`, not `jsonb`: kept byte for byte, so a body
-- served from the archive is the one served from Redis.

CREATE TABLE archived_orders (
  service       text        NOT NULL CHECK (service IN ('processor', 'requestor')),
  order_req_id  text        NOT NULL,
  buyer_id      text,
  -- FINALISED, or PAUSED (expired and never resumed)
  status        text        NOT NULL,
  ended_at      timestamptz NOT NULL,
  last_seq      integer     NOT NULL CHECK (last_seq >= 0),
  -- processor: the OrderState document; requestor: the order hash as a JSON object
  record        json        NOT NULL,
  -- processor: {"chatResults": {sellerId: outcome}}; requestor: {}
  extra         json        NOT NULL DEFAULT '{}',
  archived_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (service, order_req_id)
);

CREATE INDEX archived_orders_buyer ON archived_orders (buyer_id, ended_at DESC);
CREATE INDEX archived_orders_ended ON archived_orders (ended_at);

-- Both event logs: seq 1.. without gaps per (service, order), as committed in Redis.
CREATE TABLE archived_order_events (
  service       text        NOT NULL,
  order_req_id  text        NOT NULL,
  seq           integer     NOT NULL CHECK (seq >= 1),
  status        text        NOT NULL,
  occurred_at   timestamptz NOT NULL,
  -- the OrderEventRecord exactly as the Redis stream held it
  event         json        NOT NULL,
  PRIMARY KEY (service, order_req_id, seq),
  FOREIGN KEY (service, order_req_id) REFERENCES archived_orders (service, order_req_id) ON DELETE CASCADE
);

-- The processor's proposals, one row each (also inside archived_orders.record): queryable by seller.
CREATE TABLE archived_proposals (
  order_req_id  text        NOT NULL,
  proposal_id   text        NOT NULL,
  seller_id     text        NOT NULL,
  status        text        NOT NULL,
  price         double precision NOT NULL,
  currency      text,
  version       integer     NOT NULL,
  submitted_at  timestamptz NOT NULL,
  updated_at    timestamptz NOT NULL,
  PRIMARY KEY (order_req_id, proposal_id)
);

CREATE INDEX archived_proposals_seller ON archived_proposals (seller_id, submitted_at DESC);
