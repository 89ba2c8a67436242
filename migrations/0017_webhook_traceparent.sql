-- The W3C traceparent of the mutation that committed a webhook delivery's event, when tracing
-- was on where it was fanned out: the delivery span (feed/webhook_delivery.py) links to it,
-- on whichever instance claims the delivery, however much later. NULL otherwise.

ALTER TABLE webhook_deliveries ADD COLUMN traceparent text;
