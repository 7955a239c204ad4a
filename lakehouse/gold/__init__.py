"""Gold business tables built from silver: daily sales by product and category, customer value."""
