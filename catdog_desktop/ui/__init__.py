"""Qt widgets. Thin: each panel shows data and emits what the user asked for; the main window
runs the work (through catdog_desktop.core, in worker threads) and feeds results back."""
