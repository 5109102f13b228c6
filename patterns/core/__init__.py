"""patterns/core package."""
