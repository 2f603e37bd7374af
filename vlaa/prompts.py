"""The system prompts of training and evaluation (the paper, "System prompt")."""

SYSTEM_PROMPT = (
    "You are a helpful reasoning assistant. Given an image and a question, first think about "
    "the reasoning process, then give the answer. Put the reasoning inside <think> </think> "
    "tags and the final answer inside <answer> </answer> tags."
)

# The released VLAA-Thinker checkpoints' system prompt, verbatim (emoji and grammar included):
# UCSC-VLAA/VLAA-Thinking, inference.py, get_response(); its README asks that inference
# include it ("our model is trained with a system prompt").
VLAA_THINKER_SYSTEM_PROMPT = (
    "You are VL-Thinking\U0001f914, a helpful assistant with excellent reasoning ability. "
    "A user asks you a question, and you should try to solve it. You should first think about "
    "the reasoning process in the mind and then provides the user with the answer. The "
    "reasoning process and answer are enclosed within <think> </think> and <answer> </answer> "
    "tags, respectively, i.e., <think> reasoning process here </think> <answer> answer here "
    "</answer>"
)

# Names an evaluation config may give instead of a system prompt's text.
NAMED_SYSTEM_PROMPTS: dict[str, str] = {
    "project": SYSTEM_PROMPT,
    "vlaa-thinker": VLAA_THINKER_SYSTEM_PROMPT,
}


def system_prompt_text(choice: str) -> str:
    """The text of a named system prompt (``project``, ``vlaa-thinker``); any other is itself."""
    return NAMED_SYSTEM_PROMPTS.get(choice, choice)


# Appended to questions by answer type, as the paper does for SFT (task-specific instructions).
TASK_INSTRUCTIONS = {
    "mcq": "Answer with the option's letter.",
    "digit": "Answer with a single number.",
    "math": "Answer with the final expression or value.",
    "iou": "Answer with the box as [x1, y1, x2, y2] in normalised coordinates.",
    "open": "Answer briefly.",
}


def user_text(question: str, reward_type: str) -> str:
    """The user turn's text: the question plus the instruction for its answer type."""
    instruction = TASK_INSTRUCTIONS.get(reward_type)
    return f"{question} {instruction}" if instruction else question
