"""Singer target that delivers records as change events to a webhook."""
