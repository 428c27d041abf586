"""Model-side code for SD1.x (no engine imports): checkpoints, tokenizer, sampling."""
