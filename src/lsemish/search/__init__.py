"""The search layer: the seed's prompt (prompt.py, prompt_text.py, with feedback.py's section), agents that answer
it (agents.py: a shell command or an OpenAI-compatible endpoint), how a round's survivors are chosen
(strategies.py), the pool that evaluates candidates on every GPU (pool.py), and the loop that runs rounds (loop.py).
It imports from the evaluation and problem layers below it, never the other way."""
