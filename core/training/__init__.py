"""Training the ner from answers: data (answers -> spaCy Examples), the shipped config, the
progress logger, and the runner that trains in a separate process."""
