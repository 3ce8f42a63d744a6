"""SQLModel tables and the database session; knows nothing of workflows or the console."""
