"""Tests of the `toolmesh` command line."""
