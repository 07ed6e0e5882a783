"""Deployment stages by id: read, rename, delete, reorder (Qovery's Deployment Stage Main Calls)."""
