"""The model-based test's model and state machine (tests/integration/test_model.py)."""
