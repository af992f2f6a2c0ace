"""HTTP APIs: the registry's own JSON API (`v1`) and the Hugging Face Hub's (`hf`)."""
