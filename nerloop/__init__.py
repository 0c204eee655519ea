"""nerloop: an LLM teaches a small, fast spaCy NER model; a human only says yes or no."""

__version__ = "0.1.0"
