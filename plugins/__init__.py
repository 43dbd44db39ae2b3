"""Built-in plugins of bench, registered through the project's own ``bench`` entry points."""
