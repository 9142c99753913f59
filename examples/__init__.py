"""Example tools for toolmesh: ordinary gRPC servers the demo, the tests and the benchmarks use."""
