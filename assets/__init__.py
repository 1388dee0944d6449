"""The Dagster assets, checks and sensor of the QuantConnect warehouse, one module per table
group (`projects`, `backtests`, `orders`), the analysis views, and the sensor."""
