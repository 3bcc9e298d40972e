-- The purchase funnel per category (and over all categories, the row 'all'): distinct sessions
-- (user_session) with a view, with a cart, with a purchase, and the two step rates (4 decimals,
-- half up; null when the earlier step has no session). A session may buy without a cart event: it
-- counts as a purchase session all the same, so cart_to_purchase can exceed 1.
-- Athena runs this file as it is; `clickflow insights` runs it on DuckDB (jobs/insights.py).
WITH steps AS (
    SELECT CAST(category_id AS varchar) AS category, event_type, user_session
    FROM   "${database}"."events"
    WHERE  user_session IS NOT NULL
    UNION ALL
    SELECT 'all', event_type, user_session
    FROM   "${database}"."events"
    WHERE  user_session IS NOT NULL
),
counts AS (
    SELECT category,
           count(DISTINCT user_session) FILTER (WHERE event_type = 'view')     AS view_sessions,
           count(DISTINCT user_session) FILTER (WHERE event_type = 'cart')     AS cart_sessions,
           count(DISTINCT user_session) FILTER (WHERE event_type = 'purchase') AS purchase_sessions
    FROM   steps
    GROUP  BY category
)
SELECT 'funnel'                                                                            AS insight,
       category,
       view_sessions,
       cart_sessions,
       purchase_sessions,
       CAST(round(CAST(cart_sessions AS decimal(38, 18)) / nullif(view_sessions, 0), 4) AS decimal(10, 4))
                                                                                           AS view_to_cart,
       CAST(round(CAST(purchase_sessions AS decimal(38, 18)) / nullif(cart_sessions, 0), 4) AS decimal(10, 4))
                                                                                           AS cart_to_purchase
FROM   counts
ORDER  BY view_sessions DESC, category;
