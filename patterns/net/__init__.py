"""patterns/net package."""
