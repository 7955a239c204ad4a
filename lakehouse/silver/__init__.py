"""The silver layer: bronze rows conformed, deduplicated and checked (see ``conf/base/silver.yml``)."""
