"""What a session cost: the one price table, in US dollars per million tokens.

Models are matched by the longest name prefix; an unknown model is priced as
Sonnet (the default model family), so a cost is always an estimate, never missing.
Cache writes cost 1.25x and cache reads 0.1x the input price, as the API bills them.
"""

from __future__ import annotations

# (input, output) per million tokens
PRICES: dict[str, tuple[float, float]] = {
    "claude-opus-4-5": (5.0, 25.0),
    "claude-opus-4-6": (5.0, 25.0),
    "claude-opus-4": (15.0, 75.0),          # 4.0 and 4.1
    "claude-sonnet-4": (3.0, 15.0),         # 4.x
    "claude-3-7-sonnet": (3.0, 15.0),
    "claude-haiku-4": (1.0, 5.0),
    "claude-3-5-haiku": (0.8, 4.0),
    "claude-3-haiku": (0.25, 1.25),
}
DEFAULT = "claude-sonnet-4"
CACHE_WRITE, CACHE_READ = 1.25, 0.1


def prices(model: str) -> tuple[float, float]:
    matches = [name for name in PRICES if model.startswith(name)]
    return PRICES[max(matches, key=len)] if matches else PRICES[DEFAULT]


def cost_usd(model: str, input_tokens: int, output_tokens: int,
             cache_write_tokens: int = 0, cache_read_tokens: int = 0) -> float:
    per_in, per_out = prices(model)
    total = (input_tokens + CACHE_WRITE * cache_write_tokens + CACHE_READ * cache_read_tokens) * per_in \
        + output_tokens * per_out
    return round(total / 1_000_000, 6)
