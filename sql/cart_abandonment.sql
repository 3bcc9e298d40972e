-- Sessions (by user_session) that put something in the cart and bought nothing, once they close.
-- A session ends where two consecutive events are ${session_gap_text} or more apart. Flink merges
-- session windows that touch, so the window gap is one millisecond shorter than that: events
-- exactly ${session_gap_text} apart then fall into two sessions, as the definition says.
CREATE TEMPORARY VIEW cart_abandonment AS
SELECT 'cart_abandonment'                                                 AS analytic,
       user_session,
       MIN(user_id)                                                       AS user_id,
       MIN(event_ts)                                                      AS session_start,
       MAX(event_ts)                                                      AS session_end,
       COUNT(*) FILTER (WHERE event_type = 'cart')                        AS cart_events,
       COUNT(DISTINCT product_id) FILTER (WHERE event_type = 'cart')      AS carted_products,
       CAST(SUM(CAST(price AS DECIMAL(18, 2))) FILTER (WHERE event_type = 'cart') AS DECIMAL(20, 2))
                                                                          AS cart_value
FROM   TABLE(SESSION(TABLE clicks PARTITION BY user_session, DESCRIPTOR(event_ts), ${session_window_gap}))
WHERE  user_session IS NOT NULL
GROUP  BY user_session, window_start, window_end
HAVING COUNT(*) FILTER (WHERE event_type = 'cart') > 0
   AND COUNT(*) FILTER (WHERE event_type = 'purchase') = 0;
