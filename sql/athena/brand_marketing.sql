-- Athena: brands with at least ${min_views} views, flagged below ${factor} x the overall view-to-purchase
-- ratio, as sql/batch/brand_marketing.sql.
WITH brands AS (
    SELECT brand,
           count_if(event_type = 'view')                                               AS views,
           count_if(event_type = 'cart')                                               AS carts,
           count_if(event_type = 'purchase')                                           AS purchases,
           coalesce(sum(CAST(price AS decimal(18, 2))) FILTER (WHERE event_type = 'purchase'), 0) AS revenue
    FROM   "${database}"."events"
    WHERE  brand IS NOT NULL AND trim(brand) <> ''
    GROUP  BY brand
),
overall AS (
    SELECT sum(views) AS all_views, sum(purchases) AS all_purchases FROM brands
)
SELECT brand, views, carts, purchases, revenue,
       round(CAST(carts AS decimal(20, 0)) / views, 4)                                  AS view_to_cart,
       round(CAST(purchases AS decimal(20, 0)) / views, 4)                              AS view_to_purchase,
       CAST(purchases AS decimal(38, 6)) * all_views
           < CAST(${factor} AS decimal(38, 6)) * all_purchases * views                  AS needs_marketing
FROM   brands CROSS JOIN overall
WHERE  views >= ${min_views}
ORDER  BY views DESC, brand;
