"""The transparent data path: agent streams relayed to tool endpoints, frame by frame."""
