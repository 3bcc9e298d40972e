-- Brands that need marketing: every non-empty brand with at least ${min_views} views, its funnel
-- counts and conversion ratios (4 decimals, half up), flagged when its view-to-purchase ratio is
-- below ${factor} x the same ratio over all events with a brand. The flag compares the exact ratios
-- (cross-multiplied in decimal), not the rounded ones shown: a ratio equal to the threshold is not
-- flagged. Athena runs this file as it is; `clickflow insights` runs it on DuckDB (jobs/insights.py).
WITH brands AS (
    SELECT brand,
           count_if(event_type = 'view')                                          AS views,
           count_if(event_type = 'cart')                                          AS carts,
           count_if(event_type = 'purchase')                                      AS purchases,
           coalesce(sum(CAST(price AS decimal(18, 2))) FILTER (WHERE event_type = 'purchase'), 0)
                                                                                  AS revenue
    FROM   "${database}"."events"
    WHERE  brand IS NOT NULL AND trim(brand) <> ''
    GROUP  BY brand
),
overall AS (
    SELECT sum(views) AS all_views, sum(purchases) AS all_purchases FROM brands
)
SELECT 'brand_marketing'                                                          AS insight,
       brand,
       views,
       carts,
       purchases,
       CAST(revenue AS decimal(20, 2))                                            AS revenue,
       CAST(round(CAST(carts AS decimal(38, 18)) / views, 4) AS decimal(10, 4))     AS view_to_cart,
       CAST(round(CAST(purchases AS decimal(38, 18)) / views, 4) AS decimal(10, 4)) AS view_to_purchase,
       CAST(round(CAST(${factor} AS decimal(38, 18)) * all_purchases / all_views, 4) AS decimal(10, 4))
                                                                                  AS threshold,
       -- purchases / views < factor * all_purchases / all_views, without dividing
       CAST(purchases AS decimal(38, 6)) * all_views
           < CAST(${factor} AS decimal(38, 6)) * all_purchases * views            AS needs_marketing
FROM   brands CROSS JOIN overall
WHERE  views >= ${min_views}
ORDER  BY views DESC, brand;
