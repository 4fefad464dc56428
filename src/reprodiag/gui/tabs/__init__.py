"""The three tabs of the main window: Environment, Runs, Compare."""
