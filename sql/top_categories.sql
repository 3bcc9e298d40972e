-- The top ${top_n} categories of each tumbling window by views (ties: the smaller category_id first).
CREATE TEMPORARY VIEW category_activity AS
SELECT window_start,
       window_end,
       category_id,
       MAX(category_code)                                              AS category_code,
       COUNT(*) FILTER (WHERE event_type = 'view')                     AS `views`,
       COUNT(*) FILTER (WHERE event_type = 'cart')                     AS carts,
       COUNT(*) FILTER (WHERE event_type = 'purchase')                 AS purchases,
       -- exact cents: summed as DECIMAL, not as binary floating point
       COALESCE(SUM(CAST(price AS DECIMAL(18, 2))) FILTER (WHERE event_type = 'purchase'), 0)
                                                                       AS revenue
FROM   TABLE(TUMBLE(TABLE clicks, DESCRIPTOR(event_ts), ${window}))
GROUP  BY window_start, window_end, category_id;

CREATE TEMPORARY VIEW top_categories AS
SELECT 'top_categories'                         AS analytic,
       window_start,
       window_end,
       `rank`,
       category_id,
       category_code,
       `views`,
       carts,
       purchases,
       CAST(revenue AS DECIMAL(20, 2))          AS revenue
FROM (
    SELECT *,
           ROW_NUMBER() OVER (PARTITION BY window_start, window_end
                              ORDER BY `views` DESC, category_id ASC) AS `rank`
    FROM   category_activity
)
WHERE  `rank` <= ${top_n};
