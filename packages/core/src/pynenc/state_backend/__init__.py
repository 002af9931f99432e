"""State backends keep invocations, history, results and workflow data durably."""
