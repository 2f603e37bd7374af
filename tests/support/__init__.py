"""Test support that is not a double: real Prometheus / Pushgateway servers from Debian
packages (``prometheus_servers``) and the manifest tools and scanners (``manifest_tools``).
"""
