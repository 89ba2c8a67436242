"""The one place each library's private API is reached: one module per library, naming the
pinned version and the test that fails when an upgrade breaks it. Imports nothing of ours."""
