"""Python code generated from examples/tools/proto/ by `make proto`. Do not edit."""
