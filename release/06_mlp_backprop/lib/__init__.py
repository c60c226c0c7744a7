"""Reference implementation for the ML II course companion."""
