"""The UI-free core of nerloop. Nothing under this package imports textual."""
