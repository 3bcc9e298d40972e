-- Athena: sessions with a view, a cart, a purchase per category and over all ('all'), as sql/batch/funnel.sql.
WITH steps AS (
    SELECT CAST(category_id AS varchar) AS category, event_type, user_session
    FROM   "${database}"."events" WHERE user_session IS NOT NULL
    UNION ALL
    SELECT 'all', event_type, user_session
    FROM   "${database}"."events" WHERE user_session IS NOT NULL
),
counts AS (
    SELECT category,
           count(DISTINCT user_session) FILTER (WHERE event_type = 'view')     AS view_sessions,
           count(DISTINCT user_session) FILTER (WHERE event_type = 'cart')     AS cart_sessions,
           count(DISTINCT user_session) FILTER (WHERE event_type = 'purchase') AS purchase_sessions
    FROM   steps
    GROUP  BY category
)
SELECT category, view_sessions, cart_sessions, purchase_sessions,
       round(CAST(cart_sessions AS decimal(20, 0)) / nullif(view_sessions, 0), 4)     AS view_to_cart,
       round(CAST(purchase_sessions AS decimal(20, 0)) / nullif(cart_sessions, 0), 4) AS cart_to_purchase
FROM   counts
ORDER  BY view_sessions DESC, category;
