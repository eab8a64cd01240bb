"""The engine: backends (local Hugging Face weights on any device, OpenAI-compatible servers) behind
one small interface, named models, run folders, and the one loop that scores form sets for the
base model and every adapter. Importing it does not import torch."""
