"""Demo content: a generated chest-abdomen CT and a curated list of real sample files."""
