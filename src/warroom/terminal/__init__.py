"""The terminal layer every command group shares: options, Rich output, errors, exit codes."""
