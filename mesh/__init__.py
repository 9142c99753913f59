"""toolmesh's shared core: the generated toolmesh.v1 API, addresses, descriptors and the CLI."""
