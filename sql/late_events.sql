-- Events the windowed analytics drop because the window they belong to had already closed when
-- they arrived: its end minus 1 ms is at or before the watermark (Flink's own rule). Each such
-- event is listed once per analytic that drops it, so nothing leaves a result silently.
-- Exact at parallelism 1 (this view and the windows see the same watermark); with more, the
-- windows may see a lower watermark than this view, so this view may list more than they drop.
-- (This file is a template: `$${...}` placeholders are filled from config.)
CREATE TEMPORARY VIEW clicks_behind AS
SELECT event_ts, event_type, product_id, category_id, category_code, brand, price, user_id, user_session,
       watermark_ts,
       EXTRACT(EPOCH FROM event_ts) * 1000 + EXTRACT(MILLISECOND FROM event_ts)              AS event_ms,
       EXTRACT(EPOCH FROM watermark_ts) * 1000 + EXTRACT(MILLISECOND FROM watermark_ts)      AS watermark_ms
FROM (
    SELECT *, CURRENT_WATERMARK(event_ts) AS watermark_ts
    FROM   clicks
)
-- an event after the watermark is on time for every window that contains it
WHERE  watermark_ts IS NOT NULL AND event_ts <= watermark_ts;

-- A tumbling window of W ms that holds the event has closed when the window index of the event,
-- event_ms / W, is below that of watermark + 1 ms (times are after 1970: integer division floors).
CREATE TEMPORARY VIEW late_events AS
SELECT 'unique_visitors' AS analytic, event_ts, event_type, product_id, category_id,
       user_id, user_session, watermark_ts
FROM   clicks_behind
WHERE  event_ms / ${unique_visitors_ms} < (watermark_ms + 1) / ${unique_visitors_ms}
UNION ALL
SELECT 'active_page_views', event_ts, event_type, product_id, category_id, user_id, user_session,
       watermark_ts
FROM   clicks_behind
WHERE  event_type = 'view'
  AND  event_ms / ${active_page_views_ms} < (watermark_ms + 1) / ${active_page_views_ms}
UNION ALL
SELECT 'top_categories', event_ts, event_type, product_id, category_id, user_id, user_session,
       watermark_ts
FROM   clicks_behind
WHERE  event_ms / ${top_categories_ms} < (watermark_ms + 1) / ${top_categories_ms}
UNION ALL
-- a session window of one event spans [event, event + gap - 1 ms) (see cart_abandonment.sql): it has
-- closed when its last millisecond, event + gap - 2 ms, is at or before the watermark
SELECT 'cart_abandonment', event_ts, event_type, product_id, category_id, user_id, user_session,
       watermark_ts
FROM   clicks_behind
WHERE  user_session IS NOT NULL
  AND  event_ms + ${session_gap_ms} - 2 <= watermark_ms
UNION ALL
SELECT 'anomalies', event_ts, event_type, product_id, category_id, user_id, user_session,
       watermark_ts
FROM   clicks_behind
WHERE  event_ms / ${bot_window_ms} < (watermark_ms + 1) / ${bot_window_ms}
   OR  event_ms / ${spike_window_ms} < (watermark_ms + 1) / ${spike_window_ms}
   OR  event_ms / ${rcf_window_ms} < (watermark_ms + 1) / ${rcf_window_ms};
