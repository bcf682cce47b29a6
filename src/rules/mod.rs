//! Rules: the language, the engine, the built-in pack and the cause ranking.
