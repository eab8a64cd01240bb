"""Where answer log-probabilities come from: local Hugging Face weights (with PEFT adapters) or
OpenAI-compatible servers. Both return one ``Distribution`` per prompt over the given options."""
