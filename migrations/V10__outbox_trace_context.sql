-- The W3C trace context (traceparent, tracestate) of the request that wrote an event, so that
-- the relay puts it into the event's NATS headers and a consumer continues the trace. Empty
-- when spans are not exported, and for every row written before this column existed.
ALTER TABLE outbox
    ADD COLUMN traceparent text,
    ADD COLUMN tracestate  text;
