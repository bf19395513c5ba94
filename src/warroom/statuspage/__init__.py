"""The public status page: components, public incidents, the published snapshot."""
