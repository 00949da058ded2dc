"""The command line: parses, calls the engine or the core, renders. Only output.py knows rich."""
