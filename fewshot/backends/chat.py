"""Chat completions (`/v1/chat/completions`) for chat-only models, e.g. the Hugging Face router.

The few-shot prompt becomes turns: the task is the system message, each example a user turn
(its input) and an assistant turn (its output), the query the last user turn.
"""

from __future__ import annotations

from typing import Any

from ..errors import PromptError
from ..settings import GenerationSettings
from .base import PromptLike
from .openai import OpenAIBackend


def chat_messages(prompt: PromptLike) -> list[dict[str, str]]:
    """The turns for a structured prompt; raw text has none to give."""
    if isinstance(prompt, str):
        raise PromptError("A chat endpoint takes the task, examples and query as separate turns: turn raw mode off.")
    return prompt.messages()


class ChatBackend(OpenAIBackend):
    name = "chat"
    path = "/v1/chat/completions"

    def request(self, prompt: PromptLike, settings: GenerationSettings, seed: int) -> tuple[str, dict[str, Any]]:
        return self.path, {**self.common_body(settings, seed), "messages": chat_messages(prompt)}

    def text_of(self, choice: dict[str, Any]) -> str:
        return (choice.get("delta") or {}).get("content") or ""
