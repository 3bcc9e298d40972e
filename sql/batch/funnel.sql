-- The purchase funnel per category (and over all categories, the row 'all'): distinct sessions
-- (user_session) with a view, with a cart, with a purchase, and the two step rates (4 decimals;
-- null when the earlier step has no session). A session may buy without a cart event: it counts
-- as a purchase session all the same, so cart_to_purchase can exceed 1.
CREATE TEMPORARY VIEW funnel_events AS
SELECT CAST(category_id AS STRING) AS category, event_type, user_session FROM clicks WHERE user_session IS NOT NULL
UNION ALL
SELECT 'all', event_type, user_session FROM clicks WHERE user_session IS NOT NULL;

CREATE TEMPORARY VIEW funnel_counts AS
SELECT category,
       COUNT(DISTINCT user_session) FILTER (WHERE event_type = 'view')     AS view_sessions,
       COUNT(DISTINCT user_session) FILTER (WHERE event_type = 'cart')     AS cart_sessions,
       COUNT(DISTINCT user_session) FILTER (WHERE event_type = 'purchase') AS purchase_sessions
FROM   funnel_events
GROUP  BY category;

CREATE TEMPORARY VIEW funnel AS
SELECT 'funnel'                                                                              AS insight,
       category,
       view_sessions,
       cart_sessions,
       purchase_sessions,
       CAST(ROUND(CAST(cart_sessions AS DECIMAL(20, 0)) / NULLIF(view_sessions, 0), 4) AS DECIMAL(10, 4))
                                                                                             AS view_to_cart,
       CAST(ROUND(CAST(purchase_sessions AS DECIMAL(20, 0)) / NULLIF(cart_sessions, 0), 4) AS DECIMAL(10, 4))
                                                                                             AS cart_to_purchase
FROM   funnel_counts;
