"""The registry: tools, schemas, instances and policies, persisted and watched."""
