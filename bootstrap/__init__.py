"""All wiring, in one place: settings to pool, the one Redis client, feed, services, lifespan
and the app. server.py builds the app with it; cli.py opens the database with it."""
